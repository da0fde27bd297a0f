"""Long-running operations over the shared AKS rules: what makes the emulator asynchronous.

``AgentPoolStore`` (reconciler.providers.local.store) decides what AKS accepts; this layer adds what
happens over time: a pool shows Creating/Updating/Deleting until its operation ends, a
second write meanwhile gets 409, and an operation may end Failed.

``config.cluster_busy`` chooses what a write to one pool meets while another pool's
operation runs (AKS's own behaviour has been both):

- ``"off"``: nothing; only the pool's own operation refuses a second write to it;
- ``"refuse"``: one agentpool operation at a time per cluster; any other write gets 409
  OperationNotAllowed "Another agentpool operation (<pool> - <State>) is in progress"
  (cilium/cilium#25944);
- ``"cancel"``: the write is accepted and every other operation in flight ends at once,
  status Canceled, "The operation was overriden and canceled by a later operation <id>."
  (sic; Azure/AKS#1913): a create so canceled leaves its pool Failed.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.emulator.config import EmulatorConfig
from reconciler.providers.local.store import AgentPoolStore, AksApiError

# The error an accepted operation is to end Failed with, asked when it starts (or None).
Failure = Callable[[], dict[str, Any] | None]


@dataclass
class Operation:
    """One PUT or DELETE in flight; ``error`` is AKS's error when it is to end Failed."""

    id: str
    pool: str
    state: str  # Creating | Updating | Deleting
    started: float
    done_at: float
    error: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None  # the pool before a DELETE, restored on failure
    finished: bool = False
    canceled: bool = False  # by a later operation (cluster_busy "cancel")

    @property
    def status(self) -> str:
        """The async-operation status: InProgress, Succeeded, Failed or Canceled."""
        if not self.finished:
            return "InProgress"
        if self.canceled:
            return "Canceled"
        return "Failed" if self.error else "Succeeded"


class EmulatedCluster:
    """One managed cluster's agent pools, with operations that take time."""

    def __init__(self, config: EmulatorConfig, pools: dict[str, dict] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.store = self._new_store(pools)
        self.operations: dict[str, Operation] = {}
        self._failed: set[str] = set()
        self._clock = clock
        self.lock = threading.RLock()

    def _new_store(self, pools: dict[str, dict] | None) -> AgentPoolStore:
        c = self.config
        return AgentPoolStore(pools, location=c.location, kubernetes_version=c.kubernetes_version,
                              subscription_id=c.subscription_id, resource_group=c.resource_group,
                              cluster_name=c.cluster_name)

    def reset(self, pools: dict[str, dict] | None = None) -> None:
        """Replace every pool and forget every operation."""
        with self.lock:
            self.store = self._new_store(pools)
            self.operations.clear()
            self._failed.clear()

    # -- reads -------------------------------------------------------------------------

    def list_pools(self) -> list[dict]:
        """Every pool as ARM shows it now, including pools being deleted."""
        with self.lock:
            self.settle()
            names = {p["name"] for p in self.store.list()}
            ghosts = [op.previous for op in self._in_flight() if op.previous
                      and op.pool not in names]
            pools = [self._view(p) for p in [*self.store.list(), *ghosts]]
            return sorted(pools, key=lambda p: p["name"])

    def get_pool(self, name: str) -> dict | None:
        """One pool as ARM shows it now, or None."""
        return next((p for p in self.list_pools() if p["name"] == name), None)

    def operation(self, op_id: str) -> Operation | None:
        """An operation by id, settled against the clock."""
        with self.lock:
            self.settle()
            return self.operations.get(op_id)

    # -- writes ------------------------------------------------------------------------

    def put_pool(self, name: str, body: dict, *, if_match: str | None = None,
                 if_none_match: str | None = None,
                 fail_with: Failure | None = None) -> tuple[dict, bool, Operation]:
        """Create or update; returns (pool as answered, created, its operation).

        ``fail_with``, asked once the write is accepted, gives the error the operation is
        to end Failed with (None: it succeeds)."""
        with self.lock:
            self.settle()
            self._refuse_if_busy(name)
            _stored, created = self.store.put(name, body, if_match=if_match,
                                              if_none_match=if_none_match)
            self._failed.discard(name)
            op = self._start(name, "Creating" if created else "Updating", fail_with)
            self._cancel_others(op)
            stored = self.store.get(name)
            assert stored is not None  # just put
            return self._view(stored), created, op

    def delete_pool(self, name: str, *, if_match: str | None = None,
                    fail_with: Failure | None = None) -> Operation | None:
        """Start deleting; None when the pool does not exist."""
        with self.lock:
            self.settle()
            self._refuse_if_busy(name)
            previous = copy.deepcopy(self.store.get(name))
            if not self.store.delete(name, if_match=if_match):
                return None
            self._failed.discard(name)
            op = self._start(name, "Deleting", fail_with, previous=previous)
            self._cancel_others(op)
            return op

    # -- time --------------------------------------------------------------------------

    def settle(self) -> None:
        """Finish every operation whose time has come."""
        now = self._clock()
        for op in self._in_flight():
            if now >= op.done_at:
                self._finish(op)

    def _finish(self, op: Operation) -> None:
        op.finished = True
        if not op.error:
            return
        if op.previous is not None:  # a failed delete leaves the pool in place
            self.reset_pools({**self.store.snapshot(), op.pool: op.previous})
        self._failed.add(op.pool)

    def reset_pools(self, pools: dict[str, dict]) -> None:
        """Replace the pools, keeping operations (used to restore a pool verbatim)."""
        self.store = self._new_store(pools)

    def _start(self, name: str, state: str, fail_with: Failure | None,
               previous: dict | None = None) -> Operation:
        now = self._clock()
        op = Operation(id=str(uuid.uuid4()), pool=name, state=state, started=now,
                       done_at=now + self.config.lro_seconds,
                       error=fail_with() if fail_with else None, previous=previous)
        self.operations[op.id] = op
        return op

    def _in_flight(self) -> list[Operation]:
        return [op for op in self.operations.values() if not op.finished]

    def _refuse_if_busy(self, name: str) -> None:
        running = self._in_flight()
        busy = next((op for op in running if op.pool == name), None)
        if busy is None and self.config.cluster_busy == "refuse":
            busy = next(iter(running), None)
        if busy:
            raise AksApiError(409, "OperationNotAllowed",
                              f"Operation is not allowed: Another agentpool operation "
                              f"({busy.pool} - {busy.state}) is in progress, please wait for "
                              "it to finish before starting a new operation. See "
                              "https://aka.ms/aks-pending-operation for more details")

    def _cancel_others(self, later: Operation) -> None:
        """cluster_busy "cancel": the later operation wins, every other one ends now."""
        if self.config.cluster_busy != "cancel":
            return
        for op in self._in_flight():
            if op is not later:
                op.error = {"code": "Canceled", "message": "The operation was overriden and "
                            f"canceled by a later operation {later.id}."}
                op.canceled = True
                op.done_at = self._clock()
                self._finish(op)

    def _view(self, pool: dict) -> dict:
        """The pool with the provisioningState its operation (or failure) implies."""
        shown = copy.deepcopy(pool)
        op = next((o for o in self._in_flight() if o.pool == pool["name"]), None)
        state = op.state if op else ("Failed" if pool["name"] in self._failed else None)
        if state:
            shown.setdefault("properties", {})["provisioningState"] = state
        return shown

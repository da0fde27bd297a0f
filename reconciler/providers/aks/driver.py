"""The ``aks`` driver: agent pools through azure-mgmt-containerservice (api 2026-08-01).

One paged list per ``list``; updates PUT the pool as listed with only the planned fields
changed, guarded by If-Match; creates by If-None-Match: *. Mapping and AKS rules live in
``mapping`` and ``rules``; HTTP failures are mapped in ``errors``.

Busy answers (409 "another operation is in progress", an operation preempted by a later
one) are raised as ``BusyError`` at once: the executor waits and sends the action again.

Re-reads (one GET of the pool, never a list) happen only when the listing may be stale:
- ``update`` when this driver finished a write after the pool was listed and the listing
  is at least ``refreshAfterSeconds`` old (a long create phase ran first). The pool as
  read then must differ from the listing only in what AKS changes by itself (the
  autoscaler's count, states, eTag); the PUT then starts from it, with its eTag. Any
  other difference is someone's change: "changed since the plan", nothing is written.
- the next try of an action whose operation AKS preempted (our own write changed the pool
  and its eTag): the pool must be as listed or as we sent it, and is sent again over it,
  so a preempted create never stays ``Failed``.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.core.polling import LROPoller

from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import (
    BusyError,
    ClusterNotFoundError,
    ProviderError,
    ProviderValidationError,
    StaleError,
)
from reconciler.model import Capabilities, Cluster, NodePool, PoolStatus
from reconciler.providers.aks.capabilities import aks_capabilities
from reconciler.providers.aks.client import AksSettings, make_client, parse_settings
from reconciler.providers.aks.errors import map_error, scrub_credentials
from reconciler.providers.aks.mapping import (
    arm_for_create,
    arm_for_update,
    pool_from_arm,
    provider_name,
    same_for_plan,
)


class AksDriver(Driver):
    """Agent pools of one AKS cluster (``provider: aks``)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.settings: AksSettings = parse_settings(dict(cluster.settings))
        self._client: Any = None  # built on first use: validation needs no credentials
        self._listed: dict[str, dict] | None = None  # raw ARM pools, as last read
        self._planned: dict[str, dict] = {}  # raw ARM pools as first listed (the plan's)
        self._read_at: dict[str, float] = {}  # when each listed pool was read (monotonic)
        self._stale: set[str] = set()  # pools our failed or preempted writes may have changed
        self._preempted: dict[str, dict] = {}  # pool -> the body AKS preempted; sent again
        self._wrote_at = float("-inf")  # when a write of ours last ended
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        """AKS rules, with zones written for the cluster's location."""
        return aks_capabilities(self.settings.location)

    @property
    def client(self) -> Any:
        """The ContainerServiceClient (created lazily)."""
        with self._lock:  # parallel applies share one client (and one connection pool)
            if self._client is None:
                self._client = make_client(self.settings)
            return self._client

    # -- the four operations -------------------------------------------------------------

    def list(self, name: str | None = None) -> list[NodePool]:
        """One paged list call (nextLink followed); a missing cluster is an error."""
        raw_pools = self._call(self._list_raw, action="list agent pools", pool="")
        now = time.monotonic()
        with self._lock:
            self._listed = {raw["name"]: raw for raw in raw_pools}
            for pool_name, raw in self._listed.items():  # the first reading: the plan's
                self._planned.setdefault(pool_name, raw)
            self._read_at = dict.fromkeys(self._listed, now)
            self._stale.clear()
        return [pool_from_arm(raw, self.settings.location) for raw in raw_pools
                if name is None or raw["name"] == name]

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """PUT with If-None-Match: * (412: the pool appeared since the plan)."""
        name = provider_name(pool)  # a replacement's new pool has its own
        if not name:
            raise ProviderValidationError("a node pool needs a name")
        body = arm_for_create(pool)
        etag = None
        if name in self._preempted:  # our create exists, Failed: send it again over it
            fresh = self._reread(name)
            etag = (fresh.get("properties") or {}).get("eTag") if fresh else None
        try:
            raw = self._put(name, body, etag=etag, create=etag is None,
                            progress=progress, state="Creating")
        except StaleError as stale:
            # What our create would have made: these labels exactly, and our marker.
            done = replace(pool, managed=True, labels=pool.labels or {})
            raw = self._already_done(done, stale)
        return pool_from_arm(raw, self.settings.location)

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """PUT the listed pool with the set fields of ``pool``; no call if nothing changes.

        Re-reads the pool first (one GET) when the listing may be stale: see the module.
        """
        name = provider_name(pool)
        if not name:
            raise ProviderValidationError("a node pool needs a name")
        if name in self._preempted or self._listing_is_old(name):
            listed, etag = self._fresh_for_write(name)
            if name in self._preempted:  # ours ended half-way: send it even if equal
                pool = replace(pool, status=PoolStatus(provisioning_state="Succeeded"))
        else:
            listed = self._cached(name)
            etag = pool.etag or ((listed or {}).get("properties") or {}).get("eTag")
        if listed is None:
            raise StaleError(f"pool '{name}' no longer exists; run plan again")
        body = arm_for_update(listed, pool)
        if body is None:
            return pool_from_arm(listed, self.settings.location)
        try:
            raw = self._put(name, body, etag=etag, create=False, progress=progress,
                            state="Updating")
        except StaleError as stale:
            raw = self._already_done(pool, stale)
        return pool_from_arm(raw, self.settings.location)

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """DELETE (If-Match when ``etag`` is given); a missing pool is success."""
        if name in self._preempted:  # AKS kept the pool after preempting our delete
            fresh, etag = self._fresh_for_write(name)
            if fresh is None:
                self._preempted.pop(name, None)
                return
        condition = MatchConditions.IfNotModified if etag else None

        def begin() -> LROPoller:
            return self.client.agent_pools.begin_delete(
                self.settings.resource_group, self.settings.cluster_name, name,
                etag=etag, match_condition=condition)

        self._write(begin, name, {}, "Deleting", progress)
        self._forget(name)

    # -- helpers -------------------------------------------------------------------------

    def _put(self, name: str, body: dict, *, etag: str | None, create: bool,
             progress: ProgressCallback | None, state: str) -> dict:
        """PUT and poll to the end; returns the raw pool AKS reports afterwards.

        ``create``: If-None-Match: *; else If-Match ``etag`` (none for a pool that
        reports no eTag).
        """
        match: dict[str, Any] = {}
        if create:
            match = {"match_condition": MatchConditions.IfMissing}
        elif etag:
            match = {"etag": etag, "match_condition": MatchConditions.IfNotModified}

        def begin() -> LROPoller:
            return self.client.agent_pools.begin_create_or_update(
                self.settings.resource_group, self.settings.cluster_name, name, body, **match)

        raw = self._write(begin, name, body, state, progress)
        with self._lock:
            if self._listed is not None and raw:
                self._listed[name] = raw
                self._read_at[name] = time.monotonic()
                self._stale.discard(name)
        return raw

    def _write(self, begin: Callable[[], LROPoller], name: str, body: dict, state: str,
               progress: ProgressCallback | None) -> dict:
        """Send one write and poll it to the end, keeping the bookkeeping the re-reads need.

        Refused at once (409 busy, 412, 400): nothing changed. Accepted, then failed or
        preempted: the pool changed (its cached copy is forgotten; a preempted write is
        remembered, to be sent again).
        """
        accepted = False
        action = {"Creating": "create", "Updating": "update"}.get(state, "delete")

        def run() -> dict:
            nonlocal accepted
            poller = begin()
            accepted = True
            return self._finish(poller, state, progress)

        def run_delete() -> dict:
            # Already gone (or its cluster is): the contract counts that as success.
            with contextlib.suppress(ResourceNotFoundError):
                return run()
            return {}

        try:
            raw = self._call(run_delete if state == "Deleting" else run, action=action,
                             pool=name)
        except BusyError:
            if accepted:
                self._preempted[name] = body
                self._forget(name)
            raise
        except Exception:
            self._forget(name)  # whatever AKS holds now, the cached copy is no longer it
            raise
        finally:
            if accepted:
                self._wrote_at = time.monotonic()
        self._preempted.pop(name, None)
        return raw

    def _finish(self, poller: LROPoller, state: str, progress: ProgressCallback | None) -> dict:
        """Poll the operation to the end, reporting status; the raw pool afterwards."""
        last = None
        while not poller.done():
            status = poller.status()
            if progress and status != last:
                progress(f"{state} ({status})")
                last = status
            poller.wait(timeout=min(max(self.settings.polling_interval, 0.05), 1.0))
        result = poller.result()
        if progress:
            progress("Succeeded")
        return result.as_dict() if result is not None else {}

    def _listing_is_old(self, name: str) -> bool:
        """A write of ours ended after ``name`` was read, and the read is old enough."""
        with self._lock:
            read = self._read_at.get(name, float("-inf"))
        return self._wrote_at > read and time.monotonic() - read >= self.settings.refresh_after

    def _fresh_for_write(self, name: str) -> tuple[dict | None, str | None]:
        """The pool read again (None: gone) and its eTag, if since the listing the plan saw
        only AKS changed it, or our own preempted write; else StaleError (someone's change)."""
        fresh = self._reread(name)
        if fresh is None:
            return None, None
        location = self.settings.location
        planned = self._planned.get(name)
        sent = self._preempted.get(name) or None
        if not (planned is not None and same_for_plan(planned, fresh, location)
                or sent is not None and same_for_plan({"name": name, **sent}, fresh, location)):
            raise StaleError(f"pool '{name}' changed since the plan; run plan again")
        return fresh, (fresh.get("properties") or {}).get("eTag")

    def _reread(self, name: str) -> dict | None:
        """One GET of the pool (None when it is gone); the cache keeps the answer."""
        def get() -> dict | None:
            try:
                found = self.client.agent_pools.get(self.settings.resource_group,
                                                    self.settings.cluster_name, name)
            except ResourceNotFoundError:
                return None
            return found.as_dict() if found is not None else None

        fresh = self._call(get, action="read", pool=name)
        with self._lock:
            if self._listed is not None and fresh is not None:
                self._listed[name] = fresh
                self._read_at[name] = time.monotonic()
            self._stale.discard(name)
        return fresh

    def _already_done(self, pool: NodePool, stale: StaleError) -> dict:
        """After a 412: the live pool, when it already is what we asked for; else re-raise.

        The SDK retries a PUT whose answer was lost (a dropped connection, a 5xx from a
        proxy); if AKS had done it, the retry meets its own precondition. One list tells
        a write that landed from a real concurrent change, which is still refused. A write
        that landed counts as done only once AKS reports it ``Succeeded``.
        """
        self.list()
        listed = self._cached(provider_name(pool))
        if listed is None or arm_for_update(listed, pool):
            raise stale
        state = (listed.get("properties") or {}).get("provisioningState")
        if state != "Succeeded":  # the write landed, but AKS did not finish it
            raise ProviderError(f"pool '{provider_name(pool)}' has the asked values, but AKS"
                                f" reports provisioningState {state or 'unknown'}; the operation"
                                " did not succeed: check the pool, then run plan again")
        return listed

    def _list_raw(self) -> builtins.list[dict[str, Any]]:
        pages = self.client.agent_pools.list(self.settings.resource_group,
                                             self.settings.cluster_name)
        try:
            return [pool.as_dict() for pool in pages]
        except ResourceNotFoundError as err:
            # A typo in the settings must not look like an empty cluster (plan would
            # propose creating every pool, drift would report everything missing).
            s = self.settings
            code = getattr(err.error, "code", None) or "ResourceNotFound"
            raise ClusterNotFoundError(
                f"AKS cluster '{s.cluster_name}' was not found in resource group"
                f" '{s.resource_group}' of subscription '{s.subscription_id}' ({code});"
                " check clusterName, resourceGroup and subscriptionId in cluster.settings"
            ) from None

    def _cached(self, name: str) -> dict | None:
        """The pool as last read: a list when nothing was listed yet, one GET when our own
        failed write may have changed it since."""
        with self._lock:
            listed, stale = self._listed, name in self._stale
        if listed is None:
            self.list()
            with self._lock:
                listed = self._listed or {}
        elif stale:
            return self._reread(name)
        return listed.get(name)

    def _call(self, call: Callable[[], Any], *, action: str, pool: str) -> Any:
        """Run an SDK call, turning SDK failures into reconciler errors."""
        s = self.settings
        try:
            return call()
        except AzureError as err:
            scrub_credentials(err)
            raise map_error(err, action=action, pool=pool, auth=s.auth, endpoint=s.arm_endpoint,
                            conflict_backoff=s.conflict_backoff,
                            conflict_timeout=s.conflict_timeout) from err

    def _forget(self, name: str) -> None:
        """Our write changed the pool (or removed it): read it again before using it."""
        with self._lock:
            if self._listed is not None:
                self._listed.pop(name, None)
                self._stale.add(name)

"""Run a plan through a driver: creates, then updates, then deletes, in parallel within each.

On a failure or an interrupt no new action starts; actions in flight are waited for and
every action ends up reported as applied, failed or not started. Ctrl-C (SIGINT) only sets
a flag while actions run, so it can never land between starting an action and recording it.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import ReconcilerError
from reconciler.model import DRIVER_LABELS, NodePool, PoolStatus
from reconciler.plan import Action, ActionKind, Plan
from reconciler.result import Result

_SCALAR_FIELDS = {"mode": "mode", "instanceType": "instance_type", "osDiskType": "os_disk_type",
                  "osDiskSizeGiB": "os_disk_size_gib", "priority": "priority",
                  "zones": "zones", "labels": "labels", "autoscaling": "autoscaling"}


class Outcome(StrEnum):
    """How one action ended."""

    APPLIED = "applied"
    FAILED = "failed"
    NOT_STARTED = "not started"


@dataclass(frozen=True)
class ActionResult:
    """One action's outcome, with the provider's message when it failed."""

    action: Action
    outcome: Outcome
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class ApplyReport:
    """Every action of the plan with its outcome."""

    results: tuple[ActionResult, ...]
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every action was applied."""
        return all(r.outcome is Outcome.APPLIED for r in self.results) and not self.interrupted

    @property
    def result(self) -> Result:
        """Interrupted, failed (any action not applied), or fine."""
        return Result(failed=not self.ok, interrupted=self.interrupted)


class ApplyEvents(Protocol):
    """Where the executor reports progress (a terminal display, a log, a test)."""

    def started(self, action: Action) -> None: ...
    def progress(self, action: Action, message: str) -> None: ...
    def finished(self, result: ActionResult) -> None: ...


@contextmanager
def deferred_interrupts(flag: threading.Event | None = None) -> Iterator[threading.Event]:
    """While inside, SIGINT sets the yielded event instead of raising KeyboardInterrupt.

    Only the main thread can own signal handlers; elsewhere, or when SIGINT is ignored or
    owned by non-Python code, the handler is left alone and the event is still yielded.
    """
    flag = flag if flag is not None else threading.Event()
    previous = signal.getsignal(signal.SIGINT)
    if (threading.current_thread() is not threading.main_thread()
            or previous in (signal.SIG_IGN, None)):
        yield flag
        return
    signal.signal(signal.SIGINT, lambda _signum, _frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def execute(plan: Plan, driver: Driver, events: ApplyEvents, *,
            parallelism: int = 10, interrupt: threading.Event | None = None) -> ApplyReport:
    """Apply ``plan``; never raises for a provider failure, it reports it.

    ``interrupt``, when set (by SIGINT, see ``deferred_interrupts``, or by the caller),
    stops new actions from starting; actions in flight are waited for.
    """
    results: dict[int, ActionResult] = {}
    stop = False
    interrupted = False
    with deferred_interrupts(interrupt) as flag, \
            ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for phase in phases(plan):
            if stop:
                break
            stop, was_interrupted = _run_phase(phase, driver, events, pool, parallelism,
                                               results, flag)
            interrupted = interrupted or was_interrupted
    for index, action in enumerate(plan.actions):
        if index not in results:
            results[index] = ActionResult(action, Outcome.NOT_STARTED)
    return ApplyReport(tuple(results[i] for i in range(len(plan.actions))), interrupted)


def phases(plan: Plan) -> list[list[tuple[int, Action]]]:
    """Creates, then updates, then deletes; within updates, pools that stop being system
    pools wait until every other update (a promotion to system among them) has succeeded,
    so the cluster never has zero system pools in between."""
    indexed = list(enumerate(plan.actions))
    demotes = [(i, a) for i, a in indexed if a.kind is ActionKind.UPDATE and _demotes(a)]
    return [
        [(i, a) for i, a in indexed if a.kind is ActionKind.CREATE],
        [(i, a) for i, a in indexed if a.kind is ActionKind.UPDATE and not _demotes(a)],
        demotes,
        [(i, a) for i, a in indexed if a.kind is ActionKind.DELETE],
    ]


def _demotes(action: Action) -> bool:
    return any(c.path == ("mode",) and str(c.after).lower() == "user" for c in action.changes)


def _run_phase(phase: list[tuple[int, Action]], driver: Driver, events: ApplyEvents,
               pool: ThreadPoolExecutor, parallelism: int, results: dict[int, ActionResult],
               interrupt: threading.Event) -> tuple[bool, bool]:
    """Run one phase; returns (stop, interrupted)."""
    queue = list(reversed(phase))
    running: dict[Future[ActionResult], tuple[int, Action]] = {}
    stop = interrupted = False
    while queue or running:
        if interrupt.is_set() and not interrupted:
            stop = interrupted = True
            for _index, action in running.values():
                events.progress(action, "interrupted; waiting for it to finish")
        while queue and not stop and not interrupt.is_set() and len(running) < parallelism:
            index, action = queue.pop()
            events.started(action)
            running[pool.submit(_perform, action, driver, events)] = (index, action)
        if not running:
            if interrupt.is_set() and not interrupted:
                continue  # record the interrupt at the top of the loop, then stop
            break
        try:
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:  # SIGINT not deferred (execute called off the main thread)
            interrupt.set()
            continue
        for future in done:
            result = future.result()
            results[running.pop(future)[0]] = result
            events.finished(result)
            stop = stop or result.outcome is Outcome.FAILED
    return stop, interrupted


def _perform(action: Action, driver: Driver, events: ApplyEvents) -> ActionResult:
    started = time.monotonic()

    def progress(message: str) -> None:
        events.progress(action, message)

    try:
        _call_driver(action, driver, progress)
    except ReconcilerError as exc:
        return ActionResult(action, Outcome.FAILED, str(exc), time.monotonic() - started)
    except Exception as exc:  # a driver bug must still be reported, not lose the run
        return ActionResult(action, Outcome.FAILED, f"unexpected error: {exc!r}",
                            time.monotonic() - started)
    return ActionResult(action, Outcome.APPLIED, None, time.monotonic() - started)


def _call_driver(action: Action, driver: Driver, progress: ProgressCallback) -> None:
    if action.kind is ActionKind.CREATE:
        assert action.desired is not None
        driver.create(replace(action.desired, managed=True), progress)
    elif action.kind is ActionKind.UPDATE:
        driver.update(update_patch(action), progress)
    else:
        driver.delete(action.pool, action.live.etag if action.live else None, progress)


def _labels_to_send(action: Action) -> dict[str, str]:
    """The complete user labels (the file's; the live ones when the file sets none) plus the
    scheduling labels the plan changes, and no other: a driver label the plan does not
    show is never written."""
    assert action.desired is not None
    base = action.desired.labels
    if base is None:
        base = action.live.labels if action.live else {}
    labels = {key: value for key, value in (base or {}).items() if key not in DRIVER_LABELS}
    labels.update({change.path[1]: str(change.after) for change in action.changes
                   if len(change.path) == 2 and change.path[0] == "labels"
                   and change.path[1] in DRIVER_LABELS})
    return labels


def update_patch(action: Action) -> NodePool:
    """The pool to send for an update: name, eTag, ownership and only the changed fields."""
    assert action.desired is not None
    desired = action.desired
    heads = {change.path[0] for change in action.changes}
    values = {attr: getattr(desired, attr) for key, attr in _SCALAR_FIELDS.items()
              if key in heads}
    if "labels" in heads:
        values["labels"] = _labels_to_send(action)
    extension_keys = {c.path[1:3] for c in action.changes
                      if c.path[0] == "extensions" and len(c.path) >= 3}
    if extension_keys:
        extensions: dict[str, dict[str, object]] = {}
        for provider, key in extension_keys:
            extensions.setdefault(provider, {})[key] = (desired.extensions or {})[provider][key]
        values["extensions"] = extensions
    if any(change.path == ("provisioningState",) for change in action.changes):
        values["status"] = PoolStatus(provisioning_state="Succeeded")  # re-send a failed pool
    etag = action.live.etag if action.live else None
    return NodePool(name=desired.name, managed=True, etag=etag, **values)

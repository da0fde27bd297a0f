"""Run a plan through a driver: creates, then updates, then deletes, in parallel within each.

On a failure or an interrupt no new action starts; actions in flight are waited for and
every action ends up reported as applied, failed or not started. Ctrl-C (SIGINT) only sets
a flag while actions run, so it can never land between starting an action and recording it.

A driver that answers ``BusyError`` ("busy, retry later"; nothing was applied) has its
action sent again: after the error's ``retry_after`` (doubling, at most MAX_RETRY_DELAY),
or sooner when another action of this apply ends and the cluster was the busy one, for up
to the error's ``timeout``. Such an action counts as started: after a failure elsewhere it
is still retried (like an action in flight, it finishes); after an interrupt it is not,
and is reported failed with the provider's words. Busy answers about the cluster also
lower how many actions run at once (``reconciler.apply.concurrency.AdaptiveLimit``).
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

from reconciler.apply.concurrency import AdaptiveLimit
from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import BusyError, ReconcilerError
from reconciler.model import DRIVER_LABELS, NodePool, PoolStatus
from reconciler.plan import Action, ActionKind, Plan
from reconciler.result import Result

_SCALAR_FIELDS = {"mode": "mode", "instanceType": "instance_type", "osDiskType": "os_disk_type",
                  "osDiskSizeGiB": "os_disk_size_gib", "priority": "priority",
                  "zones": "zones", "labels": "labels", "autoscaling": "autoscaling"}
MAX_RETRY_DELAY = 60.0  # the longest wait between two tries of a refused action


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
    # The fewest actions allowed at once after the provider answered "busy" (None: never).
    lowered_parallelism: int | None = None

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
    stops new actions from starting; actions in flight are waited for. At most
    ``parallelism`` actions run at once, fewer while the provider answers "busy"
    (``reconciler.apply.concurrency``).
    """
    results: dict[int, ActionResult] = {}
    stop = False
    interrupted = False
    limiter = AdaptiveLimit(parallelism)
    with deferred_interrupts(interrupt) as flag, \
            ThreadPoolExecutor(max_workers=limiter.ceiling) as pool:
        for phase in phases(plan):
            if stop:
                break
            run = _Phase(driver, events, pool, limiter, results, flag)
            stop, was_interrupted = run.run(phase)
            interrupted = interrupted or was_interrupted
        # Ctrl-C during the last actions: no phase was left to notice it, still reported.
        interrupted = interrupted or flag.is_set()
    for index, action in enumerate(plan.actions):
        if index not in results:
            results[index] = ActionResult(action, Outcome.NOT_STARTED)
    lowered = limiter.lowest if limiter.lowest < limiter.ceiling else None
    return ApplyReport(tuple(results[i] for i in range(len(plan.actions))), interrupted,
                       lowered)


def phases(plan: Plan) -> list[list[tuple[int, Action]]]:
    """Creates, then updates, then replacements, then deletes; within updates, pools that
    stop being system pools wait until every other update (a promotion to system among
    them) has succeeded, so the cluster never has zero system pools in between.

    Replacements of user pools run together (at most ``parallelism`` at once); then each
    replacement of a system pool runs alone, so two system pools are never drained at
    the same time."""
    indexed = list(enumerate(plan.actions))
    demotes = [(i, a) for i, a in indexed if a.kind is ActionKind.UPDATE and _demotes(a)]
    replaces = [(i, a) for i, a in indexed if a.kind is ActionKind.REPLACE]
    return [
        [(i, a) for i, a in indexed if a.kind is ActionKind.CREATE],
        [(i, a) for i, a in indexed if a.kind is ActionKind.UPDATE and not _demotes(a)],
        demotes,
        [(i, a) for i, a in replaces if not _system(a)],
        *([item] for item in replaces if _system(item[1])),
        [(i, a) for i, a in indexed if a.kind is ActionKind.DELETE],
    ]


def _system(action: Action) -> bool:
    modes = (action.live.mode if action.live else None,
             action.desired.mode if action.desired else None)
    return any(str(mode).lower() == "system" for mode in modes if mode)


def _demotes(action: Action) -> bool:
    return any(c.path == ("mode",) and str(c.after).lower() == "user" for c in action.changes)


@dataclass
class _Track:
    """One started action across its attempts (a "busy" answer sends it round again)."""

    index: int
    action: Action
    started: float
    refusals: int = 0
    first_refusal: float = 0.0
    not_before: float = 0.0  # when a refused action may be sent again
    busy: BusyError | None = None
    created: bool = False  # a replace whose new pool exists: a retry only deletes the old


class _Phase:
    """Run one phase's actions: new ones while nothing failed and no interrupt came,
    refused ones again when their wait is over (or when one of ours ended, for a busy
    cluster), never more at once than the adaptive limit."""

    def __init__(self, driver: Driver, events: ApplyEvents, pool: ThreadPoolExecutor,
                 limiter: AdaptiveLimit, results: dict[int, ActionResult],
                 interrupt: threading.Event) -> None:
        self.driver, self.events, self.pool = driver, events, pool
        self.limiter, self.results, self.interrupt = limiter, results, interrupt
        self.running: dict[Future[str | BusyError | None], _Track] = {}
        self.waiting: list[_Track] = []
        self.stop = self.interrupted = False

    def run(self, phase: list[tuple[int, Action]]) -> tuple[bool, bool]:
        """Returns (stop, interrupted)."""
        queue = list(reversed(phase))
        while queue or self.running or self.waiting:
            if self.interrupt.is_set() and not self.interrupted:
                self._interrupted()
            self._start(queue)
            if not self.running and not self.waiting:
                if self.interrupt.is_set() and not self.interrupted:
                    continue  # record the interrupt at the top of the loop, then stop
                break
            try:
                self._wait()
            except KeyboardInterrupt:  # SIGINT not deferred (called off the main thread)
                self.interrupt.set()
        return self.stop, self.interrupted

    def _interrupted(self) -> None:
        self.stop = self.interrupted = True
        for track in self.running.values():
            self.events.progress(track.action, "interrupted; waiting for it to finish")
        for track in self.waiting:  # refused, so nothing of it was applied: not sent again
            self._end(track, Outcome.FAILED, f"{track.busy}; not retried: interrupted")
        self.waiting.clear()

    def _start(self, queue: list[tuple[int, Action]]) -> None:
        while len(self.running) < self.limiter.limit and not self.interrupt.is_set():
            now = time.monotonic()
            track = self._next_retry(now)
            if track is None and queue and not self.stop:
                index, action = queue.pop()
                track = _Track(index, action, now)
                self.events.started(action)
            if track is None:
                return
            future = self.pool.submit(_attempt, track, self.driver, self.events,
                                      self.interrupt)
            self.running[future] = track

    def _next_retry(self, now: float) -> _Track | None:
        ready = [t for t in self.waiting if t.not_before <= now]
        if not ready:
            return None
        track = min(ready, key=lambda t: t.not_before)
        self.waiting.remove(track)
        return track

    def _wait(self) -> None:
        now = time.monotonic()
        timeout = 0.2  # at the latest: a look at the interrupt flag
        if len(self.running) < self.limiter.limit:  # room: wake for the next retry too
            timeout = min([timeout, *(max(0.0, t.not_before - now) for t in self.waiting)])
        if not self.running:
            self.interrupt.wait(timeout)
            return
        done, _ = wait(self.running, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            track = self.running.pop(future)
            answer = future.result()
            if isinstance(answer, BusyError):
                self._refused(track, answer)
            else:
                self._end(track, Outcome.FAILED if answer else Outcome.APPLIED, answer)

    def _refused(self, track: _Track, busy: BusyError) -> None:
        """A "busy" answer: lower the limit (a busy cluster) and wait, or give up."""
        now = time.monotonic()
        if busy.scope == "cluster":
            self.limiter.busy()
        if not track.refusals:
            track.first_refusal = now
        track.refusals += 1
        track.busy = busy
        waited = now - track.first_refusal
        if self.interrupted:
            self._end(track, Outcome.FAILED, f"{busy}; not retried: interrupted")
            return
        if waited >= busy.timeout:
            self._end(track, Outcome.FAILED, f"{busy} (gave up after waiting {waited:.1f}s)")
            return
        first = max(busy.retry_after, 0.01)  # a backoff of 0 still doubles from 10 ms
        delay = min(first * 2 ** (track.refusals - 1), MAX_RETRY_DELAY, busy.timeout - waited)
        track.not_before = now + delay
        self.waiting.append(track)
        self.events.progress(track.action, f"waiting for another operation on the "
                             f"{busy.scope} to finish (next try within {delay:.1f}s)")

    def _end(self, track: _Track, outcome: Outcome, error: str | None) -> None:
        result = ActionResult(track.action, outcome, error, time.monotonic() - track.started)
        self.results[track.index] = result
        self.events.finished(result)
        if outcome is Outcome.FAILED:
            self.stop = True
        else:
            self.limiter.success()
        now = time.monotonic()
        for other in self.waiting:  # one of ours ended: a busy cluster may be free now
            if other.busy is not None and other.busy.scope == "cluster":
                other.not_before = min(other.not_before, now)


def _attempt(track: _Track, driver: Driver, events: ApplyEvents,
             interrupt: threading.Event) -> str | BusyError | None:
    """One try: None when applied, the busy answer to retry, or the failure's message."""
    action = track.action

    def progress(message: str) -> None:
        events.progress(action, message)

    try:
        if action.kind is ActionKind.REPLACE:
            return _replace(track, driver, progress, interrupt)
        _call_driver(action, driver, progress)
    except BusyError as busy:
        return busy
    except ReconcilerError as exc:
        return str(exc)
    except Exception as exc:  # a driver bug must still be reported, not lose the run
        return f"unexpected error: {exc!r}"
    return None


def _call_driver(action: Action, driver: Driver, progress: ProgressCallback) -> None:
    if action.kind is ActionKind.CREATE:
        assert action.desired is not None
        driver.create(replace(action.desired, managed=True), progress)
    elif action.kind is ActionKind.UPDATE:
        driver.update(update_patch(action), progress)
    else:
        driver.delete(action.target, action.live.etag if action.live else None, progress)


def _replace(track: _Track, driver: Driver, progress: ProgressCallback,
             interrupt: threading.Event) -> str | None:
    """Create the new provider pool, and once the provider reports it Succeeded, delete
    the old one (the provider drains it). A failed create leaves the old pool alone; an
    interrupt after the create, or a failed delete, leaves both, and the next plan shows
    the delete that remains. Raises what the driver raises (a busy answer: sent again,
    resuming after the create when that was done)."""
    action = track.action
    assert action.desired is not None and action.new_provider_name is not None
    old, new = action.target, action.new_provider_name
    if not track.created:
        progress(f"creating provider pool '{new}'")
        made = driver.create(replace(action.desired, managed=True, provider_name=new),
                             progress)
        state = made.status.provisioning_state if made.status else None
        if state not in (None, "Succeeded"):
            return (f"the new provider pool '{new}' ended {state}; '{old}' is left as it was:"
                    " run plan again")
        track.created = True
    if interrupt.is_set():
        return (f"interrupted after creating provider pool '{new}'; '{old}' is kept: run"
                " apply again to delete it")
    progress(f"created '{new}'; deleting provider pool '{old}' (its nodes are drained)")
    try:
        driver.delete(old, action.live.etag if action.live else None, progress)
    except BusyError:
        raise
    except ReconcilerError as exc:
        return (f"created provider pool '{new}', but deleting '{old}' failed: {exc}; both"
                " remain: run apply again to delete it")
    return None


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
    written = action.live.provider_name if action.live else None
    return NodePool(name=desired.name, provider_name=written, managed=True, etag=etag,
                    **values)

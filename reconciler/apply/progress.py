"""Apply progress: a live display on a terminal, lines in a CI log, JSON Lines for scripts.

Pool names, progress messages and provider errors are untrusted (the cloud's words):
each goes through ``reconciler.escape.terminal`` (``json_text`` for JSON), and the rich
display renders descriptions as plain text (``markup=False``), so ``[bold]`` or
``:emoji:`` in a name is shown as written, never interpreted.

No silent CI: without a terminal, every running action gets a heartbeat line when it
has said nothing for ``heartbeat_seconds()`` (30 s; ``RECONCILER_HEARTBEAT_SECONDS``
shortens it, for tests): ``  still creating web, 2m30s elapsed (1 of 3 done)``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import click

from reconciler.apply.executor import ActionResult, ApplyReport, Outcome
from reconciler.escape import guard_lines, json_text, terminal
from reconciler.plan import Action, ActionKind

_VERB = {ActionKind.CREATE: ("creating", "created", "create"),
         ActionKind.UPDATE: ("updating", "updated", "update"),
         ActionKind.REPLACE: ("replacing", "replaced", "replace"),
         ActionKind.DELETE: ("deleting", "deleted", "delete")}
_COLOUR = {Outcome.APPLIED: "green", Outcome.FAILED: "red", Outcome.NOT_STARTED: "yellow"}
HEARTBEAT_ENV = "RECONCILER_HEARTBEAT_SECONDS"
HEARTBEAT_SECONDS = 30.0


def heartbeat_seconds() -> float:
    """The heartbeat interval: 30 s, or ``RECONCILER_HEARTBEAT_SECONDS`` when it is a
    positive number (CI systems that kill silent jobs sooner; tests)."""
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, ""))
    except ValueError:
        return HEARTBEAT_SECONDS
    return value if 0 < value < float("inf") else HEARTBEAT_SECONDS


def elapsed_words(seconds: float) -> str:
    """``45s``, ``2m30s``, ``1h02m03s``."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class _Tracked:
    """Actions in flight, how many are done, and a heartbeat thread for silent ones."""

    def __init__(self, total: int, heartbeat: float | None) -> None:
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._running: dict[int, list[Any]] = {}  # id(action) -> [action, started, last said]
        self._interval = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Any:
        if self._interval is not None:
            self._thread = threading.Thread(target=self._beat_loop, name="heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _track(self, action: Action) -> None:
        now = time.monotonic()
        with self._lock:
            self._running[id(action)] = [action, now, now]

    def _heard(self, action: Action) -> float:
        """Note that ``action`` said something; returns its elapsed seconds."""
        now = time.monotonic()
        with self._lock:
            entry = self._running.get(id(action))
            if entry is None:
                return 0.0
            entry[2] = now
            return now - entry[1]

    def _untrack(self, action: Action) -> None:
        with self._lock:
            self._running.pop(id(action), None)
            self.done += 1

    def _beat_loop(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(min(1.0, self._interval / 4)):
            now = time.monotonic()
            with self._lock:
                silent = [(entry[0], now - entry[1]) for entry in self._running.values()
                          if now - entry[2] >= self._interval]
                for entry in self._running.values():
                    if now - entry[2] >= self._interval:
                        entry[2] = now
            for action, elapsed in silent:
                self.beat(action, elapsed)

    def beat(self, action: Action, elapsed: float) -> None:
        """Say that ``action`` is still running (a heartbeat)."""


class LineEvents(_Tracked):
    """One line per start, progress message, heartbeat and end; thread-safe."""

    def __init__(self, stream: TextIO | None = None, *, total: int = 0, color: bool = False,
                 heartbeat: float | None = None) -> None:
        super().__init__(total, heartbeat)
        self.stream = stream or sys.stderr
        self.color = color
        self._say_lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._say_lock:
            click.echo(guard_lines(text), file=self.stream, color=self.color)

    def started(self, action: Action) -> None:
        self._track(action)
        self._say(f"  {_VERB[action.kind][0]} {terminal(action.pool)} ...")

    def progress(self, action: Action, message: str) -> None:
        self._heard(action)
        self._say(f"  {_VERB[action.kind][0]} {terminal(action.pool)}: {terminal(message)}")

    def beat(self, action: Action, elapsed: float) -> None:
        self._say(f"  still {_VERB[action.kind][0]} {terminal(action.pool)},"
                  f" {elapsed_words(elapsed)} elapsed ({self.done} of {self.total} done)")

    def finished(self, result: ActionResult) -> None:
        self._untrack(result.action)
        line = describe(result)
        self._say(click.style(line, fg=_COLOUR[result.outcome]) if self.color else line)
        if self.total > 1:
            self._say(f"  {self.done} of {self.total} actions done")


class LiveEvents(_Tracked):
    """A rich progress display: every in-flight action with a spinner and elapsed time,
    under an overall "N of M actions done" bar."""

    def __init__(self, *, total: int = 0, color: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        super().__init__(total, None)
        console = Console(stderr=True, no_color=not color, highlight=False)
        # markup=False: a description is plain text, so data cannot style or hide anything.
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                  BarColumn(bar_width=None if total > 1 else 0),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._overall = self._progress.add_task("actions done", total=total or None)
        self._tasks: dict[int, Any] = {}
        self._tasks_lock = threading.Lock()

    def __enter__(self) -> LiveEvents:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, action: Action) -> None:
        with self._tasks_lock:
            self._tasks[id(action)] = self._progress.add_task(
                f"{_VERB[action.kind][0]} {terminal(action.pool)}", total=None)

    def progress(self, action: Action, message: str) -> None:
        with self._tasks_lock:
            self._progress.update(self._tasks[id(action)], description=(
                f"{_VERB[action.kind][0]} {terminal(action.pool)}: {terminal(message)}"))

    def finished(self, result: ActionResult) -> None:
        with self._tasks_lock:
            task = self._tasks[id(result.action)]
            # A failure's reason is printed once, in the closing report under the display.
            text = describe(result) if result.outcome is not Outcome.FAILED else \
                f"failed to {_VERB[result.action.kind][2]} {terminal(result.action.pool)}" \
                " (the reason follows below)"
            self._progress.update(task, description=text.strip(), total=1, completed=1)
            self._progress.stop_task(task)
            self._progress.advance(self._overall)


class JsonEvents(_Tracked):
    """``apply --format json``: one JSON object per line on ``stream`` (JSON Lines), as
    schemas/apply-events.schema.json describes; heartbeats are ``progress`` events."""

    def __init__(self, stream: TextIO | None = None, *, total: int = 0,
                 heartbeat: float | None = None) -> None:
        super().__init__(total, heartbeat)
        self.stream = stream or sys.stdout
        self._emit_lock = threading.Lock()

    def emit(self, kind: str, **fields: Any) -> None:
        """Write one event: ``{"type": kind, "time": ..., **fields}``."""
        event = {"type": kind, "time": datetime.now(UTC).isoformat(timespec="milliseconds")
                 .replace("+00:00", "Z"), **fields}
        line = json_text(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        with self._emit_lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def started(self, action: Action) -> None:
        self._track(action)
        self.emit("action_started", **_action(action), done=self.done, total=self.total)

    def progress(self, action: Action, message: str) -> None:
        elapsed = self._heard(action)
        self.emit("progress", **_action(action), message=message, heartbeat=False,
                  elapsedSeconds=round(elapsed, 3))

    def beat(self, action: Action, elapsed: float) -> None:
        self.emit("progress", **_action(action),
                  message=f"still {_VERB[action.kind][0]} {action.pool},"
                          f" {elapsed_words(elapsed)} elapsed",
                  heartbeat=True, elapsedSeconds=round(elapsed, 3))

    def finished(self, result: ActionResult) -> None:
        if result.outcome is not Outcome.NOT_STARTED:
            self._untrack(result.action)
        self.emit("action_finished", **_action(result.action), outcome=result.outcome.value,
                  error=result.error, seconds=round(result.seconds, 3), done=self.done,
                  total=self.total)


def _action(action: Action) -> dict[str, str]:
    return {"action": action.kind.value, "pool": action.pool}


def describe(result: ActionResult) -> str:
    """``  created batch (2.1s)`` or ``  failed to create batch: <reason>``."""
    action = result.action
    pool = terminal(action.pool)
    if result.outcome is Outcome.APPLIED:
        return f"  {_VERB[action.kind][1]} {pool} ({result.seconds:.1f}s)"
    if result.outcome is Outcome.FAILED:
        return f"  failed to {_VERB[action.kind][2]} {pool}: {terminal(result.error)}"
    return f"  not started: {_VERB[action.kind][2]} {pool}"


def counts(report: ApplyReport) -> dict[Outcome, int]:
    """How many actions ended each way."""
    return {outcome: sum(1 for r in report.results if r.outcome is outcome)
            for outcome in Outcome}


def report_text(report: ApplyReport, *, color: bool = False) -> str:
    """The closing summary: what was applied, what failed, what never started."""
    found = counts(report)
    figures = ", ".join(f"{found[o]} {o.value}" for o in Outcome if found[o])
    busy = [] if report.lowered_parallelism is None else [
        "The cluster answered busy: actions were sent again, as few as "
        f"{report.lowered_parallelism} at a time."]
    if report.ok:
        head = f"Apply complete: {figures}."
        return "\n".join([click.style(head, fg="green", bold=True) if color else head,
                          *busy]) + "\n"
    head = f"Apply interrupted: {figures}." if report.interrupted else \
        f"Apply failed: {figures}."
    lines = [click.style(head, fg="red", bold=True) if color else head, *busy]
    lines += [describe(r) for r in report.results if r.outcome is not Outcome.APPLIED]
    if report.interrupted:
        lines.append("Actions in flight were waited for; run apply again to converge.")
    return guard_lines("\n".join(lines) + "\n")

"""Apply progress for people: a live spinner per in-flight action on a terminal, lines otherwise.

Pool names, progress messages and provider errors are untrusted (the cloud's words):
each goes through ``reconciler.escape.terminal``, and the rich display renders
descriptions as plain text (``markup=False``), so ``[bold]`` or ``:emoji:`` in a name
is shown as written, never interpreted.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from reconciler.escape import guard_lines, terminal
from reconciler.executor import ActionResult, ApplyReport, Outcome
from reconciler.plan import Action, ActionKind

_VERB = {ActionKind.CREATE: ("creating", "created", "create"),
         ActionKind.UPDATE: ("updating", "updated", "update"),
         ActionKind.DELETE: ("deleting", "deleted", "delete")}


class LineEvents:
    """One line per start, progress message and end; safe to call from worker threads."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            print(guard_lines(text), file=self.stream, flush=True)

    def started(self, action: Action) -> None:
        self._say(f"  {_VERB[action.kind][0]} {terminal(action.pool)} ...")

    def progress(self, action: Action, message: str) -> None:
        self._say(f"  {_VERB[action.kind][0]} {terminal(action.pool)}: {terminal(message)}")

    def finished(self, result: ActionResult) -> None:
        self._say(describe(result))


class LiveEvents:
    """A rich progress display: every in-flight action with a spinner and elapsed time."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # markup=False: a description is plain text, so data cannot style or hide anything.
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                  TimeElapsedColumn(), console=Console(stderr=True))
        self._tasks: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> LiveEvents:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def started(self, action: Action) -> None:
        with self._lock:
            self._tasks[id(action)] = self._progress.add_task(
                f"{_VERB[action.kind][0]} {terminal(action.pool)}", total=None)

    def progress(self, action: Action, message: str) -> None:
        with self._lock:
            self._progress.update(self._tasks[id(action)], description=(
                f"{_VERB[action.kind][0]} {terminal(action.pool)}: {terminal(message)}"))

    def finished(self, result: ActionResult) -> None:
        with self._lock:
            task = self._tasks[id(result.action)]
            # A failure's reason is printed once, in the closing report under the display.
            text = describe(result) if result.outcome is not Outcome.FAILED else \
                f"failed to {_VERB[result.action.kind][2]} {terminal(result.action.pool)}" \
                " (the reason follows below)"
            self._progress.update(task, description=text.strip(), total=1, completed=1)
            self._progress.stop_task(task)


def describe(result: ActionResult) -> str:
    """``  created batch (2.1s)`` or ``  failed to create batch: <reason>``."""
    action = result.action
    pool = terminal(action.pool)
    if result.outcome is Outcome.APPLIED:
        return f"  {_VERB[action.kind][1]} {pool} ({result.seconds:.1f}s)"
    if result.outcome is Outcome.FAILED:
        return f"  failed to {_VERB[action.kind][2]} {pool}: {terminal(result.error)}"
    return f"  not started: {_VERB[action.kind][2]} {pool}"


def report_text(report: ApplyReport) -> str:
    """The closing summary: what was applied, what failed, what never started."""
    counts = {outcome: sum(1 for r in report.results if r.outcome is outcome)
              for outcome in Outcome}
    figures = ", ".join(f"{counts[o]} {o.value}" for o in Outcome if counts[o])
    busy = [] if report.lowered_parallelism is None else [
        "The cluster answered busy: actions were sent again, as few as "
        f"{report.lowered_parallelism} at a time."]
    if report.ok:
        return "\n".join([f"Apply complete: {figures}.", *busy]) + "\n"
    head = "Apply interrupted" if report.interrupted else "Apply failed"
    lines = [f"{head}: {figures}.", *busy]
    lines += [describe(r) for r in report.results if r.outcome is not Outcome.APPLIED]
    if report.interrupted:
        lines.append("Actions in flight were waited for; run apply again to converge.")
    return guard_lines("\n".join(lines) + "\n")

"""Exit codes, decided in one place from what a command found.

| code | meaning |
|---|---|
| 0 | success; with ``--detailed-exitcode``, also "no changes" |
| 1 | any error: invalid file, rejected plan, provider failure, stale plan |
| 2 | ``plan --detailed-exitcode`` only: the plan has changes |
| 64 | usage error (unknown flag, missing argument) |
| 130 | interrupted (Ctrl-C): no new action started after the interrupt |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes."""

    OK = 0
    ERROR = 1
    CHANGES = 2
    USAGE = 64
    INTERRUPTED = 130


@dataclass(frozen=True)
class Result:
    """What a command ended with; ``exit_code`` is the only mapping to a process status."""

    failed: bool = False
    changes: bool = False  # counted only where the command was asked (--detailed-exitcode)
    interrupted: bool = False

    @property
    def exit_code(self) -> ExitCode:
        """Interrupted wins over failed, failed over changes."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.failed:
            return ExitCode.ERROR
        return ExitCode.CHANGES if self.changes else ExitCode.OK


OK = Result()
FAILED = Result(failed=True)

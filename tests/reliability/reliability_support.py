"""Helpers the reliability tests share: reading apply's report, running the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The action outcome lines apply prints: progress on stderr, the closing report on stdout.
_VERBS = {"create": "created", "update": "updated", "delete": "deleted"}


@dataclass(frozen=True)
class Outcomes:
    """What an apply said about each pool: applied, failed or not started."""

    by_pool: dict[str, list[str]]

    def of(self, pool: str) -> list[str]:
        """Every outcome reported for ``pool`` (exactly one when the report is right)."""
        return self.by_pool.get(pool, [])


def parse_outcomes(stdout: str, stderr: str, actions: Sequence[tuple[str, str]]) -> Outcomes:
    """Outcomes per pool from apply's output, for ``actions`` given as (kind, pool).

    Applied: the progress line ``  created POOL (1.2s)`` on stderr. Failed and not
    started: the closing report's ``  failed to create POOL: ...`` and
    ``  not started: create POOL`` lines on stdout.
    """
    by_pool: dict[str, list[str]] = {}
    for kind, pool in actions:
        name = re.escape(pool)
        found = ["applied"] * len(re.findall(
            rf"^  {_VERBS[kind]} {name} \(\d+\.\ds\)$", stderr, re.MULTILINE))
        found += ["failed"] * len(re.findall(rf"^  failed to {kind} {name}: ", stdout,
                                             re.MULTILINE))
        found += ["not started"] * len(re.findall(rf"^  not started: {kind} {name}$", stdout,
                                                  re.MULTILINE))
        by_pool[pool] = found
    return Outcomes(by_pool)


def reconciler_process(args: Sequence[str], cwd: Path, *, env: dict[str, str] | None = None,
                       timeout: float = 60, memory_bytes: int | None = None,
                       ) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler ARGS`` in a real process; ``memory_bytes`` caps its address
    space (RLIMIT_AS) so a memory blow-up fails the process instead of the machine."""
    def limit() -> None:
        if memory_bytes is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})},
                          preexec_fn=limit if memory_bytes is not None else None)


@dataclass(frozen=True)
class Measured:
    """How one bounded process ended: exit code (None: killed at the time bound), its
    output, wall-clock seconds and peak resident size in KiB (its own, from wait4)."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    max_rss_kib: int


def bounded_process(args: Sequence[str], cwd: Path, env: dict[str, str], *,
                    seconds: float, memory_bytes: int) -> Measured:
    """Run ``args`` with its address space limited to ``memory_bytes`` (RLIMIT_AS), killed
    after ``seconds``; the peak resident size is measured."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(list(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err, preexec_fn=limit)
        killer = threading.Timer(seconds, process.kill)
        killer.start()
        _, status, usage = os.wait4(process.pid, 0)
        killer.cancel()
        took = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        code = None if process.returncode == -9 else process.returncode
        return Measured(code, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), took, usage.ru_maxrss)

"""Reliability tests: shared helpers and the figures printed at the end of every run.

Tests add their counts to ``FIGURES`` (via the ``figures`` fixture); the terminal summary
prints them so a normal ``pytest`` run shows how much was tried (runs, faults, actions,
violations), not only that it passed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Figures by section: e.g. FIGURES["fault campaign"]["runs"] += 1.
FIGURES: dict[str, Counter[str]] = {}
# The action outcome lines apply prints: progress on stderr, the closing report on stdout.
_VERBS = {"create": "created", "update": "updated", "delete": "deleted"}


@pytest.fixture
def figures() -> dict[str, Counter[str]]:
    """The session's figures, keyed by section; counts are added in place."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the reliability figures of this run (visible without -s or -v)."""
    if not FIGURES:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for section, counts in FIGURES.items():
        shown = ", ".join(f"{key} {value}" for key, value in counts.items())
        terminalreporter.write_line(f"{section}: {shown}")


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

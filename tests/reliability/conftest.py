"""Reliability tests: the figures printed at the end of every run (helpers are in
``reliability_support``).

Tests add their counts to ``FIGURES`` (via the ``figures`` fixture); the terminal summary
prints them so a normal ``pytest`` run shows how much was tried (runs, faults, actions,
violations), not only that it passed.
"""

from __future__ import annotations

from collections import Counter

import pytest

# Figures by section: e.g. FIGURES["fault campaign"]["runs"] += 1.
FIGURES: dict[str, Counter[str]] = {}


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

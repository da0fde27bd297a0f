"""Reliability tests: the figures printed at the end of every run (helpers are in
``reliability_support``).

A test sets its sections through the ``figures`` fixture; they travel with the test's
report (so they reach the summary from pytest-xdist's workers too), and the terminal
summary (``tests/conftest.py``) prints them, so a normal ``pytest`` run shows how much was
tried (runs, faults, actions, violations), not only that it passed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

FIGURES_PROPERTY = "reliability figures"


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Counter[str]]]:
    """This test's figures, keyed by section; sections are set or counted in place."""
    sections: dict[str, Counter[str]] = {}
    yield sections
    request.node.user_properties.append(
        (FIGURES_PROPERTY, {section: dict(counts) for section, counts in sections.items()}))

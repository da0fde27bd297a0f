"""Sizes of the property tests: the default run tries a sample, the soak run (`pytest -m
soak`, run by .ci/run) the full count, so everyday runs stay quick and CI still searches as
far as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy


def sized(small: int, soak: int) -> pytest.MarkDecorator:
    """Give the test ``examples``: ``small`` in the default run, ``soak`` under ``-m soak``.
    The test passes it to ``explore``."""
    return pytest.mark.parametrize("examples", [
        pytest.param(small, id="small"),
        pytest.param(soak, id="soak", marks=pytest.mark.soak)])


def explore(examples: int, check: Callable[..., None], *strategies: SearchStrategy[Any]
            ) -> None:
    """Run ``check`` on ``examples`` hypothesis examples drawn from ``strategies``."""
    limits = settings(max_examples=examples, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
    limits(given(*strategies)(check))()

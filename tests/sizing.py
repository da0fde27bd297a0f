"""Sizes of the property tests: the default run tries a sample, the soak run (`pytest -m
soak`, run by .ci/run) the full count, so everyday runs stay quick and CI still searches as
far as before."""

from __future__ import annotations

import pytest


def sized(small: int, soak: int) -> pytest.MarkDecorator:
    """Give the test ``examples``: ``small`` in the default run, ``soak`` under ``-m soak``.
    The test passes it to hypothesis's ``settings(max_examples=examples)``."""
    return pytest.mark.parametrize("examples", [
        pytest.param(small, id="small"),
        pytest.param(soak, id="soak", marks=pytest.mark.soak)])

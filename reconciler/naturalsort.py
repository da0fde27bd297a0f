"""Natural order for names: ``pool2`` before ``pool10``, as people count.

``sorted(names, key=natural_key)`` gives one stable total order: runs of digits compare
as numbers, other runs case-insensitively, and ties (``pool2`` / ``pool02``, ``A`` / ``a``)
fall back to plain text order, so equal keys never depend on the input's order.
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"([0-9]+)")  # ASCII digits only: int() of any match works


def natural_key(name: object) -> tuple[tuple[tuple[int, int, str], ...], str]:
    """Sort key for ``name`` (any value; compared as ``str(name)``)."""
    text = str(name)
    # Each run is (kind, number, text): digits (kind 0) sort before letters (kind 1) at
    # the same position, as in plain text order, and numbers never meet strings.
    # split() puts the digit runs at the odd indexes.
    runs = tuple((0, int(run), "") if index % 2 else (1, 0, run.casefold())
                 for index, run in enumerate(_RUNS.split(text)) if run)
    return runs, text

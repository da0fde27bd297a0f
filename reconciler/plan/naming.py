"""Provider names for replacement pools: deterministic, valid, and free.

A pool replaced under the name it was created with moves to ``<name>2`` (or ``3``...,
the name cut short where the provider's name rule needs it: AKS's 12 characters make
``abcdefghijkl`` -> ``abcdefghijk2``); a pool already under such a name moves back to
its own name. The result is the same for the same live pools, so a saved plan and the
plan apply runs again agree.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

MAX_SUFFIX = 99


def replacement_name(logical: str, current: str, taken: Collection[str],
                     pattern: str | None) -> str | None:
    """The provider name for the pool replacing ``current`` (the provider pool of the
    logical pool ``logical``); None when no valid name is free. ``taken``: the provider
    names in use or planned, and the other pools' logical names."""
    for candidate in _candidates(logical):
        if candidate == current or candidate in taken:
            continue
        if pattern is None or re.fullmatch(pattern, candidate):
            return candidate
    return None


def _candidates(logical: str) -> Iterator[str]:
    yield logical
    for suffix in range(2, MAX_SUFFIX + 1):
        digits = str(suffix)
        for cut in range(len(logical), 0, -1):
            yield logical[:cut] + digits

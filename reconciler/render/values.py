"""How field values are shown to people: JSON literals, with ``None`` as unset."""

from __future__ import annotations

import json
from typing import Any


def show(value: Any) -> str:
    """A compact, unambiguous literal: strings quoted, unset as ``(unset)``."""
    if value is None:
        return "(unset)"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)

"""Initial pools for the emulator, from ARM JSON or the AKS API examples' format."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any


def pools_from_json(document: Any) -> dict[str, dict]:
    """ARM agent pools by name, from any of the accepted shapes.

    Accepted: a list of pools; ``{"value": [...]}`` (a list response); a single pool;
    ``{name: pool}``; an x-ms-examples file (its 200 response body, else its 201 one).
    """
    if isinstance(document, dict) and "responses" in document:
        responses = document["responses"]
        body = (responses.get("200") or responses.get("201") or {}).get("body", {})
        return pools_from_json(body)
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return pools_from_json(document["value"])
    if isinstance(document, dict) and "properties" in document and "name" in document:
        return pools_from_json([document])
    if isinstance(document, dict):
        return {name: _named(name, pool) for name, pool in document.items()}
    if isinstance(document, list):
        return {pool["name"]: copy.deepcopy(pool) for pool in document}
    raise ValueError("seed must be a list of agent pools, a list response or an example file")


def load_seed(path: str | Path) -> dict[str, dict]:
    """Read a seed file (see ``pools_from_json``)."""
    return pools_from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _named(name: str, pool: dict) -> dict:
    pool = copy.deepcopy(pool)
    pool.setdefault("name", name)
    return pool

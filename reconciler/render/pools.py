"""Views of live pools for ``reconciler list``.

Live values come from the cloud: text cells go through ``reconciler.escape.terminal``
(columns are aligned on the escaped text), JSON through ``reconciler.escape.json_text``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.escape import guard_lines, json_text, pad, terminal, width
from reconciler.model import NodePool, pool_to_dict
from reconciler.naturalsort import natural_key


def pools_json(pools: Sequence[NodePool]) -> str:
    """Live pools in the model's terms, with the ownership marker; ``name`` is the logical
    name and ``providerName`` the provider's."""
    rows: list[dict[str, Any]] = [{**pool_to_dict(p), "managed": bool(p.managed)} for p in pools]
    return json_text(json.dumps(rows, indent=2, ensure_ascii=False)) + "\n"


def pools_text(pools: Sequence[NodePool]) -> str:
    """A table: name, mode, instance type, zones, nodes, priority, managed, state."""
    header = ("NAME", "MODE", "INSTANCE TYPE", "ZONES", "NODES", "PRIORITY", "MANAGED", "STATE")
    rows = [header] + [_row(p) for p in sorted(pools, key=lambda p: natural_key(p.name))]
    widths = [max(width(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    if not pools:
        lines.append("(no node pools)")
    return guard_lines("\n".join(lines) + "\n")


def _row(pool: NodePool) -> tuple[str, ...]:
    scaling = pool.autoscaling
    if scaling and scaling.enabled:
        nodes = f"{scaling.min}-{scaling.max} (auto)"
    else:
        nodes = str(scaling.desired) if scaling and scaling.desired is not None else "-"
    status = pool.status.provisioning_state if pool.status else None
    name = str(pool.name)
    if pool.provider_name and pool.provider_name != pool.name:
        name += f" (provider pool {pool.provider_name})"  # a replacement's new pool
    cells = (name, pool.mode or "-", pool.instance_type or "-",
             ",".join(pool.zones or ()) or "-", nodes, pool.priority or "-",
             "yes" if pool.managed else "no", status or "-")
    return tuple(terminal(cell) or "-" for cell in cells)

"""``reconciler export``: a desired-state file that matches the live cluster (onboarding)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from reconciler.compare import SPOT_TAINT, user_labels
from reconciler.model import OWNER_TAG_KEY, NodePool
from reconciler.providers.base import Capabilities

# Extension fields worth pinning in a file; versions and upgrade knobs are left to the user.
_EXPORTED_EXTENSIONS = ("nodeTaints", "tags", "maxPods", "osType", "osSKU", "spotMaxPrice",
                        "scaleSetEvictionPolicy")


def export_pool(pool: NodePool, caps: Capabilities) -> dict[str, Any]:
    """One live pool as a desired-state entry that plans to no change."""
    entry: dict[str, Any] = {"name": pool.name}
    for key, value in (("mode", pool.mode), ("instanceType", pool.instance_type),
                       ("osDiskType", pool.os_disk_type), ("osDiskSizeGiB", pool.os_disk_size_gib),
                       ("priority", pool.priority)):
        if value is not None:
            entry[key] = value
    if pool.zones:
        entry["zones"] = sorted(pool.zones)
    entry["labels"] = dict(sorted(user_labels(pool.labels or {}, caps).items()))
    scaling = pool.autoscaling
    if scaling is not None and scaling.enabled:
        entry["autoscaling"] = {"enabled": True, "min": scaling.min, "max": scaling.max}
    elif scaling is not None and scaling.desired is not None:
        entry["autoscaling"] = {"enabled": False, "desired": scaling.desired}
    extensions = _export_extensions(pool)
    if extensions:
        entry["extensions"] = {"aks": extensions}
    return entry


def _export_extensions(pool: NodePool) -> dict[str, Any]:
    live = (pool.extensions or {}).get("aks") or {}
    out: dict[str, Any] = {}
    for key in _EXPORTED_EXTENSIONS:
        value = live.get(key)
        if key == "nodeTaints" and value:
            value = [taint for taint in value if taint != SPOT_TAINT]
        if key == "tags" and value:
            value = {k: v for k, v in value.items() if k != OWNER_TAG_KEY}
        if value not in (None, [], {}):
            out[key] = value
    return out


def export_text(source_text: str, live: Sequence[NodePool], caps: Capabilities) -> str:
    """``source_text`` (a desired-state file) with nodePools replaced by the live pools.

    The file is edited round-trip, so its comments, cluster and policy sections stay as
    written (settings keep their ``${VAR}`` references).
    """
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(source_text)
    pools = [export_pool(pool, caps) for pool in sorted(live, key=lambda p: str(p.name))]
    document["nodePools"] = pools
    document.yaml_set_comment_before_after_key(
        "nodePools", before=f"Exported from the live cluster: {len(pools)} pool(s).")
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()

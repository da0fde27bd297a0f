"""What the planner may know about AKS agent pools before any write (see docs/aks.md)."""

from __future__ import annotations

import reconciler.providers.aks.mapping as mapping
import reconciler.providers.aks.rules as rules
from reconciler.model import Capabilities

# Agent pool names: the 2026-08-01 spec's pattern; Windows pools are further capped at 6.
NAME_PATTERN = r"^[a-z][a-z0-9]{0,11}$"
NAME_RULE = (
    "lowercase letter first, then up to 11 lowercase letters or digits; "
    "Windows pools at most 6 characters"
)
MAX_POOLS = 100
RESERVED_LABEL_PREFIXES = ("kompox.dev/", "kubernetes.azure.com/")

# Plan field paths that AKS refuses to change on an existing pool.
IMMUTABLE_FIELDS = frozenset({
    ("instanceType",),
    ("osDiskType",),
    ("osDiskSizeGiB",),
    ("priority",),
    ("zones",),
    ("extensions", "aks", "maxPods"),
    ("extensions", "aks", "osType"),
    ("extensions", "aks", "spotMaxPrice"),
    ("extensions", "aks", "scaleSetEvictionPolicy"),
})

# Extension fields worth pinning in an exported file; versions and upgrade knobs are left to
# the user (kept and refreshed only when the existing file already pins them).
EXPORTED_EXTENSIONS = ("nodeTaints", "tags", "maxPods", "osType", "osSKU", "spotMaxPrice",
                       "scaleSetEvictionPolicy", "powerState")


def aks_capabilities(location: str | None) -> Capabilities:
    """The AKS rules shared by the ``aks`` and ``local`` providers."""
    return Capabilities(
        immutable_fields=IMMUTABLE_FIELDS,
        name_pattern=NAME_PATTERN,
        name_rule=NAME_RULE,
        max_pools=MAX_POOLS,
        location=location,
        reserved_label_prefixes=RESERVED_LABEL_PREFIXES,
        extension_namespace="aks",
        exported_extensions=EXPORTED_EXTENSIONS,
        pool_problems=rules.pool_problems,
        change_problem=rules.change_problem,
        action_problems=rules.action_problems,
        extension_value=rules.extension_value,
        extension_satisfied=rules.extension_satisfied,
        owner_of=rules.owner_of,
        zone_label=mapping.zone_label,
        frozen_fields=rules.frozen_fields,
        export_defaults={"powerState": {"code": rules.RUNNING}},
    )

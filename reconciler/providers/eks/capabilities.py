"""What the planner may know about EKS node groups before any write (see docs/eks.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import reconciler.providers.eks.rules as rules
from reconciler.model import Capabilities
from reconciler.providers.eks.mapping import NAMESPACE

# CreateNodegroup's nodegroupName: at most 63 characters, a letter or digit first.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
NAME_RULE = "a letter or digit first, then up to 62 letters, digits, '-' or '_'"
# The default "Managed node groups per cluster" quota; accounts may have it raised
# (settings.maxNodegroups).
MAX_NODEGROUPS = 30
RESERVED_LABEL_PREFIXES = ("kompox.dev/", "eks.amazonaws.com/")

# Plan field paths EKS cannot change on an existing node group (aws_eks_node_group's
# ForceNew attributes; the EKS API has no call that changes them).
IMMUTABLE_FIELDS = frozenset({
    ("instanceType",),
    ("osDiskSizeGiB",),
    ("priority",),
    ("zones",),
    ("extensions", NAMESPACE, "amiType"),
    ("extensions", NAMESPACE, "nodeRole"),
    ("extensions", NAMESPACE, "remoteAccess"),
    ("extensions", NAMESPACE, "launchTemplate", "id"),
    ("extensions", NAMESPACE, "launchTemplate", "name"),
})

# Extension fields worth pinning in an exported file; the others are kept and refreshed
# only when the existing file already pins them.
EXPORTED_EXTENSIONS = ("taints", "tags", "amiType", "updateConfig")
UNSUPPORTED_FIELDS = (
    ("osDiskType", "a node group's disk is an EBS volume of osDiskSizeGiB (or what its"
     " launch template says)"),
)


def eks_capabilities(settings: Mapping[str, Any]) -> Capabilities:
    """The EKS rules for a cluster with these (possibly partial, unexpanded) settings."""
    region = settings.get("region")
    region = region if isinstance(region, str) and region else None
    subnets = settings.get("subnets")
    subnet_zones = frozenset(str(zone) for zone in subnets) if isinstance(subnets, dict) \
        else None
    limit = settings.get("maxNodegroups")
    return Capabilities(
        immutable_fields=IMMUTABLE_FIELDS,
        name_pattern=NAME_PATTERN,
        name_rule=NAME_RULE,
        max_pools=limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        else MAX_NODEGROUPS,
        reserved_label_prefixes=RESERVED_LABEL_PREFIXES,
        extension_namespace=NAMESPACE,
        exported_extensions=EXPORTED_EXTENSIONS,
        pool_problems=partial(_pool_problems, subnet_zones=subnet_zones),
        change_problem=rules.change_problem,
        extension_value=rules.extension_value,
        owner_of=rules.owner_of,
        provider="eks",
        modes=("user",),
        unsupported_fields=UNSUPPORTED_FIELDS,
        zone_problem=partial(rules.zone_problem, region=region),
        canonical_zone=rules.canonical_zone,
        zone_label=rules.zone_label,
        replaces=True,
        replacement_extensions=rules.replacement_extensions,
    )


def _pool_problems(pool: dict[str, Any], *, subnet_zones: frozenset[str] | None
                   ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    return rules.pool_problems(pool, subnet_zones)

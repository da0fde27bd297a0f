"""EKS's node group rules, each written once: what ``validate`` checks in a file's pool,
what ``plan`` refuses on an existing one, and how extension values are compared.

They reach the provider-neutral core through ``Capabilities`` hooks (see
``capabilities.eks_capabilities``); nothing outside this package imports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from reconciler.model import OWNER_TAG_KEY, NodePool
from reconciler.plan import FieldChange, PlanError
from reconciler.providers.eks.mapping import (
    AWS_TAG_PREFIX,
    KUBERNETES_EFFECTS,
    LOGICAL_TAG_KEY,
    MARKER_TAGS,
    NAMESPACE,
    canonical_taints,
    parse_taint,
)

Problem = tuple[tuple[str | int, ...], str]
# EKS API limits (botocore's EKS model, 2017-11-01; aws_eks_node_group's validation).
LABEL_KEY_MAX = 63
LABEL_VALUE_MAX = 63
TAINT_PART_MAX = 63
MAX_TAINTS = 50
MAX_TAGS = 50  # the ownership marker is one of them
# An availability zone name: region plus a letter (us-east-1a, ap-northeast-1c).
_AZ = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)(?P<letter>[a-z])$")
# Changes EKS makes through UpdateNodegroupVersion, which reconciler does not send yet.
VERSION_FIELDS = {
    ("extensions", NAMESPACE, "version"), ("extensions", NAMESPACE, "releaseVersion"),
    ("extensions", NAMESPACE, "launchTemplate", "version"),
}


# -- zones: availability zone names ----------------------------------------------------


def zone_problem(zone: str, region: str | None) -> str | None:
    """What is wrong with ``zone`` as an availability zone of ``region`` (None: fine)."""
    match = _AZ.fullmatch(zone)
    if match is None:
        example = f"{region}a" if region else "us-east-1a"
        return f"expected an availability zone name such as {example}"
    if region and match["region"] != region:
        return f"not in the cluster's region '{region}'"
    return None


def zone_label(zones: tuple[str, ...]) -> str | None:
    """``kompox.dev/node-zone`` for a node group in exactly one availability zone (its
    name); none for several: a node group's labels reach every node."""
    names = {canonical_zone(zone) for zone in zones}
    return names.pop() if len(names) == 1 else None


def canonical_zone(zone: str) -> str:
    """Availability zone names are compared as written (the rule above admits one form)."""
    return str(zone).strip()


# -- validate: one pool as written in a file -------------------------------------------


def pool_problems(pool: dict[str, Any], subnet_zones: frozenset[str] | None
                  ) -> Iterator[Problem]:
    """(field, message) for each EKS rule a file's pool breaks on its own. With
    ``subnet_zones`` (the zones ``cluster.settings.subnets`` names), every zone needs one."""
    yield from _scaling_problems(pool.get("autoscaling"))
    labels = pool.get("labels")
    if isinstance(labels, dict):
        for key, value in labels.items():
            if len(str(key)) > LABEL_KEY_MAX:
                yield ("labels", key), f"EKS label keys have at most {LABEL_KEY_MAX}" \
                    " characters, prefix included"
            elif value == "":
                yield ("labels", key), "EKS label values cannot be empty"
    zones = pool.get("zones")
    if subnet_zones is not None and isinstance(zones, list):
        for index, zone in enumerate(zones):
            if isinstance(zone, str) and zone_problem(zone, None) is None \
                    and zone not in subnet_zones:
                named = ", ".join(sorted(subnet_zones)) or "none"
                yield ("zones", index), f"cluster.settings.subnets names no subnet in zone" \
                    f" '{zone}' (it names: {named})"
    extensions = pool.get("extensions")
    eks = extensions.get(NAMESPACE) if isinstance(extensions, dict) else None
    if isinstance(eks, dict):
        yield from _extension_problems(pool, eks)


def _scaling_problems(scaling: Any) -> Iterator[Problem]:
    if not isinstance(scaling, dict) or not isinstance(scaling.get("enabled"), bool):
        return
    low, high, count = scaling.get("min"), scaling.get("max"), scaling.get("desired")
    if scaling["enabled"] and isinstance(high, int) and high < 1:
        yield ("autoscaling", "max"), "EKS node groups need a maxSize of at least 1"
    elif scaling["enabled"] and isinstance(low, int) and low == high:
        yield ("autoscaling", "max"), f"EKS has no autoscaler switch: min equal to max" \
            f" ({low}) is a fixed-size node group, read back as autoscaling off; write" \
            f" {{enabled: false, desired: {low}}}, or make max greater than min"
    if not scaling["enabled"] and count == 0:
        yield ("autoscaling", "desired"), "an EKS node group's maxSize is at least 1, so a" \
            " fixed size of 0 is not possible; scale to zero with {enabled: true, min: 0," \
            " max: 1}"


def _extension_problems(pool: dict[str, Any], eks: dict[str, Any]) -> Iterator[Problem]:
    base = ("extensions", NAMESPACE)
    taints = eks.get("taints")
    if isinstance(taints, list):
        yield from _taint_problems(taints)
    tags = eks.get("tags")
    if isinstance(tags, dict):
        for key in tags:
            if str(key).startswith(AWS_TAG_PREFIX):
                yield (*base, "tags", key), f"tag keys starting with '{AWS_TAG_PREFIX}' are" \
                    " reserved by AWS"
            elif key == LOGICAL_TAG_KEY:
                yield (*base, "tags", key), f"the tag {LOGICAL_TAG_KEY} is reconciler's:" \
                    " it records the pool's name on a replacement's node group"
        user = [key for key in tags if key != OWNER_TAG_KEY]
        if len(user) > MAX_TAGS - 1:
            yield (*base, "tags"), f"{len(user)} tags; an EKS node group has at most" \
                f" {MAX_TAGS}, one of them the ownership tag {OWNER_TAG_KEY}"
    update = eks.get("updateConfig")
    if isinstance(update, dict) and "maxUnavailable" in update \
            and "maxUnavailablePercentage" in update:
        yield (*base, "updateConfig", "maxUnavailablePercentage"), "set maxUnavailable or" \
            " maxUnavailablePercentage, not both"
    template = eks.get("launchTemplate")
    if isinstance(template, dict):
        if "id" in template and "name" in template:
            yield (*base, "launchTemplate", "name"), "name the launch template by id or by" \
                " name, not both"
        if pool.get("osDiskSizeGiB") is not None:
            yield ("osDiskSizeGiB",), "with a launchTemplate the disk size comes from the" \
                " template; remove osDiskSizeGiB"
        if eks.get("remoteAccess") is not None:
            yield (*base, "remoteAccess"), "with a launchTemplate, remote access comes from" \
                " the template; remove remoteAccess"


def _taint_problems(taints: list[Any]) -> Iterator[Problem]:
    path = ("extensions", NAMESPACE, "taints")
    if len(taints) > MAX_TAINTS:
        yield path, f"{len(taints)} taints; an EKS node group has at most {MAX_TAINTS}"
    seen: dict[tuple[str, str], int] = {}
    for index, text in enumerate(taints):
        taint = parse_taint(text) if isinstance(text, str) else None
        if taint is None:
            continue  # the schema words a malformed taint
        if len(taint["key"]) > TAINT_PART_MAX or len(taint.get("value", "")) > TAINT_PART_MAX:
            yield (*path, index), f"EKS taint keys and values have at most {TAINT_PART_MAX}" \
                " characters"
        identity = (taint["key"], taint["effect"])
        if identity in seen:
            effect = KUBERNETES_EFFECTS[taint["effect"]]
            yield (*path, index), f"taint key '{taint['key']}' with effect {effect} is listed" \
                f" twice (EKS keeps one taint per key and effect; first at item {seen[identity]})"
        seen.setdefault(identity, index)


# -- plan: changes refused on an existing node group ------------------------------------


def change_problem(pool: str, change: FieldChange) -> PlanError | None:
    """A change EKS makes only through UpdateNodegroupVersion: not sent by reconciler yet."""
    if change.path in VERSION_FIELDS:
        return PlanError(pool, change.path, change.before, change.after,
                         f"{change.field} cannot change through reconciler yet (EKS changes it"
                         " with UpdateNodegroupVersion, which reconciler does not send):"
                         f" run `aws eks update-nodegroup-version` for '{pool}', then run plan"
                         " again")
    return None


# -- comparing and exporting extensions.eks values --------------------------------------


def extension_value(key: str, value: Any) -> Any:
    """``extensions.eks.KEY`` as compared and exported: taints as a sorted set in canonical
    form, tags without reconciler's marker tags and AWS's ``aws:`` tags, none the same as
    empty."""
    if key == "taints" and isinstance(value, list | tuple | None):
        return canonical_taints(value)
    if key == "tags" and isinstance(value, dict | None):
        return {str(k): v for k, v in (value or {}).items()
                if k not in MARKER_TAGS and not str(k).startswith(AWS_TAG_PREFIX)}
    return value


def owner_of(pool: NodePool) -> str | None:
    """The ownership tag's value on a live node group (another tool's name, when adopting)."""
    tags = ((pool.extensions or {}).get(NAMESPACE) or {}).get("tags") or {}
    owner = tags.get(OWNER_TAG_KEY)
    return str(owner) if owner is not None else None


# -- replacing a node group (immutableChanges: replace) --------------------------------

# The live node group's settings a replacement keeps where the file is silent: what
# workloads rely on (taints, tags), how it rolls (updateConfig), what its nodes run as and
# on (amiType, nodeRole, version: the Kubernetes minor). releaseVersion (the AMI release)
# starts afresh, as a new node group gets the latest for its version.
KEPT_ON_REPLACE = ("taints", "tags", "updateConfig", "amiType", "nodeRole", "version")
# How nodes are launched: kept together, and only when the file names neither (a launch
# template and remoteAccess exclude each other; a template may set the AMI itself).
KEPT_LAUNCH = ("launchTemplate", "remoteAccess")


def replacement_extensions(desired: NodePool, live: NodePool) -> dict[str, dict[str, Any]]:
    """``extensions.eks`` of the node group replacing ``live``: the file's values, and the
    live ones of ``KEPT_ON_REPLACE`` (and ``KEPT_LAUNCH``, when the file sets neither) it
    lacks. A kept launch template is named by id and version (CreateNodegroup takes an id
    or a name, not both); with the file's own launch template, the live amiType is not
    kept."""
    have = (live.extensions or {}).get(NAMESPACE) or {}
    given = (desired.extensions or {}).get(NAMESPACE) or {}
    keys: tuple[str, ...] = KEPT_ON_REPLACE
    if not any(key in given for key in KEPT_LAUNCH):
        keys += KEPT_LAUNCH
    elif "launchTemplate" in given:
        keys = tuple(key for key in keys if key != "amiType")
    eks = {key: have[key] for key in keys
           if key in have and have[key] not in (None, {}, [])}
    template = eks.get("launchTemplate")
    if isinstance(template, dict) and template.get("id") and template.get("name"):
        eks["launchTemplate"] = {k: v for k, v in template.items() if k != "name"}
    eks.update(given)
    if eks:
        return {**(desired.extensions or {}), NAMESPACE: eks}
    return dict(desired.extensions or {})

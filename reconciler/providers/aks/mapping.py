"""Pure conversions between the NodePool model and ARM agentPool JSON (REST shape).

``pool_from_arm`` reads a listed pool; ``arm_for_create`` and ``arm_for_update`` build
PUT bodies (``{"properties": {...}}``). No I/O: the ``aks`` driver, the ``local``
provider and tests all share these.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.model import (
    DRIVER_LABELS,
    OWNER_TAG_KEY,
    OWNER_TAG_VALUE,
    POOL_LABEL,
    ZONE_LABEL,
    Autoscaling,
    NodePool,
    PoolStatus,
)
from reconciler.zones import normalize_zones, to_provider_zone

# extensions.aks: every writable agentPool property the neutral model lacks, as listed by
# this package's schema.json (derived from the SDK's models by ``sdkfacts``).
AKS_EXTENSION_KEYS = tuple(json.loads(
    (Path(__file__).with_name("schema.json")).read_text(encoding="utf-8")
)["extensions"]["properties"])
SERVER_LABEL_PREFIX = "kubernetes.azure.com/"
DRIVER_LABEL_PREFIX = "kompox.dev/"
SPOT_LABEL = ("kubernetes.azure.com/scalesetpriority", "spot")
SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
# Server-owned properties: never sent back (nodeImageVersion would trigger a rollback).
READ_ONLY_PROPERTIES = (
    "provisioningState", "eTag", "currentOrchestratorVersion", "nodeImageVersion", "status",
)
# Writable, but only sent when a patch asks for it (echoing it back could restart a pool).
SEND_WHEN_SET = ("powerState",)
MODES = {"system": "System", "user": "User"}
# The logical pool name of a pool created under another name by a replacement, a tag next
# to the ownership marker; a pool without it is named by its agent pool name.
LOGICAL_TAG_KEY = "reconciler-pool"
MARKER_TAGS = (OWNER_TAG_KEY, LOGICAL_TAG_KEY)
PRIORITIES = {"regular": "Regular", "spot": "Spot"}


def pool_from_arm(raw: dict[str, Any], location: str | None) -> NodePool:
    """A listed ARM agent pool in the model's terms (zones in ``<location>-<n>`` form)."""
    props = raw.get("properties") or {}
    tags = dict(props.get("tags") or {})
    owner = tags.get(OWNER_TAG_KEY)
    if owner == OWNER_TAG_VALUE:
        del tags[OWNER_TAG_KEY]  # ours: the model says managed; another owner stays visible
    # The logical name counts only next to our marker: another tool's tag names nothing.
    logical = tags.pop(LOGICAL_TAG_KEY, None) if owner == OWNER_TAG_VALUE else None
    logical = logical or raw.get("name")
    priority = props.get("scaleSetPriority")
    return NodePool(
        name=logical,
        provider_name=raw.get("name"),
        mode=props["mode"].lower() if props.get("mode") else None,
        labels=dict(props.get("nodeLabels") or {}),
        zones=normalize_zones(props.get("availabilityZones") or (), location),
        instance_type=props.get("vmSize"),
        os_disk_type=props.get("osDiskType"),
        os_disk_size_gib=props.get("osDiskSizeGB"),
        priority=priority.lower() if priority else "regular",
        autoscaling=Autoscaling(
            enabled=bool(props.get("enableAutoScaling") or False),
            min=props.get("minCount"), max=props.get("maxCount"), desired=props.get("count"),
        ),
        status=PoolStatus(props.get("provisioningState"), props.get("count")),
        extensions=_extensions_from_arm(props, tags),
        managed=owner == OWNER_TAG_VALUE,
        etag=props.get("eTag"),
    )


def same_for_plan(before: dict[str, Any], after: dict[str, Any],
                  location: str | None) -> bool:
    """Whether two reads of a pool differ only in what AKS changes by itself: the count
    while the autoscaler is on, provisioning state, versions, node image and eTag."""
    def view(raw: dict[str, Any]) -> NodePool:
        pool = pool_from_arm(raw, location)
        scaling = pool.autoscaling
        if scaling is not None and scaling.enabled:
            scaling = Autoscaling(scaling.enabled, scaling.min, scaling.max)
        return replace(pool, autoscaling=scaling, status=None)

    return view(before) == view(after)


def _extensions_from_arm(props: dict[str, Any], tags: dict[str, str]) -> dict | None:
    """The AKS-only properties that are present, minus the server's spot noise."""
    aks = {key: copy.deepcopy(props[key]) for key in AKS_EXTENSION_KEYS if key in props}
    if "tags" in aks:
        aks["tags"] = tags
    if "nodeTaints" in aks:
        aks["nodeTaints"] = [t for t in aks["nodeTaints"] or [] if t != SPOT_TAINT]
    return {"aks": aks} if aks else None


def arm_for_create(pool: NodePool) -> dict[str, Any]:
    """The PUT body creating ``pool``, marked as owned and carrying the scheduling labels
    (``pool.labels``' values, else the defaults)."""
    props: dict[str, Any] = {}
    _apply_patch(props, pool)
    if pool.priority is not None:  # explicit in a create body, even the default
        props["scaleSetPriority"] = PRIORITIES.get(pool.priority, pool.priority)
    _apply_labels(props, pool.labels or {})
    props.setdefault("tags", {})[OWNER_TAG_KEY] = OWNER_TAG_VALUE
    if pool.provider_name and pool.name and pool.provider_name != pool.name:
        props["tags"][LOGICAL_TAG_KEY] = pool.name  # a replacement: the pool's own name
    scaling = pool.autoscaling
    if scaling is not None and scaling.enabled and scaling.min is not None:
        props["count"] = scaling.min  # the autoscaler starts from the floor
    _default_driver_labels(props, pool)
    return {"properties": props}


def arm_for_update(listed: dict[str, Any], patch: NodePool) -> dict[str, Any] | None:
    """The PUT body changing only the fields set in ``patch``; None when nothing changes.

    Starts from the pool as listed, so unset fields keep their live value. Read-only
    properties are stripped. Scheduling labels change only when ``patch.labels`` names them.
    """
    live = {k: copy.deepcopy(v) for k, v in (listed.get("properties") or {}).items()
            if k not in READ_ONLY_PROPERTIES and k not in SEND_WHEN_SET}
    props = copy.deepcopy(live)
    _apply_patch(props, patch)
    listed_props = listed.get("properties") or {}
    for key in SEND_WHEN_SET:  # asked for but already so: not a change
        if key in props and props[key] == listed_props.get(key):
            del props[key]
    if patch.labels is not None:
        _apply_labels(props, patch.labels)
    if patch.managed:
        props["tags"] = {**(props.get("tags") or {}), OWNER_TAG_KEY: OWNER_TAG_VALUE}
    if props == live and not _reconciles_failed(listed, patch):
        return None
    return {"properties": props}


def _reconciles_failed(listed: dict[str, Any], patch: NodePool) -> bool:
    """A PUT of the pool as it is: AKS's own remedy for a pool whose last operation failed."""
    wanted = patch.status.provisioning_state if patch.status else None
    return wanted == "Succeeded" and \
        (listed.get("properties") or {}).get("provisioningState") == "Failed"


def _apply_patch(props: dict[str, Any], pool: NodePool) -> None:
    """Write every set field of ``pool`` except labels into ``props``."""
    if pool.mode is not None:
        _put(props, "mode", MODES.get(pool.mode, pool.mode))
    if pool.instance_type is not None:
        _put(props, "vmSize", pool.instance_type)
    if pool.os_disk_type is not None:
        _put(props, "osDiskType", pool.os_disk_type)
    if pool.os_disk_size_gib is not None:
        _put(props, "osDiskSizeGB", pool.os_disk_size_gib)
    priority = PRIORITIES.get(pool.priority or "", pool.priority)
    if priority is not None and priority != props.get("scaleSetPriority", "Regular"):
        props["scaleSetPriority"] = priority  # absent is Regular, as pool_from_arm reads it
    if pool.zones is not None:
        zones = sorted({to_provider_zone(z) for z in pool.zones})
        if set(zones) != set(props.get("availabilityZones") or ()):  # zones are a set
            props["availabilityZones"] = zones
    if pool.autoscaling is not None:
        _apply_autoscaling(props, pool.autoscaling)
    _apply_extensions(props, (pool.extensions or {}).get("aks") or {})


def _apply_autoscaling(props: dict[str, Any], scaling: Autoscaling) -> None:
    """enabled/min/max map to the autoscaler; desired is the count only when it is off."""
    before = (bool(props.get("enableAutoScaling")), props.get("minCount"), props.get("maxCount"))
    if scaling.enabled is not None and before[0] != scaling.enabled:
        props["enableAutoScaling"] = scaling.enabled  # absent already means off
    if props.get("enableAutoScaling"):
        if scaling.min is not None:
            _put(props, "minCount", scaling.min)
        if scaling.max is not None:
            _put(props, "maxCount", scaling.max)
        if before != (True, props.get("minCount"), props.get("maxCount")):
            _clamp_count(props)  # only a planned autoscaler change may move the count
        return
    if scaling.desired is not None:
        _put(props, "count", scaling.desired)
    if scaling.enabled is False:
        # Turning the autoscaler off: its bounds go away (null, so a merge clears them).
        for key in ("minCount", "maxCount"):
            if props.get(key) is not None:
                props[key] = None


def _clamp_count(props: dict[str, Any]) -> None:
    """Keep an existing count inside new autoscaler bounds, as AKS requires."""
    count, low, high = props.get("count"), props.get("minCount"), props.get("maxCount")
    if count is None or low is None or high is None:
        return
    if not low <= count <= high:
        props["count"] = min(max(count, low), high)


def _apply_extensions(props: dict[str, Any], aks: dict[str, Any]) -> None:
    """AKS-only properties; taints and tags are complete sets with server parts kept."""
    for key in dict.fromkeys((*AKS_EXTENSION_KEYS, *SEND_WHEN_SET)):
        if key not in aks:
            continue
        value = copy.deepcopy(aks[key])
        if key == "nodeTaints":
            live = props.get("nodeTaints") or []
            value = [t for t in value if t != SPOT_TAINT]
            value += [SPOT_TAINT] if SPOT_TAINT in live else []
            if set(value) == set(live):  # same taints in another order: no change
                continue
        elif key == "tags":
            live_tags = props.get("tags") or {}
            value = {k: v for k, v in value.items() if k not in MARKER_TAGS}
            value.update({k: live_tags[k] for k in MARKER_TAGS if live_tags.get(k) is not None})
        elif isinstance(value, dict):
            # Other objects (upgradeSettings): the file's keys only; the rest keep their value.
            value = {**(props.get(key) or {}), **value}
        _put(props, key, value)


def _apply_labels(props: dict[str, Any], labels: dict[str, str]) -> None:
    """Replace the user labels, keeping the server's and the driver's; scheduling labels in
    ``labels`` (the plan showed them) are written, others keep their live value."""
    live = props.get("nodeLabels") or {}
    kept = {k: v for k, v in live.items()
            if k.startswith((SERVER_LABEL_PREFIX, DRIVER_LABEL_PREFIX))}
    user = {k: v for k, v in labels.items()
            if not k.startswith((SERVER_LABEL_PREFIX, DRIVER_LABEL_PREFIX))}
    scheduling = {k: v for k, v in labels.items() if k in DRIVER_LABELS}
    _put(props, "nodeLabels", {**user, **kept, **scheduling})


def _default_driver_labels(props: dict[str, Any], pool: NodePool) -> None:
    """A new pool carries kompox.dev/node-pool (its name) and, in one zone only,
    kompox.dev/node-zone (that zone's number), unless its labels give other values."""
    labels = dict(props.get("nodeLabels") or {})
    if pool.name:
        labels.setdefault(POOL_LABEL, pool.name)
    zone = zone_label(pool.zones or ())
    if zone is not None:
        labels.setdefault(ZONE_LABEL, zone)
    props["nodeLabels"] = labels


def provider_name(pool: NodePool) -> str:
    """The agent pool a model pool is written to: its provider name, else its name."""
    return str(pool.provider_name or pool.name or "")


def zone_label(zones: tuple[str, ...]) -> str | None:
    """``kompox.dev/node-zone`` for a single-zone pool, as Kompox writes and selects it: the
    zone number AKS uses (``"1"``). A pool in several zones gets none: one value would
    mislabel the nodes in the other zones."""
    numbers = {to_provider_zone(zone) for zone in zones}
    return numbers.pop() if len(numbers) == 1 else None


def _put(props: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless the value is already there (empty and absent count as equal)."""
    current = props.get(key)
    if current == value or (_is_empty(current) and _is_empty(value)):
        return
    props[key] = value


def _is_empty(value: Any) -> bool:
    """None, {} and [] all mean "nothing" to AKS."""
    return value is None or value == {} or value == []

"""Pure conversions between the NodePool model and EKS node group JSON (botocore's shape).

``pool_from_eks`` reads a described node group; ``create_request`` builds the arguments of
CreateNodegroup; ``update_request`` the UpdateNodegroupConfig, TagResource and
UntagResource calls that turn a listed node group into what a plan asked for, and
``after_update`` the node group as EKS will then report it. No I/O: the driver and the
tests share these (see docs/eks.md).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

NAMESPACE = "eks"
# extensions.eks keys read from a node group (file name -> node group key).
EXTENSION_KEYS = ("taints", "tags", "amiType", "updateConfig", "nodeRole", "remoteAccess",
                  "launchTemplate", "version", "releaseVersion")
CAPACITY_TYPES = {"regular": "ON_DEMAND", "spot": "SPOT"}
PRIORITIES = {value: key for key, value in CAPACITY_TYPES.items()}
EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
           "NoExecute": "NO_EXECUTE"}
KUBERNETES_EFFECTS = {value: key for key, value in EFFECTS.items()}
DRIVER_LABEL_PREFIX = "kompox.dev/"
# Label and tag keys EKS and AWS own: never diffed, never removed.
SERVER_LABEL_PREFIX = "eks.amazonaws.com/"
AWS_TAG_PREFIX = "aws:"
# The logical pool name of a node group created under another name by a replacement, a tag
# next to the ownership marker; a node group without it is named by its node group name.
LOGICAL_TAG_KEY = "reconciler-pool"
MARKER_TAGS = (OWNER_TAG_KEY, LOGICAL_TAG_KEY)
_TAINT = re.compile(r"^(?P<key>[^=:]+)(?:=(?P<value>[^:]*))?:(?P<effect>[A-Za-z]+)$")
# A fixed-size pool created without a node count starts with this many nodes (as on AKS).
DEFAULT_FIXED_SIZE = 1


# -- taints: Kubernetes "key=value:Effect" <-> EKS {key, value, effect} -----------------


def parse_taint(text: str) -> dict[str, str] | None:
    """``"dedicated=web:NoSchedule"`` -> ``{"key", "value", "effect": "NO_SCHEDULE"}``;
    None when it is not a taint (the schema and rules word that)."""
    match = _TAINT.fullmatch(str(text).strip())
    if match is None or match["effect"] not in EFFECTS:
        return None
    taint = {"key": match["key"], "effect": EFFECTS[match["effect"]]}
    if match["value"]:
        taint["value"] = match["value"]
    return taint


def taint_text(taint: Mapping[str, Any]) -> str:
    """An EKS taint in Kubernetes form; an empty value is written without ``=``."""
    effect = str(taint.get("effect") or "")
    value = taint.get("value")
    head = f"{taint.get('key')}={value}" if value else str(taint.get("key"))
    return f"{head}:{KUBERNETES_EFFECTS.get(effect, effect)}"


def canonical_taints(taints: Iterable[Any] | None) -> list[str]:
    """Taints as a sorted set of canonical strings (``k=:NoSchedule`` is ``k:NoSchedule``)."""
    out = set()
    for taint in taints or ():
        parsed = parse_taint(taint) if isinstance(taint, str) else taint
        out.add(taint_text(parsed) if isinstance(parsed, Mapping) else str(taint))
    return sorted(out)


def _taint_identity(taint: Mapping[str, Any]) -> tuple[str, str]:
    """EKS replaces a taint of the same key and effect: that pair names it."""
    return str(taint.get("key")), str(taint.get("effect"))


def _plain_taint(taint: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(taint[k]) for k in ("key", "value", "effect") if taint.get(k)}


# -- reading a node group ---------------------------------------------------------------


def pool_from_eks(raw: Mapping[str, Any], zone_of: Mapping[str, str]) -> NodePool:
    """A described node group in the model's terms; ``zone_of`` maps subnet -> zone."""
    tags = {str(k): str(v) for k, v in (raw.get("tags") or {}).items()}
    owner = tags.get(OWNER_TAG_KEY)
    if owner == OWNER_TAG_VALUE:
        del tags[OWNER_TAG_KEY]  # ours: the model says managed; another owner stays visible
    # The logical name counts only next to our marker: another tool's tag names nothing.
    logical = tags.pop(LOGICAL_TAG_KEY, None) if owner == OWNER_TAG_VALUE else None
    scaling = raw.get("scalingConfig") or {}
    low, high, count = scaling.get("minSize"), scaling.get("maxSize"), scaling.get("desiredSize")
    instance_types = raw.get("instanceTypes") or []
    modified = raw.get("modifiedAt")
    return NodePool(
        name=logical or raw.get("nodegroupName"),
        provider_name=raw.get("nodegroupName"),
        mode="user",  # every node group runs workloads: EKS runs the control plane itself
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        zones=tuple(sorted({zone_of.get(s, s) for s in raw.get("subnets") or ()})),
        instance_type=instance_types[0] if instance_types else None,
        os_disk_size_gib=_int(raw.get("diskSize")),
        priority=PRIORITIES.get(str(raw.get("capacityType") or "ON_DEMAND")),
        autoscaling=Autoscaling(enabled=low != high, min=_int(low), max=_int(high),
                                desired=_int(count)),
        status=PoolStatus(raw.get("status"), _int(count)),
        extensions={NAMESPACE: _extensions(raw, tags)},
        managed=owner == OWNER_TAG_VALUE,
        etag=_timestamp(modified),
    )


def _timestamp(value: Any) -> str | None:
    """modifiedAt as text: the node group's version stamp (fingerprints a plan's input)."""
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _int(value: Any) -> int | None:
    """A count or size as EKS reports it (an emulator may send "20"); else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _extensions(raw: Mapping[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    eks: dict[str, Any] = {"taints": canonical_taints(raw.get("taints")), "tags": tags}
    for key in EXTENSION_KEYS:
        if key not in eks and raw.get(key) not in (None, {}, []):
            eks[key] = copy.deepcopy(raw[key])
    return eks


# -- creating ---------------------------------------------------------------------------


def create_request(pool: NodePool, *, subnets: list[str], zones: Iterable[str],
                   node_role: str) -> dict[str, Any]:
    """CreateNodegroup's arguments (but ``clusterName``) for ``pool``, marked as owned and
    carrying the driver labels; ``zones`` are those of ``subnets``. A replacement's node
    group (``provider_name`` other than ``name``) records the logical name in a tag."""
    eks = (pool.extensions or {}).get(NAMESPACE) or {}
    labels = {k: v for k, v in (pool.labels or {}).items()
              if k in DRIVER_LABELS
              or not k.startswith((DRIVER_LABEL_PREFIX, SERVER_LABEL_PREFIX))}
    tags = {k: str(v) for k, v in (eks.get("tags") or {}).items() if k not in MARKER_TAGS}
    tags[OWNER_TAG_KEY] = OWNER_TAG_VALUE
    name = provider_name(pool)
    if pool.name and name != pool.name:
        tags[LOGICAL_TAG_KEY] = str(pool.name)  # a replacement: the pool's own name
    request: dict[str, Any] = {
        "nodegroupName": name,
        "nodeRole": eks.get("nodeRole") or node_role,
        "subnets": list(subnets),
        "labels": {**driver_labels(str(pool.name), zones), **labels},  # the pool's pins win
        "tags": tags,
    }
    scaling = _create_scaling(pool.autoscaling)
    if scaling:
        request["scalingConfig"] = scaling
    if pool.instance_type is not None:
        request["instanceTypes"] = [pool.instance_type]
    if pool.os_disk_size_gib is not None:
        request["diskSize"] = pool.os_disk_size_gib
    if pool.priority is not None:
        request["capacityType"] = CAPACITY_TYPES.get(pool.priority, pool.priority.upper())
    taints = [t for t in (parse_taint(text) for text in eks.get("taints") or ()) if t]
    if taints:
        request["taints"] = taints
    for key in ("amiType", "updateConfig", "remoteAccess", "launchTemplate", "version",
                "releaseVersion"):
        if eks.get(key) not in (None, {}, []):
            request[key] = copy.deepcopy(eks[key])
    return request


def provider_name(pool: NodePool) -> str:
    """The node group a model pool is written to: its provider name, else its name."""
    return str(pool.provider_name or pool.name or "")


def _create_scaling(scaling: Autoscaling | None) -> dict[str, int] | None:
    """Autoscaling on: min/max, starting at min; off: min = max = desired (default 1)."""
    if scaling is None or scaling.enabled is None:
        return None  # no opinion: EKS's defaults
    if scaling.enabled:
        low, high = scaling.min or 0, scaling.max or max(scaling.min or 1, 1)
        return {"minSize": low, "maxSize": high, "desiredSize": low}
    count = scaling.desired if scaling.desired is not None else DEFAULT_FIXED_SIZE
    return {"minSize": count, "maxSize": count, "desiredSize": count}


def driver_labels(name: str, zones: Iterable[str]) -> dict[str, str]:
    """kompox.dev/node-pool, and kompox.dev/node-zone for a pool in exactly one zone (a
    node group's labels reach every node, so a multi-zone pool has no zone label)."""
    labels = {POOL_LABEL: name}
    distinct = sorted(set(zones))
    if len(distinct) == 1:
        labels[ZONE_LABEL] = distinct[0]
    return labels


# -- updating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateRequest:
    """The writes one update needs: UpdateNodegroupConfig arguments (but the names),
    tags to add or change, tag keys to remove. Empty: nothing to send."""

    config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    untag: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when no call is needed."""
        return not (self.config or self.tags or self.untag)


def update_request(raw: Mapping[str, Any], patch: NodePool,
                   zone_of: Mapping[str, str]) -> UpdateRequest:
    """The calls turning the listed node group ``raw`` into ``patch``'s set fields.

    Labels and taints are complete sets sent as add-or-update and remove lists; the
    scaling configuration keeps the live node count inside new autoscaler bounds; tags
    keep AWS's own and the ownership marker. Scheduling labels change only when
    ``patch.labels`` names them (the plan showed it). Immutable fields are the planner's to
    refuse: they are not sent here.
    """
    eks = (patch.extensions or {}).get(NAMESPACE) or {}
    config: dict[str, Any] = {}
    scaling = _update_scaling(raw.get("scalingConfig") or {}, patch.autoscaling)
    if scaling:
        config["scalingConfig"] = scaling
    if "taints" in eks:
        taints = _taints_payload(raw.get("taints") or [], eks.get("taints") or [])
        if taints:
            config["taints"] = taints
    if "updateConfig" in eks and isinstance(eks["updateConfig"], dict):
        wanted = {k: v for k, v in eks["updateConfig"].items() if v is not None}
        live = raw.get("updateConfig") or {}
        if any(live.get(k) != v for k, v in wanted.items()):
            config["updateConfig"] = wanted
    live_labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    if patch.labels is not None:
        labels = _labels_payload(live_labels, _wanted_labels(live_labels, patch.labels))
        if labels:
            config["labels"] = labels
    tags, untag = _tag_changes(raw.get("tags") or {}, eks.get("tags") if "tags" in eks else None,
                               bool(patch.managed))
    return UpdateRequest(config, tags, untag)


def _update_scaling(live: Mapping[str, Any], scaling: Autoscaling | None) -> dict[str, int]:
    if scaling is None or scaling.enabled is None:
        return {}
    count = live.get("desiredSize")
    if scaling.enabled:
        low = scaling.min if scaling.min is not None else live.get("minSize")
        high = scaling.max if scaling.max is not None else live.get("maxSize")
        wanted = {"minSize": low, "maxSize": high}
        if isinstance(count, int) and isinstance(low, int) and isinstance(high, int) \
                and not low <= count <= high:
            wanted["desiredSize"] = min(max(count, low), high)  # EKS requires min<=n<=max
    else:
        size = scaling.desired if scaling.desired is not None else count
        if size is None:
            return {}
        wanted = {"minSize": size, "maxSize": size, "desiredSize": size}
    changed = {k: int(v) for k, v in wanted.items() if v is not None and live.get(k) != v}
    if not changed:
        return {}
    # Sent whole, so EKS checks the new bounds against the count they are meant with.
    return {k: int(v) for k, v in {**live, **wanted}.items()
            if k in ("minSize", "maxSize", "desiredSize") and v is not None}


def _taints_payload(live: list[Mapping[str, Any]], wanted_text: Iterable[str]
                    ) -> dict[str, list[dict[str, str]]]:
    wanted = [t for t in (parse_taint(text) for text in wanted_text) if t]
    live_plain = [_plain_taint(t) for t in live]
    keep = {_taint_identity(t) for t in wanted}
    remove = [t for t in live_plain if _taint_identity(t) not in keep]
    add = [t for t in wanted if t not in live_plain]
    payload: dict[str, list[dict[str, str]]] = {}
    if add:
        payload["addOrUpdateTaints"] = add
    if remove:
        payload["removeTaints"] = remove
    return payload


def _wanted_labels(live: dict[str, str], user: dict[str, str]) -> dict[str, str]:
    """The complete label set after the update: the patch's user labels, EKS's own and the
    live scheduling labels kept, the scheduling labels the patch names written."""
    own = (DRIVER_LABEL_PREFIX, SERVER_LABEL_PREFIX)
    kept = {k: v for k, v in live.items() if k.startswith(own)}
    users = {k: v for k, v in user.items() if not k.startswith(own)}
    scheduling = {k: v for k, v in user.items() if k in DRIVER_LABELS}
    return {**users, **kept, **scheduling}


def _labels_payload(live: dict[str, str], wanted: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    add = {k: v for k, v in wanted.items() if live.get(k) != v}
    remove = sorted(k for k in live if k not in wanted)
    if add:
        payload["addOrUpdateLabels"] = add
    if remove:
        payload["removeLabels"] = remove
    return payload


def _tag_changes(live: Mapping[str, Any], wanted: Mapping[str, Any] | None,
                 managed: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    """(tags to set, keys to remove); the markers and AWS's ``aws:`` tags are never removed,
    but a logical-name tag another tool left is, when the node group becomes ours (it would
    rename the pool once next to our marker)."""
    live_tags = {str(k): str(v) for k, v in live.items()}
    add: dict[str, str] = {}
    remove: set[str] = set()
    if wanted is not None:
        user = {str(k): str(v) for k, v in wanted.items() if k not in MARKER_TAGS}
        add = {k: v for k, v in user.items() if live_tags.get(k) != v}
        remove = {k for k in live_tags if k not in user and k not in MARKER_TAGS
                  and not k.startswith(AWS_TAG_PREFIX)}
    if managed and live_tags.get(OWNER_TAG_KEY) != OWNER_TAG_VALUE:
        add[OWNER_TAG_KEY] = OWNER_TAG_VALUE
        if LOGICAL_TAG_KEY in live_tags:
            remove.add(LOGICAL_TAG_KEY)
    return add, tuple(sorted(remove))


def after_update(raw: Mapping[str, Any], request: UpdateRequest) -> dict[str, Any]:
    """The node group as EKS reports it once ``request`` has succeeded."""
    out = copy.deepcopy(dict(raw))
    config = request.config
    if "scalingConfig" in config:
        out["scalingConfig"] = {**(out.get("scalingConfig") or {}), **config["scalingConfig"]}
    if "updateConfig" in config:
        out["updateConfig"] = dict(config["updateConfig"])
    labels = dict(out.get("labels") or {})
    for key in config.get("labels", {}).get("removeLabels", []):
        labels.pop(key, None)
    labels.update(config.get("labels", {}).get("addOrUpdateLabels", {}))
    out["labels"] = labels
    taints = [_plain_taint(t) for t in out.get("taints") or []]
    gone = {_taint_identity(t) for t in config.get("taints", {}).get("removeTaints", [])}
    added = config.get("taints", {}).get("addOrUpdateTaints", [])
    replaced = {_taint_identity(t) for t in added}
    out["taints"] = [t for t in taints if _taint_identity(t) not in gone | replaced] + \
        [dict(t) for t in added]
    tags = {k: v for k, v in (out.get("tags") or {}).items() if k not in request.untag}
    out["tags"] = {**tags, **request.tags}
    return out

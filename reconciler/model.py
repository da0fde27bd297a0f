"""The vendor-neutral NodePool model shared by desired state, live state and drivers.

Every field is optional: ``None`` means "unset / no opinion", distinct from a zero value.
Field names in files and plans are the camelCase names in ``FIELD_NAMES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the plan's types name the hooks' arguments; plan imports this module
    from reconciler.desired.document import LocatedDocument
    from reconciler.diagnostics import Diagnostic
    from reconciler.plan import Action, FieldChange, PlanError

OWNER_TAG_KEY = "managed-by"
OWNER_TAG_VALUE = "reconciler"
POOL_LABEL = "kompox.dev/node-pool"
ZONE_LABEL = "kompox.dev/node-zone"
DRIVER_LABELS = (POOL_LABEL, ZONE_LABEL)
MODES = ("system", "user")  # the model's pool modes (a provider may have fewer)


@dataclass(frozen=True)
class Autoscaling:
    """Autoscaler settings; when enabled, ``desired`` is ignored."""

    enabled: bool | None = None
    min: int | None = None
    max: int | None = None
    desired: int | None = None


@dataclass(frozen=True)
class PoolStatus:
    """Read-only runtime status reported by the provider."""

    provisioning_state: str | None = None
    current_node_count: int | None = None


@dataclass(frozen=True)
class NodePool:
    """One node pool, in the vendor-neutral model's terms.

    ``managed`` is the provider-side ownership marker (AKS: tag ``managed-by=reconciler``)
    and ``etag`` the provider's optimistic-concurrency token; both are read from the
    provider, never written in a desired-state file.
    """

    name: str | None = None
    provider_name: str | None = None
    mode: str | None = None
    labels: dict[str, str] | None = None
    zones: tuple[str, ...] | None = None
    instance_type: str | None = None
    os_disk_type: str | None = None
    os_disk_size_gib: int | None = None
    priority: str | None = None
    autoscaling: Autoscaling | None = None
    status: PoolStatus | None = None
    extensions: dict[str, dict[str, Any]] | None = None
    managed: bool | None = None
    etag: str | None = field(default=None, compare=False)


# Model attribute -> field name used in files, plans and messages.
FIELD_NAMES: dict[str, str] = {
    "name": "name",
    "provider_name": "providerName",
    "mode": "mode",
    "labels": "labels",
    "zones": "zones",
    "instance_type": "instanceType",
    "os_disk_type": "osDiskType",
    "os_disk_size_gib": "osDiskSizeGiB",
    "priority": "priority",
    "autoscaling": "autoscaling",
    "status": "status",
    "extensions": "extensions",
}
ATTRIBUTES: dict[str, str] = {v: k for k, v in FIELD_NAMES.items()}


def pool_to_dict(pool: NodePool, *, include_status: bool = True) -> dict[str, Any]:
    """The pool as a camelCase mapping of its set fields (for JSON, YAML and diffs)."""
    out: dict[str, Any] = {}
    for attr, key in FIELD_NAMES.items():
        value = getattr(pool, attr)
        if value is None or (key == "status" and not include_status):
            continue
        if isinstance(value, Autoscaling):
            value = {f.name: getattr(value, f.name) for f in fields(value)
                     if getattr(value, f.name) is not None}
        elif isinstance(value, PoolStatus):
            value = {"provisioningState": value.provisioning_state,
                     "currentNodeCount": value.current_node_count}
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def pool_from_dict(raw: dict[str, Any]) -> NodePool:
    """Build a NodePool from a camelCase mapping (a validated desired-state entry)."""
    kwargs: dict[str, Any] = {}
    for key, value in whole_numbers(raw).items():
        attr = ATTRIBUTES.get(key)
        if attr is None or attr == "status":
            continue
        if attr == "autoscaling":
            value = Autoscaling(**{k: v for k, v in value.items()
                                   if k in ("enabled", "min", "max", "desired")})
        elif attr == "zones":
            value = tuple(str(z) for z in value)
        elif attr in ("labels",):
            value = {str(k): str(v) for k, v in value.items()}
        elif attr == "extensions":
            value = _plain(value)
        elif attr in ("mode", "priority"):
            value = str(value).lower()
        kwargs[attr] = value
    return NodePool(**kwargs)


def _plain(value: Any) -> Any:
    """Deep-copy YAML containers into plain dicts and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def whole_numbers(value: Any) -> Any:
    """128.0 and 128 are the same size: whole floats become integers, deeply."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


@dataclass(frozen=True)
class Cluster:
    """The ``cluster`` section of a desired-state file, settings already expanded."""

    name: str
    provider: str
    settings: dict[str, Any] = field(default_factory=dict)
    base_dir: Path = Path(".")


@dataclass(frozen=True)
class Capabilities:
    """What the planner needs to know about a provider before any write.

    ``immutable_fields`` holds plan field paths (``("instanceType",)``, ``("zones",)``,
    ``("extensions", "aks", "maxPods")``...) that cannot change on an existing pool.
    ``location`` is the region used to write zones in the model's ``<region>-<n>`` form.
    Every default keeps the rules the core had before providers other than AKS existed.
    """

    immutable_fields: frozenset[tuple[str, ...]] = frozenset()
    name_pattern: str | None = None
    name_rule: str = ""
    max_pools: int = 100
    location: str | None = None
    reserved_label_prefixes: tuple[str, ...] = ()
    # The key of the provider's own fields under a pool's ``extensions`` (AKS: ``aks``), and
    # which of them ``export`` writes for every pool (others only when a file pins them).
    extension_namespace: str | None = None
    exported_extensions: tuple[str, ...] = ()
    # extension values export leaves out because they are the provider's default
    export_defaults: dict[str, Any] = field(default_factory=dict)
    # The provider's own rules, as small hooks its package supplies (none: no rules).
    # validate: (field path in the pool, message) for each rule a file's pool breaks; a
    # path may name a list item by its index (("extensions", "eks", "taints", 1)).
    pool_problems: Callable[[dict[str, Any]], Iterable[tuple[tuple[str | int, ...], str]]] \
        | None = None
    # plan: a change refused on an existing pool beyond immutability (None: allowed).
    change_problem: Callable[[str, FieldChange], PlanError | None] | None = None
    # plan: rules on what pools are after the creates and updates (live values known).
    action_problems: Callable[[Sequence[Action], Sequence[Action]], list[PlanError]] | None \
        = None
    # compare and export: an extension value normalised (provider noise removed), and
    # whether a live value meets what the file asks without being equal to it.
    extension_value: Callable[[str, Any], Any] | None = None
    extension_satisfied: Callable[[str, Any, Any], bool] | None = None
    # plan: the ownership marker's value on a live pool (shown when adopting it).
    owner_of: Callable[[NodePool], str | None] | None = None
    # plan and create: the ``kompox.dev/node-zone`` value for a pool in these zones, in the
    # form workloads select on (AKS: "1"); None for no label (several zones, or none).
    zone_label: Callable[[tuple[str, ...]], str | None] | None = None
    # plan: fields of a live pool the provider cannot change now, as ignore rules, and why
    # (AKS: the scaling of a stopped pool), given (desired, live); None: none.
    frozen_fields: Callable[[NodePool, NodePool], tuple[tuple[str, ...], str] | None] | None \
        = None

    # The provider's name in messages about what it lacks (None: "this provider").
    provider: str | None = None
    # The modes its pools can have: a file naming another is a located error, and the
    # system-pool rules (a cluster keeps one) apply only where "system" is one of them.
    modes: tuple[str, ...] = MODES
    # Pool fields with no meaning for the provider, each with why: a located error where set.
    unsupported_fields: tuple[tuple[str, str], ...] = ()
    # Zones in the provider's own words (EKS: availability zone names): the problem with one
    # as written (None: fine) and its canonical form, compared, exported and labelled. None:
    # zone numbers, as ``n`` or ``<region>-<n>`` (``reconciler.zones``).
    zone_problem: Callable[[str], str | None] | None = None
    canonical_zone: Callable[[str], str] | None = None
    # Whether the driver can replace a pool (``immutableChanges: replace``): create one
    # under another provider name that records the logical name, then delete the old one.
    replaces: bool = False
    # replace: the extension values the new pool gets, given (desired, live): the file's,
    # and the live ones worth keeping where the file is silent (None: the file's only).
    replacement_extensions: Callable[[NodePool, NodePool], dict[str, dict[str, Any]] | None] \
        | None = None


def driver_label_defaults(pool: NodePool, caps: Capabilities) -> dict[str, str]:
    """The scheduling labels a driver writes on a new pool the file says nothing about:
    ``kompox.dev/node-pool`` is the pool's name, ``kompox.dev/node-zone`` its one zone."""
    labels = {POOL_LABEL: str(pool.name)} if pool.name else {}
    zone = caps.zone_label(pool.zones or ()) if caps.zone_label else None
    if zone is not None:
        labels[ZONE_LABEL] = zone
    return labels


IMMUTABLE_DEFAULT = "reject"


@dataclass(frozen=True)
class DesiredState:
    """A validated desired-state file."""

    cluster: Cluster
    prune: str
    protect: tuple[str, ...]
    pools: tuple[NodePool, ...]
    source: str
    digest: str
    notes: tuple[Diagnostic, ...] = ()
    # ignoreChanges: field patterns of policy (every pool) and of each pool, by pool name
    ignore: tuple[str, ...] = ()
    pool_ignore: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # immutableChanges: "reject" (the default) or "replace", of policy and of each pool
    immutable_changes: str = IMMUTABLE_DEFAULT
    pool_immutable: dict[str, str] = field(default_factory=dict)

    def ignore_rules(self, pool: str) -> tuple[str, ...]:
        """The ignoreChanges patterns that apply to ``pool``."""
        return (*self.ignore, *self.pool_ignore.get(pool, ()))

    def replaces(self, pool: str) -> bool:
        """Whether an immutable change to ``pool`` replaces it (else it is rejected)."""
        return self.pool_immutable.get(pool, self.immutable_changes) == "replace"

    def pool_opts_in(self, pool: str) -> bool:
        """Whether the pool's own entry says ``immutableChanges: replace`` (a protected
        pool is replaced only then)."""
        return self.pool_immutable.get(pool) == "replace"
    # The parsed file with its positions, to locate plan errors (``document.location``).
    document: LocatedDocument | None = field(default=None, compare=False, repr=False)

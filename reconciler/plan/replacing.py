"""Planning replacements (``immutableChanges: replace``) and the pools they leave behind.

Live pools are matched to the file by logical name (``NodePool.name``; a provider records
it beside its ownership marker when the provider name differs). A logical pool with more
than one provider pool is half-way through a replacement: the one closest to the file is
the pool, the others are left over and deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reconciler.model import DRIVER_LABELS, POOL_LABEL, ZONE_LABEL, Capabilities, NodePool
from reconciler.naturalsort import natural_key
from reconciler.plan import Action, ActionKind, FieldChange, FieldPath, PlanError, Reason
from reconciler.plan.compare import diff_pool, driver_label_changes, sort_changes, user_labels
from reconciler.plan.naming import replacement_name

_COPIED = ("mode", "zones", "instance_type", "os_disk_type", "os_disk_size_gib", "priority",
           "autoscaling")


def current_pools(desired: Sequence[NodePool], live: Sequence[NodePool],
                  caps: Capabilities) -> tuple[dict[str, NodePool], list[NodePool]]:
    """The live pool of each listed logical name, and the provider pools left over from a
    replacement (listed logical names with more than one provider pool)."""
    wanted = {str(pool.name): pool for pool in desired}
    groups: dict[str, list[NodePool]] = {}
    for pool in live:
        groups.setdefault(str(pool.name), []).append(pool)
    current: dict[str, NodePool] = {}
    left: list[NodePool] = []
    for name, pools in groups.items():
        if name not in wanted or len(pools) == 1:
            current[name] = pools[0]
            continue
        best = min(pools, key=lambda p: _distance(wanted[name], p, caps))
        current[name] = best
        left += [pool for pool in pools if pool is not best]
    return current, left


def _distance(desired: NodePool, live: NodePool,
              caps: Capabilities) -> tuple[int, int, int, tuple[object, ...]]:
    """Closest first: fewest immutable differences, then fewest differences, then a pool
    that did not fail, then by provider name (a stable choice)."""
    changes = diff_pool(desired, live, caps)
    failed = live.status is not None and live.status.provisioning_state == "Failed"
    return (len(forcing_paths(changes, caps)), len(changes), int(failed),
            tuple(natural_key(str(live.provider_name or live.name))))


def leftover_deletes(left: Sequence[NodePool]) -> list[Action]:
    """A delete of each provider pool a replacement left behind (its delete failed or was
    interrupted); only owned ones: another tool's pool is never deleted this way."""
    return [Action(ActionKind.DELETE, str(pool.name), (), Reason.REPLACED, live=pool,
                   provider_name=pool.provider_name)
            for pool in sorted(left, key=lambda p: natural_key(str(p.provider_name)))
            if pool.managed]


def forcing_paths(changes: Sequence[FieldChange], caps: Capabilities) -> tuple[FieldPath, ...]:
    """The paths of the changes the provider cannot make in place."""
    return tuple(change.path for change in changes if is_immutable(change.path, caps))


def is_immutable(path: tuple[str, ...], caps: Capabilities) -> bool:
    """True when ``path`` or a prefix of it is immutable (set lookups, not a scan)."""
    return any(path[:end] in caps.immutable_fields for end in range(1, len(path) + 1))


def replace_action(pool: NodePool, live: NodePool, changes: tuple[FieldChange, ...],
                   forced: tuple[FieldPath, ...], taken: set[str], listed: set[str],
                   caps: Capabilities) -> Action | PlanError:
    """The replacement of ``live`` by a pool as ``pool`` asks, under a free provider name
    (added to ``taken``, the provider names in use or planned; ``listed``: the file's
    pool names, none of which another pool may take), or why there is none."""
    name = str(pool.name)
    old = str(live.provider_name or name)
    new = replacement_name(name, old, taken | (listed - {name}), caps.name_pattern)
    if new is None:
        return PlanError(name, None, None, None,
                         f"'{name}' needs a replacement (immutable fields changed) but no"
                         f" provider pool name derived from it is free ({caps.name_rule})")
    taken.add(new)
    full = replacement_pool(pool, live, caps)
    shown = sort_changes((*changes, *_label_changes(changes, full, live)))
    return Action(ActionKind.REPLACE, name, shown, Reason.IMMUTABLE_CHANGE, desired=full,
                  live=live, provider_name=old, new_provider_name=new, forced_by=forced)


def replacement_pool(pool: NodePool, live: NodePool, caps: Capabilities) -> NodePool:
    """The new pool in full: the file's values; where the file is silent, the live
    pool's (its instance type, labels, taints...); the scheduling labels workloads select
    on (``kompox.dev/node-pool`` as on the old pool, else the logical name), and the zone
    label of the new zones."""
    values = {attr: getattr(live, attr) for attr in _COPIED if getattr(pool, attr) is None}
    given = pool.labels if pool.labels is not None else user_labels(live.labels or {}, caps)
    labels = {key: value for key, value in given.items() if key not in DRIVER_LABELS}
    have = live.labels or {}
    asked = {c.path[1]: str(c.after) for c in driver_label_changes(pool, live, caps)}
    if POOL_LABEL in (pool.labels or {}) or POOL_LABEL in asked:
        labels[POOL_LABEL] = asked.get(POOL_LABEL, (pool.labels or {}).get(POOL_LABEL, ""))
    else:
        labels[POOL_LABEL] = have.get(POOL_LABEL, str(pool.name))
    zones = pool.zones if pool.zones is not None else live.zones
    zone = (pool.labels or {}).get(ZONE_LABEL) or \
        (caps.zone_label(zones or ()) if caps.zone_label else None)
    if zone is not None:
        labels[ZONE_LABEL] = zone
    extensions = caps.replacement_extensions(pool, live) if caps.replacement_extensions \
        else pool.extensions
    return replace(pool, **values, labels=labels, extensions=extensions, status=None,
                   etag=None)


def _label_changes(shown: Sequence[FieldChange], full: NodePool,
                   live: NodePool) -> list[FieldChange]:
    """The scheduling labels the new pool gets that differ from the old pool's and the
    diff does not already show (a zone label following new zones)."""
    paths = {change.path for change in shown}
    have, new = live.labels or {}, full.labels or {}
    return [FieldChange(("labels", key), have.get(key), new.get(key)) for key in DRIVER_LABELS
            if ("labels", key) not in paths and have.get(key) != new.get(key)]


def provider_names(live: Sequence[NodePool]) -> set[str]:
    """Every live provider pool's name."""
    return {str(p.provider_name or p.name) for p in live}

"""Normalised views of pools and the field-level diff between them.

Only fields the desired pool sets are compared; values are normalised first so that a
just-applied file plans to zero changes (zone forms and order, case, provider noise).
"""

from __future__ import annotations

from typing import Any

from reconciler.model import (
    DRIVER_LABELS,
    ZONE_LABEL,
    Autoscaling,
    Capabilities,
    NodePool,
    driver_label_defaults,
    whole_numbers,
)
from reconciler.plan import FieldChange
from reconciler.zones import normalize_zones, to_provider_zone

_SCALARS = ("mode", "instance_type", "os_disk_type", "os_disk_size_gib", "priority")
_SCALAR_KEYS = {"mode": "mode", "instance_type": "instanceType", "os_disk_type": "osDiskType",
                "os_disk_size_gib": "osDiskSizeGiB", "priority": "priority"}
ORDER = ("mode", "instanceType", "osDiskType", "osDiskSizeGiB", "priority", "zones", "labels",
         "autoscaling", "extensions", "managedBy")
_SUB_ORDER = {"enabled": 0, "min": 1, "max": 2, "desired": 3}


def desired_view(pool: NodePool, caps: Capabilities) -> dict[str, Any]:
    """The fields ``pool`` sets, normalised, as a nested mapping keyed by file names."""
    view: dict[str, Any] = {}
    for attr in _SCALARS:
        value = getattr(pool, attr)
        if value is not None:
            view[_SCALAR_KEYS[attr]] = _fold(attr, value)
    if pool.zones is not None:
        view["zones"] = _zones_view(pool.zones, caps)
    if pool.labels is not None:
        view["labels"] = user_labels(pool.labels, caps)
    if pool.autoscaling is not None:
        view["autoscaling"] = _desired_scaling_view(pool.autoscaling)
    if pool.extensions:
        view["extensions"] = {provider: {key: extension_value(caps, key, value)
                                         for key, value in fields.items()}
                              for provider, fields in pool.extensions.items()}
    return whole_numbers(view)


def live_view(pool: NodePool, shape: dict[str, Any], caps: Capabilities) -> dict[str, Any]:
    """The live pool's values for exactly the fields in ``shape`` (a desired view)."""
    view: dict[str, Any] = {}
    for attr in _SCALARS:
        key = _SCALAR_KEYS[attr]
        if key in shape:
            value = getattr(pool, attr)
            view[key] = _fold(attr, value if value is not None or key != "priority" else "regular")
    if "zones" in shape:
        view["zones"] = _zones_view(pool.zones or (), caps)
    if "labels" in shape:
        view["labels"] = user_labels(pool.labels or {}, caps)
    if "autoscaling" in shape:
        view["autoscaling"] = {key: value for key, value in _scaling_view(
            pool.autoscaling or Autoscaling(), shape["autoscaling"]["enabled"]).items()
            if key in shape["autoscaling"]}
    if "extensions" in shape:
        view["extensions"] = _live_extensions(pool, shape["extensions"], caps)
    return whole_numbers(view)


def diff_pool(desired: NodePool, live: NodePool, caps: Capabilities) -> tuple[FieldChange, ...]:
    """Field changes that would turn ``live`` into ``desired`` (only fields desired sets)."""
    want = desired_view(desired, caps)
    have = live_view(live, want, caps)
    changes = list(driver_label_changes(desired, live, caps))
    if want == have:
        return tuple(changes)
    fields = changed_fields(have, want)  # the plain views' common case, without DeepDiff
    if fields is None:
        fields = deepdiff_fields(have, want)
    for path in fields:
        _leaf_changes(path, _lookup(have, path), _lookup(want, path), changes)
    return tuple(sorted(changes, key=_field_order))


def deepdiff_fields(have: dict[str, Any], want: dict[str, Any]) -> set[tuple[str, ...]]:
    """The field paths DeepDiff finds changed, cut at the first list index (a list is one field)."""
    from deepdiff import DeepDiff  # imported only when needed: it is slow to load

    fields: set[tuple[str, ...]] = set()
    # threshold_to_diff_deeper=0: each changed key is reported on its own, never a mapping
    # whole because most of its keys changed (DeepDiff 8's default); _leaf_changes splits
    # mappings per key anyway, and changed_fields need not mimic the threshold.
    for levels in DeepDiff(have, want, view="tree", threshold_to_diff_deeper=0).values():
        for level in levels:
            parts = level.path(output_format="list")
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
            fields.add(tuple(str(p) for p in parts[:cut]))
    return fields


class _Undecided(Exception):
    """The fast comparison met a value only DeepDiff's own rules may judge."""


def changed_fields(have: dict[str, Any], want: dict[str, Any]) -> set[tuple[str, ...]] | None:
    """``deepdiff_fields`` for plain views at a fraction of the cost; None when unsure.

    Kept for the planning target, 10,000 changed pools in < 3 s (benchmarks/run.py --only
    engine [--without diff], median of 3 runs on a busy machine, 2026-12-02): 1.7 s with
    this, 14.5 s with one DeepDiff per pool (0.6 s and 5.5 s on a quiet machine). One
    DeepDiff call on a six-field view costs ~0.5 ms, this walk ~20 µs.

    Views are made of dicts with string keys, lists, strings, integers, booleans and None.
    For those, DeepDiff reports a dict key that is added, removed or holds a different
    value (another type counts as different), recurses into dicts on both sides, and
    reports a list when any item differs. DeepDiff has its own rules for floats and for
    booleans against numbers (``[True]`` equals ``[1]`` there, ``{"a": True}`` does not),
    and there this returns None so the caller asks DeepDiff itself.
    """
    found: set[tuple[str, ...]] = set()
    try:
        _walk_dicts(have, want, (), found)
    except _Undecided:
        return None
    return found


_PLAIN = frozenset({dict, list, str, int, bool, type(None)})
_NUMBERS = frozenset({int, bool, float})


def _walk_dicts(before: dict[Any, Any], after: dict[Any, Any], path: tuple[str, ...],
                found: set[tuple[str, ...]]) -> None:
    keys = before.keys() | after.keys()
    if any(type(key) is not str for key in keys):
        raise _Undecided
    for key in keys:
        if key not in before or key not in after:
            found.add((*path, key))
            continue
        old, new = before[key], after[key]
        if type(old) is dict and type(new) is dict:
            _walk_dicts(old, new, (*path, key), found)
        elif _differs(old, new):
            found.add((*path, key))


def _differs(old: Any, new: Any) -> bool:
    kind = type(old)
    if kind is not type(new):
        if kind in _NUMBERS and type(new) in _NUMBERS:
            raise _Undecided
        if kind not in _PLAIN or type(new) not in _PLAIN:
            raise _Undecided
        return True
    # Any one certain difference decides (DeepDiff reports it too); stopping there is safe.
    if kind is list:
        return len(old) != len(new) or any(_differs(a, b) for a, b in zip(old, new, strict=True))
    if kind is dict:
        if any(type(key) is not str for key in (*old, *new)):
            raise _Undecided
        return old.keys() != new.keys() or any(_differs(old[k], new[k]) for k in old)
    if kind not in _PLAIN:
        raise _Undecided
    return bool(old != new)


def create_changes(pool: NodePool, caps: Capabilities) -> tuple[FieldChange, ...]:
    """Every field a new pool sets, as changes from nothing."""
    leaves: list[FieldChange] = []
    _flatten(desired_view(pool, caps), (), leaves)
    driver = driver_label_changes(pool, None, caps)
    if driver:  # the new pool's labels are not empty after all
        leaves = [change for change in leaves if change.path != ("labels",)]
    leaves += driver  # after the file's own labels
    return tuple(sorted(leaves, key=lambda change: _field_order(change)[0]))  # stable: file order


def driver_label_changes(desired: NodePool, live: NodePool | None,
                         caps: Capabilities) -> tuple[FieldChange, ...]:
    """The scheduling labels (``kompox.dev/node-pool``, ``node-zone``) a write will set.

    A value the file gives is written (a zone in the provider's form); otherwise a new pool
    gets the defaults
    (``driver_label_defaults``), and an existing pool only the defaults it lacks: a value
    already on a pool (Kompox's own ``node-pool=user``, say) is never overwritten unless
    the file asks for another.
    """
    given = {key: value for key, value in (desired.labels or {}).items()
             if key in DRIVER_LABELS}
    if ZONE_LABEL in given and caps.zone_label:  # "japaneast-1" is written as AKS's "1"
        given[ZONE_LABEL] = caps.zone_label((given[ZONE_LABEL],)) or given[ZONE_LABEL]
    defaults = driver_label_defaults(desired, caps)
    have = (live.labels or {}) if live is not None else {}
    changes = []
    for key in DRIVER_LABELS:
        if key in given:
            wanted = given[key]
        elif key in defaults and key not in have:
            wanted = defaults[key]
        else:
            continue
        if have.get(key) != wanted:
            changes.append(FieldChange(("labels", key), have.get(key), wanted))
    return tuple(changes)


def user_labels(labels: dict[str, str], caps: Capabilities) -> dict[str, str]:
    """Labels without driver-owned and provider-reserved keys: the part a user owns."""
    return {key: value for key, value in labels.items()
            if key not in DRIVER_LABELS
            and not any(key.startswith(prefix) for prefix in caps.reserved_label_prefixes)}


def _zones_view(zones: tuple[str, ...], caps: Capabilities) -> list[str]:
    """Zones as a sorted set in the provider's canonical form; for zone numbers without a
    location, only the number can be compared."""
    if caps.canonical_zone is not None:
        return sorted({caps.canonical_zone(zone) for zone in zones})
    location = caps.location
    if location:
        return list(normalize_zones(zones, location))
    return sorted({to_provider_zone(zone) for zone in zones})


def _fold(attr: str, value: Any) -> Any:
    return value.lower() if attr in ("mode", "priority") and isinstance(value, str) else value


def _scaling_view(scaling: Autoscaling, enabled: bool | None) -> dict[str, Any]:
    # The node count is the autoscaler's business while it is on, so it is never compared.
    if enabled:
        return {"enabled": bool(scaling.enabled), "min": scaling.min, "max": scaling.max}
    return {"enabled": bool(scaling.enabled), "desired": scaling.desired}


def _desired_scaling_view(scaling: Autoscaling) -> dict[str, Any]:
    """As the file says it; autoscaling off without a count keeps the live count."""
    view = _scaling_view(scaling, scaling.enabled)
    if not scaling.enabled and scaling.desired is None:
        del view["desired"]
    return view


def extension_value(caps: Capabilities, key: str, value: Any) -> Any:
    """An extension value as the provider compares it (its noise removed), else as is."""
    return caps.extension_value(key, value) if caps.extension_value else value


def _live_extensions(pool: NodePool, shape: dict[str, Any],
                     caps: Capabilities) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for provider, fields in shape.items():
        live_fields = (pool.extensions or {}).get(provider) or {}
        view[provider] = {}
        for key, wanted in fields.items():
            value = extension_value(caps, key, live_fields.get(key))
            if isinstance(wanted, dict) and isinstance(value, dict | None) and key != "tags":
                # Objects such as upgradeSettings: only the keys the file sets are compared.
                value = {k: (value or {}).get(k) for k in wanted}
            elif caps.extension_satisfied and caps.extension_satisfied(key, wanted, value):
                value = wanted  # the live value meets the request (a version prefix)
            view[provider][key] = value
    return view


def _lookup(tree: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _leaf_changes(path: tuple[str, ...], before: Any, after: Any,
                  out: list[FieldChange]) -> None:
    """One change per differing key when a mapping changed, so `labels: {}` reads per label."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key):
                _leaf_changes((*path, key), before.get(key), after.get(key), out)
        return
    out.append(FieldChange(path, before, after))


def _flatten(tree: dict[str, Any], prefix: tuple[str, ...], out: list[FieldChange]) -> None:
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            _flatten(value, path, out)
        else:
            out.append(FieldChange(path, None, value))


def sort_changes(changes: tuple[FieldChange, ...] | list[FieldChange]
                 ) -> tuple[FieldChange, ...]:
    """Changes in the plan's field order."""
    return tuple(sorted(changes, key=_field_order))


def _field_order(change: FieldChange) -> tuple[int, int, str]:
    head, rest = change.path[0], change.path[1:]
    rank = ORDER.index(head) if head in ORDER else len(ORDER)
    sub = _SUB_ORDER.get(rest[0], len(_SUB_ORDER)) if len(rest) == 1 else len(_SUB_ORDER)
    return (rank, sub, change.field)

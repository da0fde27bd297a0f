"""Plan-time rejections: immutable fields, protected pools and the last system pool."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from reconciler.desired import DesiredState
from reconciler.model import Capabilities, NodePool
from reconciler.plan import Action, FieldChange, PlanError

VERSION_FIELD = ("extensions", "aks", "orchestratorVersion")
OS_SKU_FIELD = ("extensions", "aks", "osSKU")
SWAPPABLE_OS_SKUS = frozenset({"Ubuntu", "AzureLinux"})


def immutable_errors(pool: str, changes: Sequence[FieldChange],
                     caps: Capabilities) -> list[PlanError]:
    """One error per change the provider cannot make in place, each with a remedy."""
    errors = []
    for change in changes:
        if _is_immutable(change.path, caps):
            errors.append(PlanError(pool, change.path, change.before, change.after,
                                    f"{change.field} cannot change on an existing pool; add a new"
                                    f" pool with the new {change.field} and remove '{pool}'; the"
                                    " plan creates before it deletes"))
        elif change.path == OS_SKU_FIELD and change.before is not None \
                and not {change.before, change.after} <= SWAPPABLE_OS_SKUS:
            errors.append(PlanError(pool, change.path, change.before, change.after,
                                    "osSKU can only change between Ubuntu and AzureLinux; add a"
                                    f" new pool with the new osSKU and remove '{pool}'; the plan"
                                    " creates before it deletes"))
        elif change.path == VERSION_FIELD and _is_downgrade(change.before, change.after):
            errors.append(PlanError(pool, change.path, change.before, change.after,
                                    "Kubernetes versions can only be upgraded, never downgraded;"
                                    f" keep {change.before} or a later version"))
    return errors


def guard_errors(desired: DesiredState, live: Sequence[NodePool], creates: Sequence[Action],
                 updates: Sequence[Action], deletes: Sequence[Action],
                 caps: Capabilities) -> list[PlanError]:
    """Deletes of protected pools, plans that would leave no system pool, system pools
    without nodes, and clusters past the provider's pool limit."""
    protected = set(desired.protect)
    errors = [
        PlanError(action.pool, None, None, None,
                  f"pool '{action.pool}' is protected by policy.protect and would be deleted"
                  f" ({action.reason.words if action.reason else 'unlisted'}); list it in"
                  " nodePools or remove it from policy.protect")
        for action in deletes if action.pool in protected
    ]
    errors += _spot_system_errors(updates)
    errors += _system_node_errors(updates)
    errors += _windows_system_errors(creates, updates)
    errors += _pool_limit_errors(live, creates, deletes, caps)
    return errors + _system_pool_errors(desired, live, creates, updates, deletes)


def _pool_limit_errors(live: Sequence[NodePool], creates: Sequence[Action],
                       deletes: Sequence[Action], caps: Capabilities) -> list[PlanError]:
    """The limit counted the way apply runs: every create happens before any delete."""
    peak = len(live) + len(creates)
    if peak <= caps.max_pools:
        return []
    after = peak - len(deletes)
    if after > caps.max_pools:
        return [PlanError(None, None, None, None,
                          f"the cluster would have {after} node pools (live and new); the"
                          f" provider allows at most {caps.max_pools}")]
    removed = ", ".join(f"'{action.pool}'" for action in deletes[:3])
    more = f" and {len(deletes) - 3} more" if len(deletes) > 3 else ""
    return [PlanError(None, None, None, None,
                      f"the cluster would reach {peak} node pools while creating (apply creates"
                      f" new pools before it deletes old ones); the provider allows at most"
                      f" {caps.max_pools}: apply in two steps, first without the new pools"
                      f" (deleting {removed}{more}), then with them")]


def _effective_updates(updates: Sequence[Action]) -> Iterator[tuple[Action, str, str]]:
    """Each update with the mode and priority the pool has after it (file, else live)."""
    for action in updates:
        desired, live = action.desired, action.live
        if desired is None or live is None:
            continue
        yield (action, str(desired.mode or live.mode or "").lower(),
               str(desired.priority or live.priority or "").lower())


def _system_node_errors(updates: Sequence[Action]) -> list[PlanError]:
    """A pool that is (or becomes) a system pool needs at least one node, live or planned."""
    errors = []
    for action, mode, _priority in _effective_updates(updates):
        assert action.desired is not None and action.live is not None
        scaling = action.desired.autoscaling or action.live.autoscaling
        if mode != "system" or scaling is None:
            continue
        path, count = (("autoscaling", "min"), scaling.min) if scaling.enabled else \
            (("autoscaling", "desired"), scaling.desired)
        field = ".".join(path)
        if count is not None and count < 1:
            errors.append(PlanError(action.pool, path, None, None,
                                    f"'{action.pool}' would be a system pool with {field} {count};"
                                    f" system pools need at least 1 node: set {field} to 1 or"
                                    " more"))
    return errors


def _windows_system_errors(creates: Sequence[Action],
                           updates: Sequence[Action]) -> list[PlanError]:
    """System pools run Linux; the OS may come from the file or from the live pool."""
    errors = []
    for action in (*creates, *updates):
        desired, live = action.desired, action.live
        mode = str((desired.mode if desired else None) or (live.mode if live else "")).lower()
        os_type = _aks_value(desired, "osType") or _aks_value(live, "osType")
        if mode == "system" and str(os_type).lower() == "windows":
            errors.append(PlanError(action.pool, ("mode",), live.mode if live else None, "system",
                                    f"'{action.pool}' is a Windows pool and system pools must"
                                    " run Linux; add a Linux pool with mode: system"))
    return errors


def _aks_value(pool: NodePool | None, key: str) -> object:
    return ((pool.extensions or {}).get("aks") or {}).get(key) if pool is not None else None


def _spot_system_errors(updates: Sequence[Action]) -> list[PlanError]:
    """A file may leave priority unset on a live spot pool and still ask for mode: system."""
    errors = []
    for action, mode, priority in _effective_updates(updates):
        desired, live = action.desired, action.live
        assert desired is not None and live is not None
        if mode == "system" and priority == "spot":
            errors.append(PlanError(action.pool, ("mode",), live.mode, desired.mode or live.mode,
                                    f"'{action.pool}' is a spot pool and spot pools must be user"
                                    " pools; add a regular-priority pool with mode: system"))
    return errors


def _system_pool_errors(desired: DesiredState, live: Sequence[NodePool],
                        creates: Sequence[Action], updates: Sequence[Action],
                        deletes: Sequence[Action]) -> list[PlanError]:
    deleted = {action.pool for action in deletes}
    live_mode = {str(p.name): str(p.mode).lower() for p in live if p.mode}
    new_mode = {action.pool: (action.desired.mode if action.desired else None)
                for action in (*creates, *updates)}
    after = [name for name in _pool_names(live, creates) if name not in deleted
             and (new_mode.get(name) or live_mode.get(name)) == "system"]
    if after or not (live or creates):
        return []
    message = "the cluster must keep at least one system pool"
    removed = [action for action in deletes if live_mode.get(action.pool) == "system"]
    demoted = [action for action in updates
               if live_mode.get(action.pool) == "system" and new_mode[action.pool] == "user"]
    culprits = [action.pool for action in (*removed, *demoted)]

    def why(pool: str) -> str:
        if len(culprits) == 1:
            return f"it is the last system pool; {message}"
        others = ", ".join(f"'{name}'" for name in culprits if name != pool)
        return f"with {others} also going, no system pool would be left; {message}"

    errors = [PlanError(action.pool, None, None, None,
                        f"cannot delete '{action.pool}': {why(action.pool)}")
              for action in removed]
    errors += [PlanError(action.pool, ("mode",), "system", "user",
                         f"'{action.pool}' cannot become a user pool: {why(action.pool)}")
               for action in demoted]
    return errors or [PlanError(None, ("mode",), None, None,
                                f"{message}; set mode: system on at least one pool")]


def _pool_names(live: Sequence[NodePool], creates: Sequence[Action]) -> list[str]:
    return [str(pool.name) for pool in live] + [action.pool for action in creates]


def _is_immutable(path: tuple[str, ...], caps: Capabilities) -> bool:
    """True when ``path`` or a prefix of it is immutable (set lookups, not a scan)."""
    return any(path[:end] in caps.immutable_fields for end in range(1, len(path) + 1))


def _is_downgrade(before: object, after: object) -> bool:
    def parts(version: object) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", str(version)))
    if before is None or after is None:
        return False
    wanted = parts(after)
    return wanted < parts(before)[:len(wanted)]  # "1.30" against "1.30.4" is not a downgrade

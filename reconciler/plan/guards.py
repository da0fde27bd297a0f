"""Plan-time rejections: immutable fields, protected pools, the last system pool, the pool
limit, and the provider's own rules (through its Capabilities hooks)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.model import Capabilities, DesiredState, NodePool
from reconciler.plan import Action, FieldChange, PlanError, Reason
from reconciler.plan.replacing import is_immutable


def immutable_errors(pool: str, changes: Sequence[FieldChange],
                     caps: Capabilities, *, forced: bool = True) -> list[PlanError]:
    """One error per change the provider cannot make in place, each with a remedy
    (``forced=False``: the pool is replaced, only the provider's other rules apply)."""
    errors = []
    for change in changes:
        if is_immutable(change.path, caps):
            if not forced:
                continue
            errors.append(PlanError(pool, change.path, change.before, change.after,
                                    f"{change.field} cannot change on an existing pool; add a new"
                                    f" pool with the new {change.field} and remove '{pool}'; the"
                                    " plan creates before it deletes"))
        elif caps.change_problem is not None and \
                (problem := caps.change_problem(pool, change)) is not None:
            errors.append(problem)
    return errors


def guard_errors(desired: DesiredState, live: Sequence[NodePool], creates: Sequence[Action],
                 updates: Sequence[Action], deletes: Sequence[Action],
                 caps: Capabilities, replaces: Sequence[Action] = ()) -> list[PlanError]:
    """Deletes of protected pools, plans that would leave no system pool (where the
    provider has system pools), system pools without nodes, and clusters past the
    provider's pool limit (counting each replacement's temporary extra pool). A
    replacement is judged as an update: its logical pool stays."""
    updates = [*updates, *replaces]
    protected = set(desired.protect)
    errors = [
        PlanError(action.pool, None, None, None,
                  f"pool '{action.pool}' is protected by policy.protect and would be deleted"
                  f" ({action.reason.words if action.reason else 'unlisted'}); list it in"
                  " nodePools or remove it from policy.protect")
        for action in deletes
        if action.pool in protected and action.reason is not Reason.REPLACED
    ]
    if caps.action_problems is not None:
        errors += caps.action_problems(creates, updates)
    errors += _pool_limit_errors(live, [*creates, *replaces], deletes, caps)
    # A pool left over by a replacement goes, its logical pool stays.
    deletes = [action for action in deletes if action.reason is not Reason.REPLACED]
    if "system" not in caps.modes:  # no system pools to keep (EKS node groups)
        return errors
    return errors + _system_pool_errors(desired, live, creates, updates, deletes)


def _pool_limit_errors(live: Sequence[NodePool], creates: Sequence[Action],
                       deletes: Sequence[Action], caps: Capabilities) -> list[PlanError]:
    """The limit counted the way apply runs: every create happens before any delete."""
    peak = len(live) + len(creates)
    if peak <= caps.max_pools:
        return []
    # a replacement's old pool goes too: it ends with as many pools as it started
    after = peak - len(deletes) - sum(1 for action in creates if action.new_provider_name)
    if after > caps.max_pools:
        return [PlanError(None, None, None, None,
                          f"the cluster would have {after} node pools (live and new); the"
                          f" provider allows at most {caps.max_pools}")]
    if any(action.new_provider_name for action in creates):
        return [PlanError(None, None, None, None,
                          f"the cluster would reach {peak} node pools while creating and"
                          f" replacing (a replacement has two provider pools until the old"
                          f" one is deleted); the provider allows at most {caps.max_pools}:"
                          " replace fewer pools at once")]
    removed = ", ".join(f"'{action.pool}'" for action in deletes[:3])
    more = f" and {len(deletes) - 3} more" if len(deletes) > 3 else ""
    return [PlanError(None, None, None, None,
                      f"the cluster would reach {peak} node pools while creating (apply creates"
                      f" new pools before it deletes old ones); the provider allows at most"
                      f" {caps.max_pools}: apply in two steps, first without the new pools"
                      f" (deleting {removed}{more}), then with them")]


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


def replace_refused(pool: str, live: NodePool, desired: DesiredState,
                    caps: Capabilities) -> PlanError:
    """Why a pool whose file asks for replacement is not replaced."""
    if not caps.replaces:
        why = f"provider '{caps.provider or 'this provider'}' cannot replace pools yet"
    elif not live.managed:
        why = "it is not marked as managed by reconciler (adopt it first: apply without the" \
              " immutable change)"
    else:
        why = "it is in policy.protect; a protected pool is replaced only when its own entry" \
              " says immutableChanges: replace"
    return PlanError(pool, None, None, None, f"'{pool}' is not replaced: {why}")

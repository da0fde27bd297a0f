"""The plan engine: a pure function of (desired state, live pools, capabilities) -> Plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from reconciler.model import OWNER_TAG_VALUE, Capabilities, DesiredState, NodePool
from reconciler.naturalsort import natural_key
from reconciler.plan import (
    Action,
    ActionKind,
    FieldChange,
    IgnoredChange,
    Plan,
    PlanError,
    Reason,
)
from reconciler.plan.compare import create_changes, diff_pool
from reconciler.plan.fingerprint import live_fingerprint
from reconciler.plan.guards import guard_errors, immutable_errors, replace_refused
from reconciler.plan.ignore import matching_rule, with_live_values
from reconciler.plan.replacing import (
    current_pools,
    forcing_paths,
    leftover_deletes,
    provider_names,
    replace_action,
)

OWNER_FIELD = "managedBy"
STATE_FIELD = "provisioningState"


def make_plan(desired: DesiredState, live: Sequence[NodePool], caps: Capabilities) -> Plan:
    """Diff ``desired`` against ``live``; reject what the provider cannot do, before any write."""
    live_by_name, left = current_pools(desired.pools, live, caps)
    taken, listed = provider_names(live), {str(pool.name) for pool in desired.pools}
    creates: list[Action] = []
    updates: list[Action] = []
    replaces: list[Action] = []
    errors: list[PlanError] = []
    ignored: list[IgnoredChange] = []
    noop = 0
    for pool in desired.pools:
        current = live_by_name.get(str(pool.name))
        if current is None:
            if str(pool.name) in taken:
                errors.append(_name_held(str(pool.name), live))
            creates.append(Action(ActionKind.CREATE, str(pool.name), create_changes(pool, caps),
                                  Reason.NEW, desired=pool))
            continue
        pool, changes, skipped = _ignoring(pool, current, desired, caps)
        ignored.extend(skipped)
        changes += _failed_state(current)
        forced = forcing_paths(changes, caps)
        if forced and _replaces(str(pool.name), current, desired, caps):
            errors.extend(immutable_errors(str(pool.name), changes, caps, forced=False))
            found = replace_action(pool, current, changes, forced, taken, listed, caps)
            if isinstance(found, PlanError):
                errors.append(found)
            else:
                replaces.append(found)
            continue
        errors.extend(immutable_errors(str(pool.name), changes, caps))
        if forced and desired.replaces(str(pool.name)):
            errors.append(replace_refused(str(pool.name), current, desired, caps))
        reason = Reason.CHANGED if current.managed else \
            Reason.ADOPTED_AND_CHANGED if changes else Reason.ADOPTED
        if not current.managed:
            owner = caps.owner_of(current) if caps.owner_of else None  # another tool's
            changes += (FieldChange((OWNER_FIELD,), owner, OWNER_TAG_VALUE),)
        if changes:
            updates.append(Action(ActionKind.UPDATE, str(pool.name), changes, reason,
                                  desired=pool, live=current, provider_name=_other(current)))
        else:
            noop += 1
    leftover = {id(pool) for pool in left}
    deletes, unmanaged, kept = _unlisted([p for p in live if id(p) not in leftover], listed,
                                         desired.prune)
    deletes += leftover_deletes(left)
    unmanaged += [str(pool.provider_name) for pool in left if not pool.managed]
    errors.extend(guard_errors(desired, live, creates, updates, deletes, caps, replaces))
    errors = [locate_error(error, desired) for error in errors]
    return Plan(
        cluster=desired.cluster.name,
        provider=desired.cluster.provider,
        actions=(*creates, *updates, *replaces, *deletes),
        noop=noop + len(kept),
        unmanaged=tuple(unmanaged),
        kept=tuple(kept),
        errors=tuple(errors),
        live_fingerprint=live_fingerprint(live),
        ignored=tuple(ignored),
    )


def _replaces(name: str, live: NodePool, desired: DesiredState, caps: Capabilities) -> bool:
    """Whether an immutable change to ``name`` becomes a replacement: the file opts in,
    the provider can, the pool is ours, and a protected pool opts in itself."""
    return desired.replaces(name) and caps.replaces and bool(live.managed) and \
        (name not in desired.protect or desired.pool_opts_in(name))


def _other(pool: NodePool) -> str | None:
    """The provider name, when it is not the logical name (a replaced pool)."""
    return pool.provider_name if pool.provider_name not in (None, pool.name) else None


def _name_held(name: str, live: Sequence[NodePool]) -> PlanError:
    holder = next((str(p.name) for p in live if p.provider_name == name), name)
    return PlanError(name, None, None, None,
                     f"pool '{name}' cannot be created: the provider pool '{name}' is the"
                     f" replacement of '{holder}'; choose another name, or replace"
                     f" '{holder}' once more (it moves back to its own name)")


def _ignoring(pool: NodePool, live: NodePool, desired: DesiredState, caps: Capabilities,
              ) -> tuple[NodePool, tuple[FieldChange, ...], list[IgnoredChange]]:
    """The pool's changes without those its ignore rules (or the provider) leave alone;
    the pool as planned (asking for the live value where a change is ignored)."""
    changes = diff_pool(pool, live, caps)
    rules = [(rule, f"ignoreChanges: {rule}") for rule in desired.ignore_rules(str(pool.name))]
    frozen = caps.frozen_fields(pool, live) if caps.frozen_fields else None
    if frozen:
        rules += [(rule, frozen[1]) for rule in frozen[0]]
    if not rules or not changes:
        return pool, changes, []
    skipped: list[IgnoredChange] = []
    for change in changes:
        rule = matching_rule(change.path, tuple(r for r, _ in rules))
        if rule is not None:
            why = next(w for r, w in rules if r == rule)
            skipped.append(IgnoredChange(str(pool.name), change, why))
    if not skipped:
        return pool, changes, []
    pool = with_live_values(pool, [item.change for item in skipped])
    left = tuple(change for change in diff_pool(pool, live, caps)
                 if matching_rule(change.path, tuple(r for r, _ in rules)) is None)
    return pool, left, skipped


def locate_error(error: PlanError, desired: DesiredState) -> PlanError:
    """``error`` with where the file says what is refused: the pool's field when the pool
    is listed, else the policy.protect entry naming it, else the nodePools key."""
    doc = desired.document
    if doc is None or error.pool is None:
        return error
    names = [pool.name for pool in desired.pools]
    if error.pool in names:
        path: tuple[str | int, ...] = ("nodePools", names.index(error.pool),
                                       *(error.path or ("name",)))
        return replace(error, location=doc.location(path))
    if error.pool in desired.protect:
        return replace(error, location=doc.location(
            ("policy", "protect", desired.protect.index(error.pool))))
    return replace(error, location=doc.location(("nodePools",), key=True))


def _failed_state(live: NodePool) -> tuple[FieldChange, ...]:
    """A pool whose last operation failed is not converged: applying re-sends it as it is."""
    state = live.status.provisioning_state if live.status else None
    return (FieldChange((STATE_FIELD,), state, "Succeeded"),) if state == "Failed" else ()


def _unlisted(live: Sequence[NodePool], listed: set[str],
              prune: str) -> tuple[list[Action], list[str], list[str]]:
    """Pools in the cluster but not in the file: deleted, reported unmanaged, or kept."""
    deletes: list[Action] = []
    unmanaged: list[str] = []
    kept: list[str] = []
    for pool in sorted(live, key=lambda p: natural_key(p.name)):
        if pool.name in listed:
            continue
        if prune == "all" or (prune == "owned" and pool.managed):
            reason = Reason.NO_LONGER_LISTED if pool.managed else Reason.NOT_LISTED_PRUNE_ALL
            deletes.append(Action(ActionKind.DELETE, str(pool.name), (), reason, live=pool,
                                  provider_name=_other(pool)))
        elif not pool.managed:
            unmanaged.append(str(pool.provider_name or pool.name))
        else:
            kept.append(str(pool.name))
    return deletes, unmanaged, kept

"""Differences a plan leaves alone: ``ignoreChanges`` rules and the provider's "not now".

Ignoring a difference means planning as if the file asked for the live value at that path:
the write then carries the live value there (a tag added by Azure Policy survives a change
to another tag), and the plan lists the difference as ignored, with why. Never silent.

A rule is a field path as plans show it (``extensions.aks.tags.costcenter``,
``autoscaling.desired``); ``*`` matches any characters, dots included, and a rule also
covers everything under it (``extensions.aks.tags`` covers every tag).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from reconciler.model import ATTRIBUTES, Autoscaling, NodePool
from reconciler.plan import FieldChange, FieldPath


def matching_rule(path: FieldPath, rules: tuple[str, ...]) -> str | None:
    """The first rule that covers ``path``, if any."""
    name = ".".join(path)
    for rule in rules:
        if fnmatchcase(name, rule) or fnmatchcase(name, rule + ".*"):
            return rule
    return None


def with_live_values(pool: NodePool, changes: list[FieldChange]) -> NodePool:
    """``pool`` asking for each change's ``before`` (the live value) instead of its own."""
    for change in changes:
        pool = _set(pool, change.path, change.before)
    return pool


def _set(pool: NodePool, path: FieldPath, value: Any) -> NodePool:
    head, rest = path[0], path[1:]
    attr = ATTRIBUTES.get(head)
    if attr is None:
        return pool  # not a pool field (managedBy, provisioningState): nothing to ask for
    if not rest:
        if attr == "zones" and value is not None:
            value = tuple(str(zone) for zone in value)
        return replace(pool, **{attr: value})
    if attr == "autoscaling":
        scaling = pool.autoscaling or Autoscaling()
        return replace(pool, autoscaling=replace(scaling, **{rest[0]: value}))
    tree: Any = copy.deepcopy(getattr(pool, attr) or {})
    _set_nested(tree, rest, value)
    return replace(pool, **{attr: tree})


def _set_nested(tree: dict[str, Any], path: FieldPath, value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    if value is None:
        tree.pop(path[-1], None)
    else:
        tree[path[-1]] = copy.deepcopy(value)

"""The plan: plain immutable data. Renderers and the executor are built from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.diagnostics import Location
from reconciler.model import NodePool


class ActionKind(StrEnum):
    """What an action does to one pool; the order of members is the order of execution."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # create a new provider pool, then delete the old one
    DELETE = "delete"


class Reason(StrEnum):
    """Why an action is in the plan; for display only, execution never branches on it."""

    NEW = "new"
    CHANGED = "changed"
    ADOPTED = "adopted"
    ADOPTED_AND_CHANGED = "adopted-and-changed"
    NO_LONGER_LISTED = "no-longer-listed"
    NOT_LISTED_PRUNE_ALL = "not-listed-prune-all"
    IMMUTABLE_CHANGE = "immutable-change"
    REPLACED = "replaced"

    @property
    def words(self) -> str:
        """The reason as the text and Markdown views say it."""
        return _REASON_WORDS[self]


_REASON_WORDS = {
    Reason.NEW: "listed, not in the cluster",
    Reason.CHANGED: "changed",
    Reason.ADOPTED: "adopted",
    Reason.ADOPTED_AND_CHANGED: "adopted and changed",
    Reason.NO_LONGER_LISTED: "owned, no longer listed",
    Reason.NOT_LISTED_PRUNE_ALL: "not listed, prune: all",
    Reason.IMMUTABLE_CHANGE: "immutable fields changed, immutableChanges: replace",
    Reason.REPLACED: "left over from a replacement",
}

# A path into a pool: ("labels", "app.kubernetes.io/name"), ("autoscaling", "max").
FieldPath = tuple[str, ...]


def field_name(path: FieldPath | None) -> str | None:
    """The path as people read it (``autoscaling.max``); the tuple stays the data."""
    return ".".join(path) if path else None


@dataclass(frozen=True)
class FieldChange:
    """One field of one pool going from ``before`` to ``after`` (``None``: unset)."""

    path: FieldPath
    before: Any
    after: Any

    @property
    def field(self) -> str:
        """The path for display."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Action:
    """One provider write. ``reason`` is for display only; execution never branches on it."""

    kind: ActionKind
    pool: str
    changes: tuple[FieldChange, ...] = ()
    reason: Reason | None = None
    desired: NodePool | None = field(default=None, compare=False, repr=False)
    live: NodePool | None = field(default=None, compare=False, repr=False)
    # The provider pool written, when its name is not ``pool`` (always set for a replace:
    # the old one), the new provider pool of a replace, and the immutable fields forcing it.
    provider_name: str | None = None
    new_provider_name: str | None = None
    forced_by: tuple[FieldPath, ...] = ()

    @property
    def target(self) -> str:
        """The provider pool this action updates or deletes (a replace: the old one)."""
        return self.provider_name or self.pool


@dataclass(frozen=True)
class PlanError:
    """A change rejected at plan time, before any write."""

    pool: str | None
    path: FieldPath | None
    before: Any
    after: Any
    message: str
    # Where the file says what is refused (the field, the protect entry), when it does.
    location: Location | None = None

    @property
    def field(self) -> str | None:
        """The path for display."""
        return field_name(self.path)


@dataclass(frozen=True)
class IgnoredChange:
    """A difference the plan leaves alone (the write keeps the live value), and why: the
    ``ignoreChanges`` rule that covers it, or the provider's reason."""

    pool: str
    change: FieldChange
    why: str


@dataclass(frozen=True)
class Plan:
    """Everything a reviewer sees and the executor runs."""

    cluster: str
    provider: str
    actions: tuple[Action, ...] = ()
    noop: int = 0
    unmanaged: tuple[str, ...] = ()
    errors: tuple[PlanError, ...] = ()
    kept: tuple[str, ...] = ()  # owned but unlisted, left because policy.prune is none
    live_fingerprint: str = ""
    ignored: tuple[IgnoredChange, ...] = ()

    def count(self, kind: ActionKind) -> int:
        """How many actions of ``kind`` the plan holds."""
        return sum(1 for action in self.actions if action.kind is kind)

    @property
    def drained(self) -> tuple[str, ...]:
        """The pools this plan destroys: their nodes are drained and removed (deletes, and
        the old provider pools of replacements, named ``pool (provider pool old)`` when
        the names differ)."""
        return tuple(_drained_name(a) for a in self.actions
                     if a.kind in (ActionKind.DELETE, ActionKind.REPLACE))

    @property
    def summary(self) -> dict[str, int]:
        """Counts per action kind, pools destroyed, and no-op pools, as in the plan JSON
        ("replace" only when there are replacements: format 2 readers default it to 0)."""
        counts = {kind.value: self.count(kind) for kind in ActionKind
                  if kind is not ActionKind.REPLACE or self.count(kind)}
        return {**counts, "destroy": len(self.drained), "noop": self.noop}

    @property
    def has_changes(self) -> bool:
        """True when applying would write to the provider."""
        return bool(self.actions)

    @property
    def ok(self) -> bool:
        """False when the plan was rejected and cannot be applied."""
        return not self.errors


def _drained_name(action: Action) -> str:
    old = action.target
    if old != action.pool or action.reason is Reason.REPLACED:
        return f"{action.pool} (provider pool {old})"
    return action.pool

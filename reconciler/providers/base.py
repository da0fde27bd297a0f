"""The driver surface every provider implements (list, create, update, delete).

A driver is built for one cluster, so the contract's ``cluster`` argument is bound at
construction. ``list`` / ``create`` / ``update`` / ``delete`` raise only
``reconciler.errors`` types: ``NotImplementedByProvider`` when the provider has no node
pool management, ``ProviderValidationError`` when it rejects the input, and the other
``ProviderError`` subclasses for everything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.model import NodePool


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
    ``extensions.aks.maxPods``...) that cannot change on an existing pool.
    ``location`` is the region used to write zones in the model's ``<region>-<n>`` form.
    """

    immutable_fields: frozenset[tuple[str, ...]] = frozenset()
    name_pattern: str | None = None
    name_rule: str = ""
    max_pools: int = 100
    location: str | None = None
    reserved_label_prefixes: tuple[str, ...] = ()


# Reports progress of a long-running operation: a short human-readable state.
ProgressCallback = Callable[[str], None]


class Driver(ABC):
    """A provider driver bound to one cluster."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """Static facts about this provider (mutability, naming, location)."""

    @abstractmethod
    def list(self, name: str | None = None) -> list[NodePool]:
        """Live pools, optionally filtered by name; a missing cluster raises
        ``ClusterNotFoundError`` (a provider whose clusters come into being with their
        first pool, like ``local``, lists a new one as empty)."""

    @abstractmethod
    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Create ``pool`` (marked as owned) and return it as the provider reports it."""

    @abstractmethod
    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Apply the set fields of ``pool`` to the live pool of the same name.

        ``pool.etag``, when set, is the eTag seen at plan time: a pool changed since then
        raises ``StaleError``. ``pool.labels``, when set, is the complete set of user labels.
        ``pool.managed=True`` adds the ownership marker. Nothing to change: no API call.
        """

    @abstractmethod
    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """Delete the pool; a pool that is already gone counts as success."""

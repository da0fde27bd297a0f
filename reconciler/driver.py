"""The driver contract every provider implements: list, create, update, delete.

A driver is built for one cluster, so the contract's ``cluster`` argument is bound at
construction. The operations raise only ``reconciler.errors`` types:
``NotImplementedByProvider`` when the provider lacks the operation (the default here, so
a provider without node pools, like k3s, is a few lines), ``ProviderValidationError``
when it rejects the input, ``BusyError`` when the provider said "busy, retry later"
(nothing asked for was applied; the executor sends the action again later and runs
fewer at once, so a driver never sleeps on such an answer itself), and the other
``ProviderError`` subclasses for everything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NoReturn

from reconciler.errors import NotImplementedByProvider
from reconciler.model import Capabilities, Cluster, NodePool

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

    def list(self, name: str | None = None) -> list[NodePool]:
        """Live pools, optionally filtered by name; a missing cluster raises
        ``ClusterNotFoundError`` (a provider whose clusters come into being with their
        first pool, like ``local``, lists a new one as empty)."""
        self._not_implemented("list")

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Create ``pool`` (marked as owned) and return it as the provider reports it."""
        self._not_implemented("create")

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Apply the set fields of ``pool`` to the live pool of the same name.

        ``pool.etag``, when set, is the eTag seen at plan time: a pool changed since then
        raises ``StaleError``. ``pool.labels``, when set, is the complete set of user labels.
        ``pool.managed=True`` adds the ownership marker. Nothing to change: no API call.
        """
        self._not_implemented("update")

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """Delete the pool; a pool that is already gone counts as success."""
        self._not_implemented("delete")

    def _not_implemented(self, operation: str) -> NoReturn:
        raise NotImplementedByProvider(f"provider '{self.cluster.provider}' does not support"
                                       f" node pool management ({operation})")

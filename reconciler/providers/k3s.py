"""The ``k3s`` provider: k3s has no node pool API, so every operation says so."""

from __future__ import annotations

from typing import NoReturn

from reconciler.errors import NotImplementedByProvider
from reconciler.model import NodePool
from reconciler.providers.base import Capabilities, Driver, ProgressCallback

UNSUPPORTED = "provider 'k3s' does not support node pool management"


class K3sDriver(Driver):
    """A capability boundary: node pools of a k3s cluster are not managed by this tool."""

    @property
    def capabilities(self) -> Capabilities:
        """No rules to share: nothing can be planned against k3s."""
        return Capabilities()

    def list(self, name: str | None = None) -> list[NodePool]:
        """Not supported on k3s."""
        _unsupported()

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Not supported on k3s."""
        _unsupported()

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Not supported on k3s."""
        _unsupported()

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """Not supported on k3s."""
        _unsupported()


def _unsupported() -> NoReturn:
    """Raise the distinct not-implemented error (never retried)."""
    raise NotImplementedByProvider(UNSUPPORTED)

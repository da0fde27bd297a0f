"""The ``k3s`` provider: k3s has no node pool API, so every operation says so."""

from __future__ import annotations

from reconciler.driver import Driver
from reconciler.model import Capabilities


class K3sDriver(Driver):
    """A capability boundary: every operation raises the driver's "not implemented"."""

    @property
    def capabilities(self) -> Capabilities:
        """No rules to share: nothing can be planned against k3s."""
        return Capabilities()


def provider_capabilities(settings: dict[str, object]) -> Capabilities:
    """k3s has no pool rules (and no pools to plan)."""
    return Capabilities()

"""The embedded ``local`` provider: an AKS-like cluster simulated in a JSON file.

``store`` and ``checks`` are the simulated AKS server (the ARM emulator borrows them);
``driver`` is the provider driver over the state file.
"""

from __future__ import annotations

from reconciler.model import Capabilities


def provider_capabilities(settings: dict[str, object]) -> Capabilities:
    """The AKS rules: the local provider accepts and refuses exactly what AKS would."""
    from reconciler.providers.aks import provider_capabilities as aks

    return aks(settings)

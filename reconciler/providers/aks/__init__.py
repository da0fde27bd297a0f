"""The ``aks`` provider: agent pools of an AKS cluster (Azure SDK only in ``driver``,
``client`` and ``errors``; ``capabilities`` and ``mapping`` are plain Python)."""

from __future__ import annotations

from reconciler.model import Capabilities


def provider_capabilities(settings: dict[str, object]) -> Capabilities:
    """AKS's plan-time rules, with zones written for the cluster's location."""
    from reconciler.providers.aks.capabilities import aks_capabilities

    location = settings.get("location")
    return aks_capabilities(location if isinstance(location, str) else None)

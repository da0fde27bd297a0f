"""Drivers are found by the name in ``cluster.provider`` and imported only when used."""

from __future__ import annotations

import importlib

from reconciler.errors import ConfigError
from reconciler.providers.base import Capabilities, Cluster, Driver

DRIVERS: dict[str, str] = {
    "local": "reconciler.providers.local:LocalDriver",
    "aks": "reconciler.providers.aks:AksDriver",
    "k3s": "reconciler.providers.k3s:K3sDriver",
}


def driver_for(cluster: Cluster) -> Driver:
    """Build the driver named by ``cluster.provider``."""
    target = DRIVERS.get(cluster.provider)
    if target is None:
        known = ", ".join(sorted(DRIVERS))
        raise ConfigError(f"unknown provider '{cluster.provider}' (known: {known})")
    module_name, _, class_name = target.partition(":")
    driver_class = getattr(importlib.import_module(module_name), class_name)
    return driver_class(cluster)


def capabilities_for(provider: str, settings: dict[str, object]) -> Capabilities:
    """A provider's capabilities without building its driver (no SDK import, no network)."""
    location = settings.get("location")
    location = location if isinstance(location, str) else None
    if provider in ("local", "aks"):
        from reconciler.aks.capabilities import aks_capabilities

        return aks_capabilities(location)
    return Capabilities(location=location)

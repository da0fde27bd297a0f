"""The one provider registry: names in ``cluster.provider`` -> where each provider lives.

Providers are imported by name only when used, so core modules never import one, and
``validate`` never loads a cloud SDK: a provider's ``provider_capabilities`` lives in its
package's light ``__init__`` (no SDK), its driver in a module of its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.driver import Driver
    from reconciler.model import Capabilities, Cluster

# name -> (package or module with ``provider_capabilities(settings)``, "module:DriverClass")
PROVIDERS: dict[str, tuple[str, str]] = {
    "local": ("reconciler.providers.local", "reconciler.providers.local.driver:LocalDriver"),
    "aks": ("reconciler.providers.aks", "reconciler.providers.aks.driver:AksDriver"),
    "k3s": ("reconciler.providers.k3s", "reconciler.providers.k3s:K3sDriver"),
    "eks": ("reconciler.providers.eks", "reconciler.providers.eks.driver:EksDriver"),
}


def driver_for(cluster: Cluster) -> Driver:
    """Build the driver named by ``cluster.provider``."""
    _, target = _entry(cluster.provider)
    module_name, _, class_name = target.partition(":")
    driver_class: Any = getattr(importlib.import_module(module_name), class_name)
    driver: Driver = driver_class(cluster)
    from reconciler.debuglog import logged

    return logged(driver)  # --debug: every driver call logged with its duration


def capabilities_for(provider: str, settings: dict[str, object]) -> Capabilities:
    """A provider's capabilities without building its driver (no SDK import, no network)."""
    module, _ = _entry(provider)
    capabilities: Capabilities = importlib.import_module(module).provider_capabilities(settings)
    return capabilities


def _entry(provider: str) -> tuple[str, str]:
    if provider not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider '{provider}' (known: {known})")
    return PROVIDERS[provider]

"""One in-memory model of the AKS agentPools API, shared by the local provider and the emulator.

``AgentPoolStore`` holds ARM agent pools in REST shape and applies the server's rules on
PUT and DELETE (defaults, spot noise, immutable properties, preconditions, eTags).
PUT semantics, kept simple and documented: properties absent from the body keep their
live value, a property sent as ``null`` is removed, read-only properties (and
``nodeImageVersion``) are ignored. No I/O, no sleeping; everything is deep-copied.
"""

from __future__ import annotations

import builtins
import copy
import secrets
import string
from typing import Any

from reconciler.providers.aks.capabilities import MAX_POOLS
from reconciler.providers.aks.mapping import READ_ONLY_PROPERTIES, SPOT_LABEL, SPOT_TAINT
from reconciler.providers.local.checks import (
    LAST_SYSTEM_POOL,
    AksApiError,
    check_name,
    check_pool,
    check_update,
    check_version,
    invalid,
    power_transition,
)

__all__ = ["AgentPoolStore", "AksApiError"]

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
# What AKS fills in for a property a PUT leaves out, as its GETs then report it.
BASE_DEFAULTS: dict[str, Any] = {
    "count": 1, "vmSize": "Standard_DS2_v2", "mode": "User", "osType": "Linux",
    "osDiskType": "Managed", "osDiskSizeGB": 128, "maxPods": 110,
    "scaleSetPriority": "Regular", "type": "VirtualMachineScaleSets",
    "enableAutoScaling": False, "powerState": {"code": "Running"},
    "kubeletDiskType": "OS", "enableNodePublicIP": False, "enableFIPS": False,
    "enableEncryptionAtHost": False, "enableUltraSSD": False, "scaleDownMode": "Delete",
    "securityProfile": {"enableSecureBoot": False, "enableVTPM": False},
}
LINUX_DEFAULTS: dict[str, Any] = {"upgradeSettings": {"maxSurge": "10%"}}
SPOT_DEFAULTS: dict[str, Any] = {"spotMaxPrice": -1, "scaleSetEvictionPolicy": "Delete"}
NODE_IMAGES = {"Ubuntu": "AKSUbuntu-2204gen2containerd-202608.01.0",
               "AzureLinux": "AKSAzureLinux-V3gen2-202608.01.0"}


def new_etag() -> str:
    """A fresh opaque eTag, shaped like the short strings AKS returns."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(11))


def defaults_for(props: dict[str, Any]) -> dict[str, Any]:
    """The values AKS fills in for properties a create body leaves out."""
    spot = props.get("scaleSetPriority") == "Spot"
    linux = props.get("osType", "Linux") == "Linux"
    return {**BASE_DEFAULTS, **(SPOT_DEFAULTS if spot else {}),
            **(LINUX_DEFAULTS if linux and not spot else {}),
            "osSKU": "Ubuntu" if linux else "Windows2022"}


class AgentPoolStore:
    """The agent pools of one managed cluster, with AKS's server-side rules."""

    def __init__(self, pools: dict[str, dict] | None = None, *, location: str = "eastus",
                 kubernetes_version: str = "1.30.0",
                 subscription_id: str = DEFAULT_SUBSCRIPTION, resource_group: str = "rg1",
                 cluster_name: str = "clustername1") -> None:
        self.location = location
        self.kubernetes_version = kubernetes_version
        self.cluster_id = (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
                           f"/providers/Microsoft.ContainerService/managedClusters/{cluster_name}")
        self._pools = copy.deepcopy(pools or {})
        for pool in self._pools.values():
            props = pool.setdefault("properties", {})
            props.setdefault("eTag", new_etag())  # If-Match needs one
            for key, value in defaults_for(props).items():  # as AKS's GETs report them
                props.setdefault(key, copy.deepcopy(value))

    def list(self) -> list[dict]:
        """Every pool (deep copies), sorted by name."""
        return [copy.deepcopy(self._pools[name]) for name in sorted(self._pools)]

    def get(self, name: str) -> dict | None:
        """One pool (a deep copy), or None."""
        pool = self._pools.get(name)
        return copy.deepcopy(pool) if pool is not None else None

    def snapshot(self) -> dict[str, dict]:
        """All pools by name, for persistence or seeding another store."""
        return copy.deepcopy(self._pools)

    def put(self, name: str, body: dict, *, if_match: str | None = None,
            if_none_match: str | None = None) -> tuple[dict, bool]:
        """Create or update ``name`` from a PUT body; returns (stored pool, created?)."""
        live = self._pools.get(name)
        self._check_preconditions(name, live, if_match, if_none_match)
        requested = _requested_properties(body)
        if live is None:
            props = self._created(name, requested)
        else:
            props = self._updated(name, live["properties"], requested)
        check_pool(name, props)
        props.update(eTag=new_etag(), provisioningState="Succeeded")
        pool = {"name": name, "type": RESOURCE_TYPE,
                "id": f"{self.cluster_id}/agentPools/{name}", "properties": props}
        self._pools[name] = pool
        return copy.deepcopy(pool), live is None

    def delete(self, name: str, *, if_match: str | None = None) -> bool:
        """Delete ``name``; False when it did not exist (AKS answers 204, even with If-Match)."""
        live = self._pools.get(name)
        if live is None:
            return False
        self._check_preconditions(name, live, if_match, None)
        if live["properties"].get("mode") == "System" and not self._other_system_pools(name):
            raise AksApiError(400, "OperationNotAllowed", LAST_SYSTEM_POOL)
        del self._pools[name]
        return True

    def _check_preconditions(self, name: str, live: dict | None, if_match: str | None,
                             if_none_match: str | None) -> None:
        """If-None-Match: * needs a missing pool; If-Match needs the current eTag."""
        if if_none_match is not None and if_none_match.strip('"') == "*" and live is not None:
            raise AksApiError(412, "PreconditionFailed",
                              f"The agent pool '{name}' already exists (If-None-Match: *).")
        if if_match is None:
            return
        current = live["properties"].get("eTag") if live is not None else None
        wanted = if_match.strip('"')
        if current is None or (wanted != "*" and wanted != current):
            raise AksApiError(412, "PreconditionFailed",
                              f"Operation failed because the eTag '{wanted}' of agent pool "
                              f"'{name}' does not match the current eTag.")

    def _created(self, name: str, requested: dict[str, Any]) -> dict[str, Any]:
        """A new pool's properties: the request over AKS defaults, plus server fields."""
        check_name(name, requested.get("osType", "Linux"))
        if len(self._pools) >= MAX_POOLS:
            raise AksApiError(400, "OperationNotAllowed", f"The managed cluster already has "
                              f"the maximum of {MAX_POOLS} agent pools.")
        given = {k: v for k, v in requested.items() if v is not None}
        props = {**defaults_for(given), **given}
        if not props.get("orchestratorVersion"):
            props["orchestratorVersion"] = self.kubernetes_version
        check_version(name, props["orchestratorVersion"], self.kubernetes_version)
        return self._with_server_fields(props)

    def _updated(self, name: str, live: dict[str, Any],
                 requested: dict[str, Any]) -> dict[str, Any]:
        """An existing pool's properties after the request, if AKS allows the change."""
        # ARM semantics: a PUT replaces the pool. What the body leaves out takes AKS's
        # default again (and an immutable one that differs is refused below), except the
        # power state, which only a body that names it changes.
        if not requested.get("orchestratorVersion", True):
            requested["orchestratorVersion"] = live.get("orchestratorVersion")  # "": keep
        given = {k: v for k, v in requested.items() if v is not None}
        props = {**defaults_for({**given, "osType": given.get("osType", live.get("osType"))}),
                 **given}
        if "powerState" not in given and "powerState" in live:
            props["powerState"] = copy.deepcopy(live["powerState"])
        if not props.get("orchestratorVersion"):
            props["orchestratorVersion"] = (live.get("currentOrchestratorVersion")
                                            or self.kubernetes_version)
        check_update(live, props, defaults_for(live))
        power_transition(name, live, props)
        if props.get("orchestratorVersion") != live.get("orchestratorVersion"):
            check_version(name, props.get("orchestratorVersion"), self.kubernetes_version)
        if (live.get("mode", "User") == "System" and props.get("mode", "User") != "System"
                and not self._other_system_pools(name)):
            raise AksApiError(400, "OperationNotAllowed", LAST_SYSTEM_POOL)
        props["nodeImageVersion"] = live.get("nodeImageVersion")
        return self._with_server_fields(props)

    def _with_server_fields(self, props: dict[str, Any]) -> dict[str, Any]:
        """Versions, node image and spot noise, as AKS reports them after a write."""
        props["currentOrchestratorVersion"] = self._full_version(props["orchestratorVersion"])
        if not props.get("nodeImageVersion"):
            props["nodeImageVersion"] = NODE_IMAGES.get(props.get("osSKU", ""), "AKSWindows-2022")
        if not props.get("enableAutoScaling"):
            props.pop("minCount", None)  # AKS keeps no bounds while the autoscaler is off
            props.pop("maxCount", None)
        if props.get("scaleSetPriority") == "Spot":
            labels = props.get("nodeLabels") or {}
            props["nodeLabels"] = {**labels, SPOT_LABEL[0]: SPOT_LABEL[1]}
            taints = list(props.get("nodeTaints") or [])
            props["nodeTaints"] = taints + ([SPOT_TAINT] if SPOT_TAINT not in taints else [])
        return props

    def _full_version(self, version: str) -> str:
        """``1.30`` runs as the cluster's patch release when it matches, else ``1.30.0``."""
        if version.count(".") >= 2:
            return version
        if self.kubernetes_version.startswith(version + "."):
            return self.kubernetes_version
        return version + ".0"

    def _other_system_pools(self, name: str) -> builtins.list[str]:
        """Names of System pools other than ``name``."""
        return [n for n, p in self._pools.items()
                if n != name and p["properties"].get("mode") == "System"]


def _requested_properties(body: Any) -> dict[str, Any]:
    """The writable properties of a PUT body (read-only ones are ignored, as ARM does)."""
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise invalid("The request body must be an object with a 'properties' object.")
    return {k: copy.deepcopy(v) for k, v in props.items() if k not in READ_ONLY_PROPERTIES}

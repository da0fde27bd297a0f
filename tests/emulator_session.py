"""Test and benchmark helpers around a running Emulator (no pytest, no azure imports).

Importable as ``emulator_session`` by tests (pytest puts ``tests/`` on the path) and by
``benchmarks/run.py``; not part of the installed package.

``EmulatorSession`` is what the ``aks_emulator`` fixture yields: the emulator's handles
plus ready-made driver settings and desired-state ``cluster:`` blocks that point at it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.emulator import Emulator
from reconciler.model import Cluster

# Driver tuning that keeps retries, backoffs and LRO polls in the millisecond range.
FAST_DRIVER_SETTINGS: dict[str, Any] = {
    "pollingIntervalSeconds": 0.01,
    "retryTotal": 3,
    "retryBackoffSeconds": 0.01,
    "retryBackoffMaxSeconds": 0.05,
    "maxRetryAfterSeconds": 2,
    "conflictBackoffSeconds": 0.02,
    "conflictTimeoutSeconds": 3,
}
# Emulator timing for tests: short LROs, and Retry-After 0 so the client's interval rules.
FAST_EMULATOR: dict[str, Any] = {"lro_seconds": 0.05, "retry_after": 0}


class EmulatorSession:
    """A started Emulator plus helpers to point the ``aks`` provider at it."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    url = property(lambda self: self.emulator.url, doc="the armEndpoint")
    ca_path = property(lambda self: self.emulator.ca_path, doc="CA file to trust")
    token = property(lambda self: self.emulator.token, doc="bearer token it expects")
    config = property(lambda self: self.emulator.config, doc="EmulatorConfig (mutable)")
    cluster = property(lambda self: self.emulator.cluster, doc="pools and operations")
    store = property(lambda self: self.emulator.store, doc="the AgentPoolStore")
    request_log = property(lambda self: self.emulator.request_log, doc="RequestLog")
    faults = property(lambda self: self.emulator.faults, doc="Faults")

    @property
    def env(self) -> dict[str, str]:
        """Environment a CLI subprocess needs: the token, the CA and the endpoint to trust."""
        return {"AZURE_ACCESS_TOKEN": self.token, "REQUESTS_CA_BUNDLE": str(self.ca_path),
                "RECONCILER_TRUSTED_ENDPOINTS": self.url}

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """``cluster.settings`` for provider aks with auth: token, aimed at the emulator."""
        c = self.config
        return {"subscriptionId": c.subscription_id, "resourceGroup": c.resource_group,
                "clusterName": c.cluster_name, "location": c.location, "auth": "token",
                "armEndpoint": self.url, **FAST_DRIVER_SETTINGS, **overrides}

    def cluster_spec(self, name: str = "emulated", **overrides: Any) -> Cluster:
        """A reconciler.model.Cluster for the emulated AKS cluster."""
        return Cluster(name=name, provider="aks", settings=self.settings(**overrides))

    def cluster_block(self, name: str = "emulated", **overrides: Any) -> str:
        """The ``cluster:`` block of a desired-state file (YAML; JSON scalars are YAML)."""
        lines = ["cluster:", f"  name: {name}", "  provider: aks", "  settings:"]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in self.settings(**overrides).items()]
        return "\n".join(lines) + "\n"

    def write_desired(self, path: str | Path, node_pools_yaml: str = "nodePools: []\n",
                      *, name: str = "emulated", policy_yaml: str = "",
                      **overrides: Any) -> Path:
        """Write a complete desired-state file aimed at the emulator; returns its path."""
        path = Path(path)
        text = ("apiVersion: reconciler/v1\nkind: NodePoolSet\n"
                + self.cluster_block(name, **overrides) + policy_yaml + node_pools_yaml)
        path.write_text(text, encoding="utf-8")
        return path

    def reset(self, pools: Any = None, **config: Any) -> None:
        """Fresh pools, no faults, empty log, default test timing plus ``config`` changes."""
        defaults = EmulatorConfig(**FAST_EMULATOR)
        for key in ("page_size", "lro_seconds", "retry_after", "token", "accepts_token",
                    "bare_errors", "cluster_busy"):
            setattr(self.config, key, config.pop(key, getattr(defaults, key)))
        if config:
            raise TypeError(f"unknown emulator settings: {sorted(config)}")
        self.emulator.seed(pools)
        self.faults.clear()
        self.request_log.clear()


def start_test_emulator(**config: Any) -> Emulator:
    """An Emulator with test timing, started on a free port."""
    return Emulator(EmulatorConfig(**{**FAST_EMULATOR, **config})).start()


def arm_pool(name: str, mode: str = "User", **properties: Any) -> dict[str, Any]:
    """A listed-looking ARM agent pool with a few realistic server fields. A pool tagged
    managed-by=reconciler carries the scheduling label the driver gave it at creation."""
    props = {"mode": mode, "count": 1, "vmSize": "Standard_D4s_v5", "osType": "Linux",
             "osDiskSizeGB": 128, "maxPods": 110, "orchestratorVersion": "1.30.0",
             "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202608.01.0",
             "provisioningState": "Succeeded", **properties}
    if (props.get("tags") or {}).get("managed-by") == "reconciler":
        props["nodeLabels"] = {"kompox.dev/node-pool": name, **(props.get("nodeLabels") or {})}
    return {"name": name, "properties": props}


STANDARD_POOLS = [
    arm_pool("system", "System", availabilityZones=["1", "2"], enableAutoScaling=True,
             minCount=1, maxCount=3, tags={"managed-by": "reconciler"}),
    arm_pool("batch", count=2, tags={"managed-by": "reconciler"}, nodeLabels={"team": "a"}),
    arm_pool("legacy"),
]

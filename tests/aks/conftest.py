"""Seeds and a driver aimed at the ``aks_emulator`` fixture (tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator.testing import EmulatorSession
from reconciler.providers.aks import AksDriver


def arm_pool(name: str, mode: str = "User", **properties: Any) -> dict[str, Any]:
    """A listed-looking ARM agent pool with a few realistic server fields."""
    props = {"mode": mode, "count": 1, "vmSize": "Standard_D4s_v5", "osType": "Linux",
             "osDiskSizeGB": 128, "maxPods": 110, "orchestratorVersion": "1.30.0",
             "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202608.01.0",
             "provisioningState": "Succeeded", **properties}
    return {"name": name, "properties": props}


STANDARD_POOLS = [
    arm_pool("system", "System", availabilityZones=["1", "2"], enableAutoScaling=True,
             minCount=1, maxCount=3, tags={"managed-by": "reconciler"}),
    arm_pool("batch", count=2, tags={"managed-by": "reconciler"}, nodeLabels={"team": "a"}),
    arm_pool("legacy"),
]


@pytest.fixture
def aks(aks_emulator: EmulatorSession) -> EmulatorSession:
    """The emulator seeded with a system pool, an owned user pool and an unowned one."""
    aks_emulator.reset(STANDARD_POOLS)
    return aks_emulator


@pytest.fixture
def driver(aks: EmulatorSession) -> AksDriver:
    """An AksDriver (auth: token) aimed at the seeded emulator."""
    return AksDriver(aks.cluster_spec())

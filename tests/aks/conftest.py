"""Seeds and a driver aimed at the ``aks_emulator`` fixture (tests/conftest.py)."""

from __future__ import annotations

import pytest
from emulator_session import STANDARD_POOLS, EmulatorSession

from reconciler.providers.aks.driver import AksDriver


@pytest.fixture
def aks(aks_emulator: EmulatorSession) -> EmulatorSession:
    """The emulator seeded with a system pool, an owned user pool and an unowned one."""
    aks_emulator.reset(STANDARD_POOLS)
    return aks_emulator


@pytest.fixture
def driver(aks: EmulatorSession) -> AksDriver:
    """An AksDriver (auth: token) aimed at the seeded emulator."""
    return AksDriver(aks.cluster_spec())

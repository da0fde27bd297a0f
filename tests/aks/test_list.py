"""list: one logical paged call, no per-pool GETs, a missing cluster is an error."""

from __future__ import annotations

import pytest
from emulator_session import EmulatorSession, arm_pool

from reconciler.errors import ClusterNotFoundError
from reconciler.providers.aks.driver import AksDriver


def test_list_follows_next_link_without_gets(aks_emulator: EmulatorSession) -> None:
    aks_emulator.reset([arm_pool(f"pool{i}") for i in range(7)], page_size=3)
    pools = AksDriver(aks_emulator.cluster_spec()).list()
    assert [p.name for p in pools] == [f"pool{i}" for i in range(7)]
    log = aks_emulator.request_log
    assert len(log.list_pages) == 3
    assert [e.query.get("$skipToken") for e in log.list_pages] == [None, "3", "6"]
    assert all(e.query["api-version"] == "2026-08-01" for e in log.entries)
    assert log.pool_gets == [] and log.writes == []


def test_each_list_is_one_paged_call(aks_emulator: EmulatorSession) -> None:
    aks_emulator.reset([arm_pool(f"pool{i}") for i in range(4)], page_size=2)
    driver = AksDriver(aks_emulator.cluster_spec())
    assert [p.name for p in driver.list(name="pool3")] == ["pool3"]
    assert driver.list(name="missing") == []
    assert len(aks_emulator.request_log.list_pages) == 4
    assert aks_emulator.request_log.pool_gets == []


def test_pools_in_model_terms(driver: AksDriver) -> None:
    system = driver.list(name="system")[0]
    assert system.mode == "system"
    assert system.zones == ("eastus-1", "eastus-2")
    assert system.autoscaling is not None and system.autoscaling.max == 3
    assert system.managed is True and system.etag
    assert driver.list(name="legacy")[0].managed is False


@pytest.mark.parametrize("setting", ["clusterName", "resourceGroup", "subscriptionId"])
def test_missing_cluster_group_or_subscription_is_an_error_naming_it(
        aks: EmulatorSession, setting: str) -> None:
    value = "00000000-0000-0000-0000-00000000dead" if setting == "subscriptionId" else "nothere"
    driver = AksDriver(aks.cluster_spec(**{setting: value}))
    with pytest.raises(ClusterNotFoundError, match=value) as raised:
        driver.list()
    assert "check clusterName, resourceGroup and subscriptionId" in str(raised.value)
    assert [e.status for e in aks.request_log.entries] == [404]


def test_capabilities_use_the_cluster_location(driver: AksDriver) -> None:
    assert driver.capabilities.location == "eastus"
    assert ("instanceType",) in driver.capabilities.immutable_fields

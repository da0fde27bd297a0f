"""create / update / delete round trips and the exact requests they send."""

from __future__ import annotations

import pytest
from emulator_session import EmulatorSession

from reconciler.errors import StaleError
from reconciler.model import Autoscaling, NodePool
from reconciler.providers.aks.driver import AksDriver

NEW_POOL = NodePool(name="gpu", mode="user", instance_type="Standard_NC6s_v3",
                    zones=("eastus-2",), labels={"team": "ml"},
                    autoscaling=Autoscaling(enabled=False, desired=2))


def test_create_is_one_put_if_none_match(aks: EmulatorSession, driver: AksDriver) -> None:
    progress: list[str] = []
    created = driver.create(NEW_POOL, progress=progress.append)
    assert created.managed is True and created.instance_type == "Standard_NC6s_v3"
    assert created.status is not None and created.status.provisioning_state == "Succeeded"
    [put] = aks.request_log.writes
    assert put.method == "PUT" and put.status == 201
    assert put.header("If-None-Match") == "*" and put.header("If-Match") is None
    props = put.body["properties"]
    assert props["tags"] == {"managed-by": "reconciler"}
    assert props["nodeLabels"]["kompox.dev/node-pool"] == "gpu"
    assert props["availabilityZones"] == ["2"]
    assert "nodeImageVersion" not in props
    assert progress[-1] == "Succeeded"
    assert aks.store.get("gpu")["properties"]["count"] == 2


def test_create_of_an_existing_pool_is_stale(aks: EmulatorSession, driver: AksDriver) -> None:
    with pytest.raises(StaleError, match="'batch' already exists"):
        driver.create(NodePool(name="batch", mode="user"))


def test_update_puts_the_listed_pool_with_if_match(aks: EmulatorSession,
                                                   driver: AksDriver) -> None:
    live = driver.list(name="batch")[0]
    aks.request_log.clear()
    updated = driver.update(NodePool(name="batch", autoscaling=Autoscaling(desired=5),
                                     etag=live.etag))
    assert updated.autoscaling is not None and updated.autoscaling.desired == 5
    [put] = aks.request_log.writes
    assert put.header("If-Match") == f'"{live.etag}"'  # the SDK quotes eTags
    assert aks.request_log.list_pages == []  # the cached listing was used
    props = put.body["properties"]
    assert props["count"] == 5 and props["vmSize"] == "Standard_D4s_v5"  # as listed
    assert props["nodeLabels"]["team"] == "a"
    for read_only in ("nodeImageVersion", "eTag", "provisioningState"):
        assert read_only not in props


def test_update_without_a_listing_lists_once(aks: EmulatorSession, driver: AksDriver) -> None:
    driver.update(NodePool(name="batch", labels={"team": "b"}))
    assert len(aks.request_log.list_pages) == 1 and len(aks.request_log.writes) == 1
    assert aks.request_log.pool_gets == [aks.request_log.entries[-1]]  # the LRO's final GET
    assert aks.store.get("batch")["properties"]["nodeLabels"]["team"] == "b"


def test_update_with_nothing_to_change_sends_nothing(aks: EmulatorSession,
                                                     driver: AksDriver) -> None:
    live = driver.list(name="batch")[0]
    same = driver.update(NodePool(name="batch", instance_type="Standard_D4s_v5",
                                  autoscaling=Autoscaling(desired=2), etag=live.etag))
    assert same.name == "batch"
    assert aks.request_log.writes == []


def test_update_adopts_an_unowned_pool(aks: EmulatorSession, driver: AksDriver) -> None:
    adopted = driver.update(NodePool(name="legacy", managed=True))
    assert adopted.managed is True
    assert aks.store.get("legacy")["properties"]["tags"]["managed-by"] == "reconciler"


def test_delete_with_if_match(aks: EmulatorSession, driver: AksDriver) -> None:
    live = driver.list(name="legacy")[0]
    progress: list[str] = []
    driver.delete("legacy", etag=live.etag, progress=progress.append)
    [delete] = aks.request_log.writes
    assert (delete.method, delete.status) == ("DELETE", 202)
    assert delete.header("If-Match") == f'"{live.etag}"'
    assert aks.store.get("legacy") is None
    assert progress[-1] == "Succeeded"


def test_delete_of_a_missing_pool_succeeds(aks: EmulatorSession, driver: AksDriver) -> None:
    driver.delete("ghost")
    assert [(e.method, e.status) for e in aks.request_log.writes] == [("DELETE", 204)]


def test_a_pool_being_deleted_lists_as_deleting(aks: EmulatorSession,
                                                driver: AksDriver) -> None:
    aks.config.lro_seconds = 5
    aks.cluster.delete_pool("legacy")
    [pool] = driver.list(name="legacy")
    assert pool.status is not None and pool.status.provisioning_state == "Deleting"

"""The local provider as a user meets it: a JSON file behaving like an AKS cluster."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reconciler.errors import (
    ConflictError,
    NotImplementedByProvider,
    ProviderError,
    ProviderValidationError,
    StaleError,
)
from reconciler.model import Autoscaling, Cluster, NodePool
from reconciler.providers.k3s import K3sDriver
from reconciler.providers.local.driver import LocalDriver
from reconciler.registry import driver_for

SYSTEM = NodePool(name="system", mode="system", zones=("japaneast-2", "japaneast-1"),
                  instance_type="Standard_D4s_v5",
                  autoscaling=Autoscaling(enabled=True, min=1, max=3))


def state_path(cluster: Cluster) -> Path:
    """Where the default state file of ``cluster`` lives."""
    return cluster.base_dir / ".reconciler" / f"{cluster.name}.json"


def test_a_missing_state_file_is_an_empty_cluster(driver: LocalDriver,
                                                  local_cluster: Cluster) -> None:
    assert driver.list() == []
    assert not (local_cluster.base_dir / ".reconciler").exists()  # listing writes nothing


def test_create_then_list_in_model_terms(driver: LocalDriver, local_cluster: Cluster) -> None:
    created = driver.create(SYSTEM)
    [listed] = driver.list()
    assert listed == created
    assert listed.zones == ("japaneast-1", "japaneast-2")
    assert listed.managed is True and listed.mode == "system"
    # two zones: no node-zone label (one value would mislabel the other zone's nodes)
    assert listed.labels == {"kompox.dev/node-pool": "system"}
    assert listed.status.provisioning_state == "Succeeded"
    assert json.loads(state_path(local_cluster).read_text())["agentPools"]["system"]


def test_list_filters_by_name(driver: LocalDriver) -> None:
    driver.create(SYSTEM)
    driver.create(NodePool(name="batch", priority="spot"))
    assert [p.name for p in driver.list()] == ["batch", "system"]
    assert [p.name for p in driver.list("batch")] == ["batch"]
    assert driver.list("nope") == []


def test_state_survives_a_new_driver(local_cluster: Cluster) -> None:
    LocalDriver(local_cluster).create(SYSTEM)
    again = driver_for(local_cluster)
    assert [p.name for p in again.list()] == ["system"]


def test_state_file_setting_is_relative_to_the_base_dir(tmp_path: Path) -> None:
    cluster = Cluster("demo", "local", {"stateFile": "state/cluster.json"}, tmp_path)
    LocalDriver(cluster).create(SYSTEM)
    assert (tmp_path / "state" / "cluster.json").is_file()
    absolute = Cluster("demo", "local", {"stateFile": str(tmp_path / "abs.json")}, Path("/"))
    LocalDriver(absolute).create(SYSTEM)
    assert (tmp_path / "abs.json").is_file()


def test_update_applies_only_set_fields(driver: LocalDriver) -> None:
    live = driver.create(SYSTEM)
    updated = driver.update(NodePool(name="system", labels={"team": "platform"},
                                     autoscaling=Autoscaling(max=5), etag=live.etag))
    assert updated.autoscaling.max == 5 and updated.autoscaling.min == 1
    assert updated.labels["team"] == "platform"
    assert updated.instance_type == "Standard_D4s_v5"
    assert updated.etag != live.etag
    assert driver.list("system") == [updated]


def test_update_with_nothing_to_change_does_not_write(driver: LocalDriver,
                                                       local_cluster: Cluster) -> None:
    live = driver.create(SYSTEM)
    before = state_path(local_cluster).read_bytes()
    calls: list[str] = []
    result = driver.update(NodePool(name="system", zones=("japaneast-1", "2"),
                                    autoscaling=Autoscaling(max=3)), progress=calls.append)
    assert result.etag == live.etag and calls == []
    assert state_path(local_cluster).read_bytes() == before


def test_immutable_change_is_a_validation_error(driver: LocalDriver) -> None:
    driver.create(SYSTEM)
    with pytest.raises(ProviderValidationError, match="Changing property 'vmSize'"):
        driver.update(NodePool(name="system", instance_type="Standard_D8s_v5"))


def test_a_stale_etag_is_a_stale_error(driver: LocalDriver) -> None:
    first = driver.create(SYSTEM)
    driver.update(NodePool(name="system", labels={"a": "1"}, etag=first.etag))
    with pytest.raises(StaleError, match="changed since the plan"):
        driver.update(NodePool(name="system", labels={"a": "2"}, etag=first.etag))
    with pytest.raises(StaleError):
        driver.delete("system", etag=first.etag)
    assert driver.list("system")[0].labels["a"] == "1"


def test_create_of_an_existing_pool_and_update_of_a_gone_one_are_stale(
        driver: LocalDriver) -> None:
    driver.create(SYSTEM)
    with pytest.raises(StaleError):
        driver.create(SYSTEM)
    with pytest.raises(StaleError, match="no longer exists"):
        driver.update(NodePool(name="ghost", labels={}))


def test_delete_and_delete_again(driver: LocalDriver) -> None:
    driver.create(SYSTEM)
    batch = driver.create(NodePool(name="batch"))
    driver.delete("batch", etag=batch.etag)
    driver.delete("batch")  # already gone: success
    assert [p.name for p in driver.list()] == ["system"]
    with pytest.raises(ProviderValidationError, match="at least one system agent pool"):
        driver.delete("system")


def test_create_needs_a_name_and_a_valid_one(driver: LocalDriver) -> None:
    with pytest.raises(ProviderValidationError, match="needs a name"):
        driver.create(NodePool(mode="user"))
    with pytest.raises(ProviderValidationError, match="'Batch' is invalid"):
        driver.create(NodePool(name="Batch"))


def test_writes_leave_no_temp_files(driver: LocalDriver, local_cluster: Cluster) -> None:
    for index in range(5):
        driver.create(NodePool(name=f"p{index}"))
    driver.delete("p0")
    folder = state_path(local_cluster).parent
    assert sorted(p.name for p in folder.iterdir()) == ["demo.json", "demo.json.lock"]


def test_a_corrupt_state_file_names_the_file(driver: LocalDriver,
                                             local_cluster: Cluster) -> None:
    path = state_path(local_cluster)
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(ProviderError, match=str(path)) as caught:
        driver.list()
    assert not isinstance(caught.value, ProviderValidationError)
    path.write_text('{"agentPools": []}')
    with pytest.raises(ProviderError, match="corrupt"):
        driver.create(SYSTEM)


def test_operation_seconds_reports_progress(local_cluster: Cluster) -> None:
    cluster = Cluster("demo", "local", {"operationSeconds": 0.3}, local_cluster.base_dir)
    calls: list[str] = []
    start = time.monotonic()
    LocalDriver(cluster).create(SYSTEM, progress=calls.append)
    assert time.monotonic() - start >= 0.3
    assert calls[0] == "Creating" and calls[-1] == "Succeeded" and len(calls) >= 3


def test_a_held_lock_times_out_as_a_conflict(driver: LocalDriver,
                                             local_cluster: Cluster) -> None:
    driver.create(SYSTEM)
    driver.state.lock_timeout = 0.2
    with open(driver.state.lock_path, "a+") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(ConflictError, match="holds the lock"):
            driver.create(NodePool(name="late"))
        assert [p.name for p in driver.list()] == ["system"]  # reads never wait


def test_threads_of_one_process_queue_on_the_lock_and_time_out_alike(
        driver: LocalDriver, local_cluster: Cluster) -> None:
    """The actions of one apply are threads: they wait for each other's writes (no lost
    update) and a write held too long fails as a conflict, as across processes."""
    driver.create(SYSTEM)
    other = LocalDriver(local_cluster)
    other.state.lock_timeout = 0.2
    with driver.state.locked(), pytest.raises(ConflictError, match="holds the lock"):
        other.create(NodePool(name="late"))
    names = [f"p{index}" for index in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: LocalDriver(local_cluster).create(NodePool(name=name)),
                      names))
    assert sorted(p.name for p in driver.list()) == sorted(["system", *names])


def _add_labels(cluster: Cluster, prefix: str, count: int) -> None:
    """Add ``count`` labels to pool 'system', re-reading on a stale eTag like an apply."""
    driver = LocalDriver(cluster)
    for index in range(count):
        while True:
            live = driver.list("system")[0]
            labels = {k: v for k, v in live.labels.items() if not k.startswith("kompox.dev/")}
            try:
                driver.update(NodePool(name="system", labels={**labels, f"{prefix}{index}": "x"},
                                       etag=live.etag))
                break
            except StaleError:
                continue


def test_two_processes_never_lose_an_update(driver: LocalDriver,
                                            local_cluster: Cluster) -> None:
    driver.create(SYSTEM)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_labels, args=(local_cluster, prefix, 15))
               for prefix in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    labels = driver.list("system")[0].labels
    assert {k for k in labels if not k.startswith("kompox.dev/")} == {
        f"{prefix}{index}" for prefix in ("a", "b") for index in range(15)}


def test_capabilities_are_the_aks_rules_with_the_location(driver: LocalDriver) -> None:
    caps = driver.capabilities
    assert caps.location == "japaneast" and ("instanceType",) in caps.immutable_fields


@pytest.mark.parametrize("call", [
    lambda d: d.list(), lambda d: d.create(SYSTEM), lambda d: d.update(SYSTEM),
    lambda d: d.delete("system"),
])
def test_k3s_says_it_has_no_node_pools(call) -> None:
    k3s = driver_for(Cluster("edge", "k3s"))
    assert isinstance(k3s, K3sDriver)
    with pytest.raises(NotImplementedByProvider,
                       match="provider 'k3s' does not support node pool management"):
        call(k3s)
    assert k3s.capabilities.immutable_fields == frozenset()


def test_writes_keep_the_state_file_mode_and_follow_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "cluster.json"
    real.parent.mkdir()
    link = tmp_path / "state.json"
    link.symlink_to(real)
    driver = LocalDriver(Cluster("demo", "local", {"stateFile": str(link)}, tmp_path))
    driver.create(NodePool(name="system", mode="system",
                           autoscaling=Autoscaling(enabled=False, desired=1)))
    assert link.is_symlink() and real.is_file()
    assert real.stat().st_mode & 0o777 == 0o644
    real.chmod(0o664)
    driver.create(NodePool(name="apps", mode="user"))
    assert real.stat().st_mode & 0o777 == 0o664
    assert {p.name for p in driver.list()} == {"system", "apps"}

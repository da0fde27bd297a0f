"""AKS rejections, concurrency and outages, mapped to reconciler error types."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from emulator_session import EmulatorSession

from reconciler.app import plan_file
from reconciler.apply.executor import execute
from reconciler.apply.progress import LineEvents
from reconciler.cli import cli
from reconciler.errors import (
    BusyError,
    ConflictError,
    ProviderError,
    ProviderValidationError,
    StaleError,
    ThrottledError,
)
from reconciler.model import Autoscaling, NodePool
from reconciler.providers.aks.driver import AksDriver

POOL_PATH = r"/agentPools/batch$"
LIST_PATH = r"/agentPools$"
# The seeded cluster (STANDARD_POOLS) with one change: batch's label team: a -> b.
BATCH_RELABELLED = """nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 3}
  - name: batch
    mode: user
    labels: {team: b}
"""


@pytest.mark.parametrize("bare", [False, True], ids=["error-envelope", "bare-error"])
def test_immutable_change_carries_aks_message(aks: EmulatorSession, driver: AksDriver,
                                              bare: bool) -> None:
    aks.config.bare_errors = bare
    with pytest.raises(ProviderValidationError, match="Changing property 'vmSize' is not"):
        driver.update(NodePool(name="batch", instance_type="Standard_D8s_v5"))
    assert [e.status for e in aks.request_log.writes] == [400]


def test_last_system_pool_delete_is_a_validation_error(aks: EmulatorSession,
                                                       driver: AksDriver) -> None:
    with pytest.raises(ProviderValidationError, match="at least one system agent pool"):
        driver.delete("system")


def test_concurrent_change_is_stale(aks: EmulatorSession, driver: AksDriver) -> None:
    planned = driver.list(name="batch")[0]
    body = aks.store.get("batch")
    body["properties"]["count"] = 3
    aks.store.put("batch", body)  # someone else changes it
    with pytest.raises(StaleError, match="pool 'batch' changed since the plan; run plan"):
        driver.update(NodePool(name="batch", autoscaling=Autoscaling(desired=4),
                               etag=planned.etag))
    with pytest.raises(StaleError):
        driver.delete("batch", etag=planned.etag)
    assert aks.store.get("batch")["properties"]["count"] == 3


def test_a_busy_pool_is_reported_busy_at_once_for_the_executor_to_retry(
        aks: EmulatorSession, driver: AksDriver) -> None:
    aks.config.lro_seconds = 5
    body = aks.store.get("batch")
    body["properties"]["count"] = 3
    aks.cluster.put_pool("batch", body)  # someone else's operation
    with pytest.raises(BusyError) as caught:
        driver.update(NodePool(name="batch", labels={"team": "b"}))  # lists the new eTag first
    assert caught.value.scope == "pool"  # AKS named this pool: fewer writes would not help
    assert "Another agentpool operation (batch - Updating) is in progress" in str(caught.value)
    assert [e.status for e in aks.request_log.writes] == [409]  # no waiting in the driver
    assert aks.store.get("batch")["properties"]["nodeLabels"] == {
        "team": "a", "kompox.dev/node-pool": "batch"}


def test_conflict_that_never_clears_is_bounded(aks: EmulatorSession, tmp_path: Path) -> None:
    aks.faults.add(method="PUT", path=POOL_PATH, times=1000, status=409,
                   code="OperationNotAllowed",
                   message="Another agentpool operation (Upgrading) is in progress")
    path = aks.write_desired(tmp_path / "pools.yaml", BATCH_RELABELLED,
                             conflictTimeoutSeconds=0.3)
    result = CliRunner().invoke(cli, ["apply", str(path), "--yes"])
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("  failed to update"))
    assert "another operation is still in progress: Another agentpool operation" \
        " (Upgrading) is in progress (OperationNotAllowed) (gave up after waiting" in line
    # Tried again with a doubling wait (0.02 s, 0.04 s ...), not hammered for 0.3 s.
    assert 2 <= len(aks.request_log.writes) <= 6


def test_throttling_honours_retry_after(aks: EmulatorSession, driver: AksDriver) -> None:
    aks.faults.add(method="PUT", path=POOL_PATH, status=429, code="Throttled",
                   message="Too many requests", retry_after=0.4)
    started = time.monotonic()
    driver.update(NodePool(name="batch", labels={"team": "b"}))
    assert time.monotonic() - started >= 0.4
    assert [e.status for e in aks.request_log.writes] == [429, 200]


def test_throttling_that_persists_is_bounded(aks: EmulatorSession) -> None:
    aks.faults.add(method="GET", path=LIST_PATH, times=100, status=429, code="Throttled",
                   message="Too many requests", retry_after=3600)
    driver = AksDriver(aks.cluster_spec(retryTotal=2, maxRetryAfterSeconds=0.05))
    with pytest.raises(ThrottledError, match="Too many requests"):
        driver.list()
    assert len(aks.request_log.list_pages) == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(aks: EmulatorSession, driver: AksDriver,
                                   status: int) -> None:
    aks.faults.add(method="GET", path=LIST_PATH, times=2, status=status)
    aks.faults.add(method="PUT", path=POOL_PATH, status=status)
    assert len(driver.list()) == 3
    driver.update(NodePool(name="batch", labels={"team": "b"}))
    assert [e.status for e in aks.request_log.list_pages] == [status, status, 200]
    assert [e.status for e in aks.request_log.writes] == [status, 200]


def test_dropped_connections_are_retried(aks: EmulatorSession, driver: AksDriver) -> None:
    aks.faults.add(method="GET", path=LIST_PATH, action="drop")
    aks.faults.add(method="PUT", path=POOL_PATH, action="drop")
    assert len(driver.list()) == 3
    driver.update(NodePool(name="batch", labels={"team": "b"}))
    assert [e.status for e in aks.request_log.list_pages] == [0, 200]  # 0 = dropped
    assert [e.status for e in aks.request_log.writes] == [0, 200]


def test_outage_past_the_retries_is_a_provider_error(aks: EmulatorSession) -> None:
    aks.faults.add(method="GET", path=LIST_PATH, times=100, status=503,
                   code="ServiceUnavailable", message="The service is unavailable.")
    with pytest.raises(ProviderError,
                       match="HTTP 503 and retries were exhausted: The service is unavailable"):
        AksDriver(aks.cluster_spec(retryTotal=1)).list()


def test_failed_operation_reports_aks_error(aks: EmulatorSession, driver: AksDriver) -> None:
    aks.faults.add(method="PUT", path=r"/agentPools/gpu$", action="lro_failed",
                   code="ReconcileVMSSAgentPoolFailed",
                   message="Code=\"SkuNotAvailable\" the requested VM size is not available")
    with pytest.raises(ProviderError, match="ended Failed: .*SkuNotAvailable") as caught:
        driver.create(NodePool(name="gpu", mode="user", instance_type="Standard_NC6s_v3"))
    assert not isinstance(caught.value, ProviderValidationError)
    aks.emulator.wait_idle()
    [pool] = driver.list(name="gpu")
    assert pool.status is not None and pool.status.provisioning_state == "Failed"


def test_failed_delete_leaves_the_pool(aks: EmulatorSession, driver: AksDriver) -> None:
    aks.faults.add(method="DELETE", action="lro_failed", code="DeleteFailed",
                   message="VMSS delete timed out")
    with pytest.raises(ProviderError, match="VMSS delete timed out"):
        driver.delete("legacy")
    [pool] = driver.list(name="legacy")
    assert pool.status is not None and pool.status.provisioning_state == "Failed"


def test_a_resource_lock_409_is_reported_at_once(aks: EmulatorSession) -> None:
    aks.faults.add(method="PUT", path=POOL_PATH, times=100, status=409, code="ScopeLocked",
                   message="The scope cannot perform write operation because it is locked.")
    with pytest.raises(ProviderError, match="ScopeLocked") as caught:
        AksDriver(aks.cluster_spec()).update(NodePool(name="batch", labels={"team": "b"}))
    assert not isinstance(caught.value, ConflictError)
    assert len(aks.request_log.writes) == 1  # no waiting out a lock that will not clear


def test_update_of_a_pool_without_etag_sends_no_precondition(aks: EmulatorSession) -> None:
    # The spec marks eTag optional: a server that sends none (simulated by removing it
    # from the emulator's copy) must still be updatable, without If-None-Match.
    del aks.store._pools["batch"]["properties"]["eTag"]
    driver = AksDriver(aks.cluster_spec())
    assert {p.name: p.etag for p in driver.list()}["batch"] is None
    driver.update(NodePool(name="batch", labels={"team": "b"}))
    [put] = aks.request_log.writes
    assert put.status in (200, 201) and put.header("If-None-Match") is None
    assert aks.store.get("batch")["properties"]["nodeLabels"]["team"] == "b"


@pytest.mark.parametrize("operation", ["create", "update"])
def test_a_write_whose_answer_was_lost_is_not_reported_as_a_conflict(
        aks: EmulatorSession, tmp_path: Path, operation: str) -> None:
    # AKS did the PUT but the answer never arrived; the SDK's retry then meets our own
    # operation (409, sent again later) and then its precondition (412). The pool is as
    # we asked: that is success, not "changed since the plan".
    name = "gpu" if operation == "create" else "batch"
    aks.faults.add(method="PUT", path=f"/agentPools/{name}$", action="drop_after")
    pools = BATCH_RELABELLED if operation == "update" else \
        BATCH_RELABELLED.replace("team: b", "team: a") + \
        "  - name: gpu\n    mode: user\n    instanceType: Standard_NC4as_T4_v3\n"
    planned = plan_file(str(aks.write_desired(tmp_path / "pools.yaml", pools)))
    assert {a.pool for a in planned.plan.actions} == {name}
    assert execute(planned.plan, planned.driver, LineEvents(io.StringIO())).ok
    pool = aks.store.get(name)["properties"]
    assert pool["tags"]["managed-by"] == "reconciler"
    assert operation == "create" or pool["nodeLabels"]["team"] == "b"

"""Replacing pools on the ARM emulator (``immutableChanges: replace``), through the real
CLI and SDK: the new agent pool is created (If-None-Match) and Succeeded before the old
one is deleted; a failed create, a failed delete and an interrupt in between each leave
the logical pool with a provider pool, and the next apply converges."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool

from reconciler.app import plan_file
from reconciler.apply.executor import ActionResult, Outcome, execute
from reconciler.cli import cli
from reconciler.plan import Action

POOLS = """\
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
  - name: web
    mode: user
    instanceType: {size}
    labels: {{team: web}}
"""
OWNED = {"managed-by": "reconciler"}


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def seeded(aks_emulator: EmulatorSession, tmp_path: Path, size: str = "Standard_D8s_v5"
           ) -> str:
    """A cluster with system and web (Standard_D4s_v5, owned); a file asking web at size."""
    aks_emulator.reset([arm_pool("system", "System", tags=OWNED),
                        arm_pool("web", tags=OWNED, nodeLabels={"team": "web"})])
    return str(aks_emulator.write_desired(tmp_path / "pools.yaml", POOLS.format(size=size),
                                          policy_yaml="policy: {immutableChanges: replace}\n"))


def agent_pools(aks: EmulatorSession) -> dict[str, dict[str, Any]]:
    return {pool["name"]: pool["properties"] for pool in aks.store.list()}


def actions(path: str) -> list[tuple[str, str, str | None]]:
    result = cli_run("plan", path, "--format", "json")
    return [(a["action"], a["pool"], a.get("providerName"))
            for a in json.loads(result.stdout)["actions"]]


def test_replace_creates_the_new_pool_then_deletes_the_old(aks_emulator: EmulatorSession,
                                                            tmp_path: Path) -> None:
    path = seeded(aks_emulator, tmp_path)
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 0, result.output
    writes = [(e.method, e.path.rsplit("/", 1)[1]) for e in aks_emulator.request_log.writes]
    assert writes == [("PUT", "web2"), ("DELETE", "web")]
    pools = agent_pools(aks_emulator)
    assert sorted(pools) == ["system", "web2"]
    assert pools["web2"]["vmSize"] == "Standard_D8s_v5"
    assert pools["web2"]["tags"] == {**OWNED, "reconciler-pool": "web"}
    assert pools["web2"]["nodeLabels"] == {"kompox.dev/node-pool": "web", "team": "web"}
    assert actions(path) == []
    listed = cli_run("list", path)
    assert "web (provider pool web2)" in listed.stdout


def test_a_failed_create_leaves_the_old_pool(aks_emulator: EmulatorSession,
                                             tmp_path: Path) -> None:
    path = seeded(aks_emulator, tmp_path)
    aks_emulator.faults.add(method="PUT", path="/agentPools/web2$", status=400,
                            code="QuotaExceeded", message="Operation could not be completed"
                            " as it results in exceeding approved standardDSv5Family quota")
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 1
    assert "exceeding approved standardDSv5Family quota" in result.output
    assert [e.method for e in aks_emulator.request_log.writes] == ["PUT"]
    pools = agent_pools(aks_emulator)
    assert sorted(pools) == ["system", "web"] and pools["web"]["vmSize"] == "Standard_D4s_v5"
    assert actions(path) == [("replace", "web", "web")]
    assert cli_run("apply", path, "--yes").exit_code == 0  # the quota was raised
    assert sorted(agent_pools(aks_emulator)) == ["system", "web2"]


def test_a_create_that_ends_failed_never_deletes_the_old(aks_emulator: EmulatorSession,
                                                         tmp_path: Path) -> None:
    path = seeded(aks_emulator, tmp_path)
    aks_emulator.faults.add(method="PUT", path="/agentPools/web2$", action="lro_failed",
                            code="VMExtensionProvisioningError", message="extension failed")
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 1
    assert "extension failed" in result.output
    assert not aks_emulator.request_log.find("DELETE")
    assert agent_pools(aks_emulator)["web"]["vmSize"] == "Standard_D4s_v5"
    result = cli_run("apply", path, "--yes")  # the failed pool is sent again, then web goes
    assert result.exit_code == 0, result.output
    assert sorted(agent_pools(aks_emulator)) == ["system", "web2"]
    assert actions(path) == []


def test_a_failed_delete_leaves_exactly_that_delete(aks_emulator: EmulatorSession,
                                                    tmp_path: Path) -> None:
    path = seeded(aks_emulator, tmp_path)
    aks_emulator.faults.add(method="DELETE", path="/agentPools/web$", action="lro_failed",
                            code="PodDrainFailure", message="drain blocked by a"
                            " PodDisruptionBudget")
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 1
    assert "PodDisruptionBudget" in result.output
    assert sorted(agent_pools(aks_emulator)) == ["system", "web", "web2"]
    assert actions(path) == [("delete", "web", "web")]
    assert cli_run("apply", path, "--yes").exit_code == 0
    assert sorted(agent_pools(aks_emulator)) == ["system", "web2"]
    assert actions(path) == []


class InterruptAfterCreate:
    """ApplyEvents that sets the interrupt when the new pool's create has ended."""

    def __init__(self) -> None:
        self.interrupt = threading.Event()

    def started(self, action: Action) -> None:
        pass

    def progress(self, action: Action, message: str) -> None:
        if message == "Succeeded":
            self.interrupt.set()

    def finished(self, result: ActionResult) -> None:
        pass


def test_an_interrupt_between_the_two_keeps_both(aks_emulator: EmulatorSession,
                                                 tmp_path: Path) -> None:
    path = seeded(aks_emulator, tmp_path)
    planned = plan_file(path)
    events = InterruptAfterCreate()
    report = execute(planned.plan, planned.driver, events, interrupt=events.interrupt)
    assert report.interrupted
    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    assert sorted(agent_pools(aks_emulator)) == ["system", "web", "web2"]
    assert actions(path) == [("delete", "web", "web")]
    assert cli_run("apply", path, "--yes").exit_code == 0
    assert sorted(agent_pools(aks_emulator)) == ["system", "web2"]

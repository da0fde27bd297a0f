"""Replacing pools on the local provider (``immutableChanges: replace``): the new provider
pool carries the logical name and the scheduling labels, the old one goes only after the
new one succeeded, and whatever fails or is interrupted half-way leaves both pools, with
the next plan showing exactly the delete that remains."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.app import plan_file
from reconciler.apply.executor import ActionResult, ApplyReport, Outcome, execute
from reconciler.cli import cli
from reconciler.desired.load import load_desired
from reconciler.errors import ProviderError
from reconciler.model import NodePool
from reconciler.plan import Action, ActionKind, Reason
from reconciler.plan.planner import make_plan
from reconciler.providers.local.driver import LocalDriver

DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster: {{name: demo, provider: local, settings: {{location: japaneast, stateFile: state.json}}}}
policy: {{immutableChanges: replace}}
nodePools:
  - name: system
    mode: system
    instanceType: {system}
    autoscaling: {{enabled: true, min: 1, max: 3}}
  - name: web
    mode: user
    instanceType: {web}
    labels: {{team: web}}
    extensions: {{aks: {{nodeTaints: ["workload=web:NoSchedule"]}}}}
"""


class Recorder:
    """ApplyEvents that keeps the messages, and can set an interrupt on one of them."""

    def __init__(self, interrupt_on: str | None = None) -> None:
        self.interrupt = threading.Event()
        self.interrupt_on = interrupt_on
        self.messages: list[str] = []

    def started(self, action: Action) -> None:
        pass

    def progress(self, action: Action, message: str) -> None:
        self.messages.append(message)
        if self.interrupt_on is not None and message == self.interrupt_on:
            self.interrupt.set()

    def finished(self, result: ActionResult) -> None:
        pass


class FailingDriver(LocalDriver):
    """The local driver, failing the create or delete of one provider pool."""

    fail_create: str | None = None
    fail_delete: str | None = None
    calls: list[str]

    def create(self, pool: NodePool, progress: Any = None) -> NodePool:
        self.calls.append(f"create {pool.provider_name or pool.name}")
        if (pool.provider_name or pool.name) == self.fail_create:
            raise ProviderError("QuotaExceeded: not enough cores for the new pool")
        return super().create(pool, progress)

    def delete(self, name: str, etag: str | None = None, progress: Any = None) -> None:
        self.calls.append(f"delete {name}")
        if name == self.fail_delete:
            raise ProviderError("the pool is locked")
        super().delete(name, etag, progress)


def write(folder: Path, web: str = "Standard_D4s_v5",
          system: str = "Standard_D4s_v5") -> str:
    path = folder / "pools.yaml"
    path.write_text(DESIRED.format(web=web, system=system))
    return str(path)


def stored(folder: Path) -> dict[str, dict[str, Any]]:
    """Provider pools in the state file: name -> properties."""
    pools = json.loads((folder / "state.json").read_text())["agentPools"]
    return {name: pool["properties"] for name, pool in pools.items()}


def apply_cli(path: str) -> None:
    result = CliRunner().invoke(cli, ["apply", path, "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def plan_json(path: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["plan", path, "--format", "json"],
                                catch_exceptions=False)
    return dict(json.loads(result.stdout))


def apply_with(driver: LocalDriver, path: str, events: Recorder) -> ApplyReport:
    desired = load_desired(path)
    plan = make_plan(desired, driver.list(), driver.capabilities)
    assert plan.ok, plan.errors
    return execute(plan, driver, events, interrupt=events.interrupt)


def failing(path: str, **failures: str) -> FailingDriver:
    driver = FailingDriver(load_desired(path).cluster)
    driver.calls = []
    for key, value in failures.items():
        setattr(driver, key, value)
    return driver


def test_replacement_keeps_the_pool_for_workloads_and_moves_back(tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    path = write(tmp_path, web="Standard_D8s_v5")
    plan = plan_json(path)
    assert [(a["action"], a["pool"], a["providerName"], a["newProviderName"])
            for a in plan["actions"]] == [("replace", "web", "web", "web2")]
    assert plan["summary"]["replace"] == 1 and plan["summary"]["destroy"] == 1

    apply_cli(path)
    pools = stored(tmp_path)
    assert sorted(pools) == ["system", "web2"]
    new = pools["web2"]
    assert new["vmSize"] == "Standard_D8s_v5"
    assert new["tags"] == {"managed-by": "reconciler", "reconciler-pool": "web"}
    assert new["nodeLabels"] == {"kompox.dev/node-pool": "web", "team": "web"}
    assert new["nodeTaints"] == ["workload=web:NoSchedule"]
    assert plan_json(path)["actions"] == []
    listed = CliRunner().invoke(cli, ["list", write(tmp_path, web="Standard_D8s_v5"),
                                      "--format", "json"]).stdout
    assert {(p["name"], p["providerName"]) for p in json.loads(listed)} == {
        ("system", "system"), ("web", "web2")}

    apply_cli(write(tmp_path, web="Standard_D16s_v5"))  # and back to its own name
    pools = stored(tmp_path)
    assert sorted(pools) == ["system", "web"]
    assert pools["web"]["tags"] == {"managed-by": "reconciler"}
    assert pools["web"]["nodeLabels"]["kompox.dev/node-pool"] == "web"


def test_a_failed_create_leaves_the_old_pool_untouched(tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    before = stored(tmp_path)
    path = write(tmp_path, web="Standard_D8s_v5")
    driver = failing(path, fail_create="web2")
    report = apply_with(driver, path, Recorder())
    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    assert "QuotaExceeded" in (report.results[0].error or "")
    assert stored(tmp_path) == before
    assert driver.calls == ["create web2"]
    assert [a["action"] for a in plan_json(path)["actions"]] == ["replace"]


def _assert_only_the_delete_remains(tmp_path: Path, path: str) -> None:
    assert sorted(stored(tmp_path)) == ["system", "web", "web2"]
    plan = plan_json(path)
    assert [(a["action"], a["pool"], a.get("providerName"), a["reason"])
            for a in plan["actions"]] == [("delete", "web", "web", "replaced")]
    assert plan["summary"]["destroy"] == 1
    apply_cli(path)
    assert sorted(stored(tmp_path)) == ["system", "web2"]
    assert plan_json(path)["actions"] == []


def test_a_failed_delete_leaves_both_and_the_next_plan_deletes_the_old(
        tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    path = write(tmp_path, web="Standard_D8s_v5")
    report = apply_with(failing(path, fail_delete="web"), path, Recorder())
    assert [r.outcome for r in report.results] == [Outcome.FAILED]
    assert "both remain" in (report.results[0].error or "")
    _assert_only_the_delete_remains(tmp_path, path)


def test_an_interrupt_between_create_and_delete_keeps_both(tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    path = write(tmp_path, web="Standard_D8s_v5")
    events = Recorder(interrupt_on="Succeeded")  # the new pool's create has ended
    report = apply_with(failing(path), path, events)
    assert report.interrupted
    assert "interrupted after creating provider pool 'web2'" in (report.results[0].error
                                                                   or "")
    _assert_only_the_delete_remains(tmp_path, path)


def test_system_pool_replacements_run_one_at_a_time(tmp_path: Path) -> None:
    text = DESIRED.replace("  - name: web\n", "  - name: infra\n    mode: system\n"
                           "    instanceType: {system}\n  - name: web\n")
    path = tmp_path / "pools.yaml"
    path.write_text(text.format(web="Standard_D4s_v5", system="Standard_D4s_v5"))
    apply_cli(str(path))
    path.write_text(text.format(web="Standard_D8s_v5", system="Standard_D8s_v5"))
    driver = failing(str(path))
    report = apply_with(driver, str(path), Recorder())
    assert report.ok
    # the user pool first; then each system pool's new pool, then its old one's delete
    assert driver.calls[:2] == ["create web2", "delete web"]
    system_calls = driver.calls[2:]
    assert system_calls in (["create infra2", "delete infra", "create system2", "delete system"],
                            ["create system2", "delete system", "create infra2", "delete infra"])
    assert sorted(stored(tmp_path)) == ["infra2", "system2", "web2"]


def test_the_pool_limit_counts_the_temporary_pool(tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    path = write(tmp_path, web="Standard_D8s_v5")
    desired = load_desired(path)
    driver = LocalDriver(desired.cluster)
    caps = replace(driver.capabilities, max_pools=2)
    plan = make_plan(desired, driver.list(), caps)
    assert not plan.ok
    assert "replacement has two provider pools" in plan.errors[0].message


def test_reject_stays_the_default(tmp_path: Path) -> None:
    apply_cli(write(tmp_path))
    path = tmp_path / "pools.yaml"
    path.write_text(DESIRED.replace("policy: {{immutableChanges: replace}}\n", "")
                    .format(web="Standard_D8s_v5", system="Standard_D4s_v5"))
    result = CliRunner().invoke(cli, ["apply", str(path), "--yes"])
    assert result.exit_code == 1
    assert "instanceType cannot change on an existing pool" in result.output
    assert sorted(stored(tmp_path)) == ["system", "web"]


@pytest.mark.parametrize("protected_opt_in", [False, True])
def test_a_protected_pool_is_replaced_only_when_it_opts_in(tmp_path: Path,
                                                           protected_opt_in: bool) -> None:
    apply_cli(write(tmp_path))
    text = DESIRED.replace("{{immutableChanges: replace}}",
                           "{{immutableChanges: replace, protect: [web]}}")
    if protected_opt_in:
        text = text.replace("    mode: user\n", "    mode: user\n    immutableChanges: replace\n")
    path = tmp_path / "pools.yaml"
    path.write_text(text.format(web="Standard_D8s_v5", system="Standard_D4s_v5"))
    planned = plan_file(str(path))
    if protected_opt_in:
        assert planned.plan.ok
        assert [a.kind for a in planned.plan.actions] == [ActionKind.REPLACE]
    else:
        assert any("policy.protect" in e.message for e in planned.plan.errors)
        assert all(a.reason is not Reason.IMMUTABLE_CHANGE for a in planned.plan.actions)


def test_eks_plans_a_replacement_under_its_own_name_rule(tmp_path: Path) -> None:
    from reconciler.registry import capabilities_for

    path = tmp_path / "pools.yaml"
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster: {name: demo,"
                    " provider: eks, settings: {region: us-east-1, clusterName: demo,"
                    " nodeRoleArn: 'arn:aws:iam::123456789012:role/nodes'}}\n"
                    "policy: {immutableChanges: replace}\nnodePools:\n"
                    "  - {name: web, instanceType: m5.xlarge}\n")
    desired = load_desired(str(path))
    caps = capabilities_for("eks", desired.cluster.settings)
    assert caps.replaces
    live = [NodePool(name="web", provider_name="web", instance_type="m5.large",
                     managed=True, extensions={"eks": {
                         "taints": ["dedicated=web:NoSchedule"], "tags": {"team": "web"},
                         "amiType": "AL2023_x86_64_STANDARD", "releaseVersion": "1.29-x",
                         "launchTemplate": {"id": "lt-1", "name": "web", "version": "2"}}})]
    plan = make_plan(desired, live, caps)
    assert plan.ok, plan.errors
    [action] = plan.actions
    assert action.kind is ActionKind.REPLACE
    assert (action.provider_name, action.new_provider_name) == ("web", "web2")
    assert action.desired is not None
    assert action.desired.extensions == {"eks": {
        "taints": ["dedicated=web:NoSchedule"], "tags": {"team": "web"},
        "amiType": "AL2023_x86_64_STANDARD",
        "launchTemplate": {"id": "lt-1", "version": "2"}}}  # no AMI release: the latest


def _case_plan(case: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from reconciler.providers.aks.mapping import pool_from_arm
    from reconciler.registry import capabilities_for

    folder = Path(__file__).parent / "cases" / case
    monkeypatch.chdir(folder)
    desired = load_desired("desired.yaml")
    caps = capabilities_for(desired.cluster.provider, desired.cluster.settings)
    live = [pool_from_arm(raw, caps.location)
            for raw in json.loads((folder / "live.json").read_text())["value"]]
    return make_plan(desired, live, caps)


def test_markdown_flags_a_replacement_as_destructive(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.render.markdown import render_markdown

    text = render_markdown(_case_plan("replace-moves-back-to-own-name", monkeypatch))
    caution = text.split("> [!CAUTION]", 1)[1].split("\n\n", 1)[0]
    assert "destroys 1 node pool" in caution and "web (provider pool web2)" in caution
    assert "| -/+ | `web` | replace |" in text
    assert "| provider pool | `web2` | `web` |" in text
    assert "(forces replacement)" in text
    assert "shortened" not in text  # the provider pool's row is not a field left out


def test_a_hostile_logical_name_tag_is_escaped_and_only_ours_counts() -> None:
    from reconciler.providers.aks.mapping import pool_from_arm
    from reconciler.render.text import render_text

    tags = {"managed-by": "reconciler", "reconciler-pool": "web\x1b[2J\n::error::x"}
    ours = pool_from_arm({"name": "web2", "properties": {"tags": tags}}, None)
    theirs = pool_from_arm({"name": "web3", "properties": {"tags": {
        "managed-by": "other", "reconciler-pool": "web"}}}, None)
    assert (ours.name, ours.provider_name) == ("web\x1b[2J\n::error::x", "web2")
    assert (theirs.name, theirs.provider_name) == ("web3", "web3")
    plan = make_plan(load_desired_text("nodePools:\n  - {name: system, mode: system}\n"),
                     [ours, NodePool(name="system", provider_name="system", mode="system",
                                     managed=True)], _local_caps())
    shown = render_text(plan)
    assert "\x1b" not in shown and "\n::error::" not in shown
    assert "provider pool web2" in shown


def load_desired_text(pools: str) -> Any:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "pools.yaml"
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster: {name: demo,"
                    " provider: local, settings: {location: japaneast}}\n" + pools)
    return load_desired(str(path))


def _local_caps() -> Any:
    from reconciler.providers.aks.capabilities import aks_capabilities

    return aks_capabilities("japaneast")

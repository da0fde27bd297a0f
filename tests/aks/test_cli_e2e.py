"""The real CLI against the ARM emulator over HTTPS: plan, apply, re-plan = zero changes,
with request counts at the floor (one list per plan, one write per action)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool
from ruamel.yaml import YAML

from reconciler.app import plan_file
from reconciler.apply.executor import Outcome, execute
from reconciler.apply.progress import LineEvents
from reconciler.cli import cli

BASE_POOLS = """\
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    zones: [eastus-1, "2"]
    labels: {team: platform}
    autoscaling: {enabled: true, min: 1, max: 3}
  - name: batch
    mode: user
    instanceType: Standard_D8s_v5
    priority: spot
    autoscaling: {enabled: false, desired: 2}
    extensions:
      aks: {nodeTaints: ["workload=batch:NoSchedule"], maxPods: 50}
"""


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def cluster(aks_emulator: EmulatorSession, tmp_path: Path) -> EmulatorSession:
    """An AKS cluster as created by the portal: one unmanaged system pool, nodepool1."""
    aks_emulator.reset([arm_pool("nodepool1", "System", count=3)])
    return aks_emulator


def write(cluster: EmulatorSession, tmp_path: Path, pools: str = BASE_POOLS) -> str:
    return str(cluster.write_desired(tmp_path / "pools.yaml", pools,
                                     policy_yaml="policy: {prune: owned}\n"))


def converge(cluster: EmulatorSession, path: str) -> Result:
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 0, result.output
    cluster.request_log.clear()
    replan = cli_run("plan", path, "--detailed-exitcode", "--format", "json")
    assert replan.exit_code == 0, replan.output
    assert json.loads(replan.stdout)["actions"] == []
    assert cluster.request_log.writes == [] and len(cluster.request_log.list_pages) == 1
    return result


def test_plan_is_one_list_request_and_shows_unmanaged(cluster: EmulatorSession,
                                                      tmp_path: Path) -> None:
    result = cli_run("plan", write(cluster, tmp_path), "--format", "json")
    plan = json.loads(result.stdout)
    assert plan["summary"] == {"create": 2, "update": 0, "delete": 0, "destroy": 0,
                               "noop": 0}
    assert plan["unmanaged"] == ["nodepool1"]
    assert len(cluster.request_log.list_pages) == 1
    assert cluster.request_log.pool_gets == [] and cluster.request_log.writes == []


def test_creates_converge_with_one_write_each(cluster: EmulatorSession, tmp_path: Path) -> None:
    path = write(cluster, tmp_path)
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 0, result.output
    puts = cluster.request_log.find("PUT", status=201)
    assert sorted(e.path.rsplit("/", 1)[1] for e in puts) == ["batch", "system"]
    assert len(cluster.request_log.writes) == 2
    batch = cluster.store.get("batch")["properties"]
    assert batch["scaleSetPriority"] == "Spot" and batch["tags"]["managed-by"] == "reconciler"
    assert cluster.store.get("system")["properties"]["availabilityZones"] == ["1", "2"]
    assert cluster.store.get("system")["properties"]["nodeLabels"] == {
        "team": "platform", "kompox.dev/node-pool": "system"}  # two zones: no zone label
    converge(cluster, path)
    again = cli_run("apply", path, "--yes")
    assert again.exit_code == 0 and cluster.request_log.writes == []


def test_label_taint_and_autoscaling_updates(cluster: EmulatorSession, tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    changed = (BASE_POOLS.replace("{team: platform}", "{team: core, tier: gold}")
               .replace("max: 3", "max: 6")
               .replace('"workload=batch:NoSchedule"', '"workload=batch:NoExecute"')
               .replace("desired: 2", "desired: 4"))
    path = write(cluster, tmp_path, changed)
    plan = json.loads(cli_run("plan", path, "--format", "json").stdout)
    assert [(a["action"], a["pool"]) for a in plan["actions"]] == [("update", "system"),
                                                                  ("update", "batch")]
    cluster.request_log.clear()
    converge(cluster, path)
    system = cluster.store.get("system")["properties"]
    batch = cluster.store.get("batch")["properties"]
    assert system["maxCount"] == 6 and system["nodeLabels"]["tier"] == "gold"
    assert batch["count"] == 4
    assert "workload=batch:NoExecute" in batch["nodeTaints"]
    assert "kubernetes.azure.com/scalesetpriority=spot:NoSchedule" in batch["nodeTaints"]


def test_update_sends_one_put_with_if_match_and_no_image_version(
        cluster: EmulatorSession, tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    path = write(cluster, tmp_path, BASE_POOLS.replace("max: 3", "max: 4"))
    etag = cluster.store.get("system")["properties"]["eTag"]
    cluster.request_log.clear()
    assert cli_run("apply", path, "--yes").exit_code == 0
    [put] = cluster.request_log.writes
    assert put.header("If-Match") in (etag, f'"{etag}"')
    assert "nodeImageVersion" not in json.dumps(put.body)


def test_delete_removes_only_the_owned_pool(cluster: EmulatorSession, tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    only_system = BASE_POOLS.split("  - name: batch")[0]
    path = write(cluster, tmp_path, only_system)
    plan = json.loads(cli_run("plan", path, "--format", "json").stdout)
    assert plan["actions"] == [{"action": "delete", "pool": "batch", "reason": "no-longer-listed",
                               "changes": []}]
    cluster.request_log.clear()
    converge(cluster, path)
    assert cluster.store.get("batch") is None and cluster.store.get("nodepool1") is not None


def test_immutable_change_is_rejected_before_any_write(cluster: EmulatorSession,
                                                       tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    path = write(cluster, tmp_path, BASE_POOLS.replace('[eastus-1, "2"]', "[eastus-3]"))
    cluster.request_log.clear()
    result = cli_run("apply", path, "--yes")
    assert result.exit_code == 1
    assert "zones cannot change on an existing pool" in result.stdout
    assert cluster.request_log.writes == []


def test_concurrent_change_between_plan_and_apply_is_caught(
        cluster: EmulatorSession, tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    planned = plan_file(write(cluster, tmp_path, BASE_POOLS.replace("max: 3", "max: 5")))
    # Someone else updates the pool after our plan (portal, another pipeline).
    body = cluster.store.get("system")
    body["properties"]["maxCount"] = 4
    cluster.store.put("system", body)
    report = execute(planned.plan, planned.driver, LineEvents())
    [result] = report.results
    assert result.outcome is Outcome.FAILED
    assert "changed since the plan; run plan again" in str(result.error)
    assert cluster.store.get("system")["properties"]["maxCount"] == 4  # no lost update


def test_saved_plan_refused_after_the_cluster_changed(cluster: EmulatorSession,
                                                      tmp_path: Path) -> None:
    converge(cluster, write(cluster, tmp_path))
    path = write(cluster, tmp_path, BASE_POOLS.replace("max: 3", "max: 5"))
    assert cli_run("plan", path, "--out", str(tmp_path / "plan.json")).exit_code == 0
    body = cluster.store.get("batch")
    body["properties"]["nodeLabels"] = {"someone": "else"}
    cluster.store.put("batch", body)
    cluster.request_log.clear()
    refused = cli_run("apply", str(tmp_path / "plan.json"), "--file", path, "--yes")
    assert refused.exit_code == 1
    assert "changed since the plan was saved" in refused.stderr
    assert cluster.request_log.writes == []


@pytest.mark.parametrize("fault", [
    {"method": "PUT", "status": 503, "code": "ServiceUnavailable"},
    {"method": "PUT", "status": 429, "code": "Throttled", "retry_after": 0.05},
    {"method": "PUT", "action": "drop"},
    {"method": "PUT", "status": 409, "code": "OperationNotAllowed",
     "message": "Another agentpool operation is in progress."},
])
def test_transient_faults_are_retried_to_success(cluster: EmulatorSession, tmp_path: Path,
                                                 fault: dict[str, object]) -> None:
    cluster.faults.add(path="/agentPools/batch$", **fault)
    converge(cluster, write(cluster, tmp_path))


def test_failed_operation_stops_reports_and_rerun_converges(cluster: EmulatorSession,
                                                            tmp_path: Path) -> None:
    cluster.faults.add(method="PUT", path="/agentPools/system$", action="lro_failed",
                       code="VMExtensionProvisioningError",
                       message="VM has reported a failure when processing extension")
    path = write(cluster, tmp_path, BASE_POOLS + "    # end\n")
    result = cli_run("apply", path, "--yes", "--parallelism", "1")
    assert result.exit_code == 1
    assert "Apply failed: 1 failed, 1 not started." in result.stdout
    assert "not started: create batch" in result.stdout
    assert "VM has reported a failure when processing extension" in result.output
    assert cluster.store.get("nodepool1") is not None
    # The failed pool exists but is not converged: plan says so, and apply re-sends it.
    replan = cli_run("plan", path, "--detailed-exitcode", "--format", "json")
    assert replan.exit_code == 2
    actions = {a["pool"]: a for a in json.loads(replan.stdout)["actions"]}
    assert actions["system"]["changes"] == [
        {"path": ["provisioningState"], "field": "provisioningState", "before": "Failed",
         "after": "Succeeded"}]
    assert actions["batch"]["action"] == "create"
    converge(cluster, path)
    assert cluster.store.get("system")["properties"]["provisioningState"] == "Succeeded"


def test_a_wrong_cluster_name_is_an_error_everywhere_not_an_empty_cluster(
        cluster: EmulatorSession, tmp_path: Path) -> None:
    path = str(cluster.write_desired(tmp_path / "pools.yaml", BASE_POOLS, clusterName="typo"))
    exported = tmp_path / "exported.yaml"
    for args in (["plan", path], ["list", path], ["apply", path, "--yes"],
                 ["plan", path, "--detailed-exitcode"], ["export", path, "-o", str(exported)]):
        result = cli_run(*args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("error: AKS cluster 'typo' was not found"), args
        assert "Plan:" not in result.stdout and "to create" not in result.stdout
    assert not exported.exists()
    assert cluster.request_log.writes == []


def test_a_failed_action_is_explained_once_on_a_terminal(cluster: EmulatorSession,
                                                         tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    path = write(cluster, tmp_path)
    cluster.faults.add(method="PUT", path="/agentPools/batch$", action="lro_failed",
                       code="VMExtensionProvisioningError", message="VM extension xyzzy failed")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply", path, "--yes"], cwd=tmp_path,
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
        env={**os.environ, **cluster.env, "NO_COLOR": "1", "COLUMNS": "200"})
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 1
    screen = b"".join(chunks).decode(errors="replace")
    assert "failed to create batch (the reason follows below)" in screen
    assert screen.count("VM extension xyzzy failed") == 1, screen


KOMPOX_TEMPLATE_POOLS = [
    arm_pool("npsystem", "System", availabilityZones=["1", "2", "3"],
             nodeLabels={"kompox.dev/node-pool": "system"}),
    arm_pool("npuser1", availabilityZones=["1"], enableAutoScaling=True, minCount=0,
             maxCount=3, nodeLabels={"kompox.dev/node-pool": "user",
                                     "kompox.dev/node-zone": "1"}),
    arm_pool("npuser2", availabilityZones=["2"], enableAutoScaling=True, minCount=0,
             maxCount=3, nodeLabels={"kompox.dev/node-pool": "user",
                                     "kompox.dev/node-zone": "2"}),
]


def test_adopting_kompox_pools_keeps_the_labels_their_apps_select_on(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    """Kompox's template labels npuser1..3 kompox.dev/node-pool=user and node-zone='1'..;
    an adoption plan shows only the marker, and the PUTs write only the marker."""
    aks_emulator.reset(KOMPOX_TEMPLATE_POOLS)
    source = aks_emulator.write_desired(tmp_path / "cluster.yaml")
    out = tmp_path / "pools.yaml"
    assert cli_run("export", str(source), "--output", str(out)).exit_code == 0
    plan = json.loads(cli_run("plan", str(out), "--format", "json").stdout)
    assert {c["field"] for a in plan["actions"] for c in a["changes"]} == {"managedBy"}
    before = {p["name"]: p["properties"]["nodeLabels"] for p in KOMPOX_TEMPLATE_POOLS}
    converge(aks_emulator, str(out))
    for name, labels in before.items():
        assert aks_emulator.store.get(name)["properties"]["nodeLabels"] == labels


def test_a_new_pool_in_one_zone_is_labelled_as_kompox_selects_it(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset(KOMPOX_TEMPLATE_POOLS)
    path = write(aks_emulator, tmp_path, KOMPOX_TEMPLATE_POOLS_YAML + """\
  - name: npuser3
    mode: user
    zones: [eastus-3]
    labels: {kompox.dev/node-pool: user}
  - name: wide
    mode: user
    zones: ["1", "2"]
""")
    plan = json.loads(cli_run("plan", path, "--format", "json").stdout)
    shown = {(a["pool"], c["field"]): c["after"] for a in plan["actions"] for c in a["changes"]
             if c["field"].startswith("labels.")}
    assert shown == {("npuser3", "labels.kompox.dev/node-pool"): "user",
                     ("npuser3", "labels.kompox.dev/node-zone"): "3",
                     ("wide", "labels.kompox.dev/node-pool"): "wide"}
    converge(aks_emulator, path)
    assert aks_emulator.store.get("npuser3")["properties"]["nodeLabels"] == {
        "kompox.dev/node-pool": "user", "kompox.dev/node-zone": "3"}
    assert aks_emulator.store.get("wide")["properties"]["nodeLabels"] == {
        "kompox.dev/node-pool": "wide"}  # two zones: no zone label


KOMPOX_TEMPLATE_POOLS_YAML = """\
nodePools:
  - {name: npsystem, mode: system, zones: ["1", "2", "3"]}
  - name: npuser1
    mode: user
    zones: ["1"]
    autoscaling: {enabled: true, min: 0, max: 3}
  - name: npuser2
    mode: user
    zones: ["2"]
    autoscaling: {enabled: true, min: 0, max: 3}
"""


def test_ignored_differences_are_listed_and_their_live_values_survive_the_write(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    """A tag added by Azure Policy and an auto-upgraded patch version stay as they are
    while the file changes another tag; the plan lists both as ignored, never silently."""
    aks_emulator.reset([arm_pool("system", "System", orchestratorVersion="1.33.5",
                                 tags={"managed-by": "reconciler", "team": "core",
                                       "costcenter": "cc-42"})])
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", """\
policy:
  ignoreChanges: [extensions.aks.tags.costcenter, extensions.aks.orchestratorVersion]
nodePools:
  - name: system
    mode: system
    extensions:
      aks: {orchestratorVersion: 1.33.2, tags: {team: platform}}
""")
    plan = json.loads(cli_run("plan", str(path), "--format", "json").stdout)
    assert [c["field"] for a in plan["actions"] for c in a["changes"]] == [
        "extensions.aks.tags.team"]
    assert {(i["field"], i["before"], i["why"]) for i in plan["ignored"]} == {
        ("extensions.aks.orchestratorVersion", "1.33.5",
         "ignoreChanges: extensions.aks.orchestratorVersion"),
        ("extensions.aks.tags.costcenter", "cc-42",
         "ignoreChanges: extensions.aks.tags.costcenter")}
    text = cli_run("plan", str(path)).stdout
    assert "Ignored differences (the live value stays):" in text
    converge(aks_emulator, str(path))
    props = aks_emulator.store.get("system")["properties"]
    assert props["tags"] == {"managed-by": "reconciler", "team": "platform",
                             "costcenter": "cc-42"}
    assert props["orchestratorVersion"] == "1.33.5"


def test_a_stopped_pool_exports_as_stopped_and_starts_with_the_file_scaling(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    """A stopped pool (count 0) once planned 'desired 0 -> 3' and export pinned desired: 0.
    Now export pins its power state and no scaling, the plan leaves its scaling alone and
    says so, and starting it writes powerState and the file's scaling in one request."""
    aks_emulator.reset([
        arm_pool("system", "System", tags={"managed-by": "reconciler"}),
        arm_pool("batch", count=0, enableAutoScaling=False, powerState={"code": "Stopped"},
                 tags={"managed-by": "reconciler"})])
    source = aks_emulator.write_desired(tmp_path / "cluster.yaml")
    out = tmp_path / "pools.yaml"
    assert cli_run("export", str(source), "--output", str(out)).exit_code == 0
    exported = YAML(typ="safe").load(out.read_text())
    [batch] = [pool for pool in exported["nodePools"] if pool["name"] == "batch"]
    assert batch["extensions"]["aks"]["powerState"] == {"code": "Stopped"}
    assert "autoscaling" not in batch  # was: autoscaling {enabled: false, desired: 0}
    aks_emulator.request_log.clear()
    assert cli_run("plan", str(out), "--detailed-exitcode").exit_code == 0
    # The file asks for scaling: still nothing to write while the pool is stopped.
    batch["autoscaling"] = {"enabled": True, "min": 1, "max": 4}
    out.write_text(json.dumps(exported))
    scaled = out.read_text()
    out.write_text(scaled)
    plan = json.loads(cli_run("plan", str(out), "--format", "json").stdout)
    assert plan["actions"] == []
    assert {i["field"] for i in plan["ignored"]} == {
        "autoscaling.enabled", "autoscaling.min", "autoscaling.max"}
    # Start it: one PUT carries the power state and the scaling.
    batch["extensions"]["aks"]["powerState"] = {"code": "Running"}
    out.write_text(json.dumps(exported))
    converge(aks_emulator, str(out))
    props = aks_emulator.store.get("batch")["properties"]
    assert props["powerState"] == {"code": "Running"}
    assert (props["enableAutoScaling"], props["minCount"], props["maxCount"]) == (True, 1, 4)
    # Stop it again: count 0, and the next plan is clean.
    out.write_text(scaled)
    converge(aks_emulator, str(out))
    props = aks_emulator.store.get("batch")["properties"]
    assert props["powerState"] == {"code": "Stopped"} and props["count"] == 0


def test_a_production_pool_with_its_own_subnet_converges(aks_emulator: EmulatorSession,
                                                         tmp_path: Path) -> None:
    """vnetSubnetID, podSubnetID, kubeletConfig, linuxOSConfig, osSKU family: created in one
    PUT, then re-planned to zero changes; then an in-place osSKU and scale-down change."""
    aks_emulator.reset([arm_pool("system", "System", tags={"managed-by": "reconciler"})])
    subnet = ("/subscriptions/0000/resourceGroups/net/providers/Microsoft.Network/"
              "virtualNetworks/hub/subnets/")
    pools = f"""\
nodePools:
  - {{name: system, mode: system}}
  - name: apps
    mode: user
    zones: ["1"]
    extensions:
      aks:
        vnetSubnetID: {subnet}nodes
        podSubnetID: {subnet}pods
        osSKU: Ubuntu2204
        scaleDownMode: Delete
        kubeletConfig: {{cpuManagerPolicy: static, podMaxPids: 4096}}
        linuxOSConfig: {{swapFileSizeMB: 1024}}
        upgradeSettings: {{maxSurge: "33%", undrainableNodeBehavior: Cordon}}
"""
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools)
    converge(aks_emulator, str(path))
    props = aks_emulator.store.get("apps")["properties"]
    assert props["vnetSubnetID"] == subnet + "nodes"
    assert props["kubeletConfig"] == {"cpuManagerPolicy": "static", "podMaxPids": 4096}
    path.write_text(path.read_text().replace("Ubuntu2204", "AzureLinux3")
                    .replace("scaleDownMode: Delete", "scaleDownMode: Deallocate"))
    converge(aks_emulator, str(path))
    props = aks_emulator.store.get("apps")["properties"]
    assert (props["osSKU"], props["scaleDownMode"]) == ("AzureLinux3", "Deallocate")
    path.write_text(path.read_text().replace(subnet + "nodes", subnet + "nodes2"))
    rejected = cli_run("plan", str(path))
    assert rejected.exit_code == 1 and "vnetSubnetID cannot change" in rejected.output
    assert aks_emulator.request_log.writes == []

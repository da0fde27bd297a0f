"""`reconciler export` (onboarding): the written file, re-export keeping comments, and the
round trip against the local provider and the AKS emulator (validate, adopt once, no changes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool

from reconciler.cli import cli
from reconciler.export import ExportHeader, export_text, schema_ref_for
from reconciler.model import Autoscaling, NodePool
from reconciler.registry import capabilities_for

CAPS = capabilities_for("local", {"location": "japaneast"})
HEADER = ExportHeader("demo", "local", "0.1.0", datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
                      "../schemas/nodepools.schema.json")
SYSTEM = NodePool(name="system", mode="system", instance_type="Standard_D4s_v5",
                  zones=("japaneast-2", "japaneast-1"),
                  labels={"team": "core", "kompox.dev/node-pool": "system"},
                  autoscaling=Autoscaling(True, 1, 5, 2), managed=True)
WEB = NodePool(name="web", mode="user", autoscaling=Autoscaling(False, None, None, 3),
               extensions={"aks": {"tags": {"managed-by": "reconciler", "env": "prod"},
                                   "orchestratorVersion": "1.30.0"}})
CLUSTER_ONLY = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}
nodePools: []
"""


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_first_export_has_modeline_header_and_adoption_notes() -> None:
    assert export_text(CLUSTER_ONLY, [WEB, SYSTEM], CAPS, HEADER) == """\
# yaml-language-server: $schema=../schemas/nodepools.schema.json
# Exported by `reconciler export` 0.1.0 at 2026-05-01T12:00:00Z from the live node pools of
#   cluster 'demo' (local): 2 node pools. Review it, commit it, then run
#   `reconciler plan` on it: it should show no changes except, once,
#   adopting 1 node pool not yet marked managed-by=reconciler (the first apply adds
#   the marker, and kompox.dev/node-pool where a pool lacks it; nothing else changes).
#   Re-export with --output onto this file to refresh it; comments are kept.
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    zones: [japaneast-1, japaneast-2]
    labels: {team: core}
    autoscaling: {enabled: true, min: 1, max: 5}
  - name: web  # not yet managed: the first apply adds the marker managed-by=reconciler
    mode: user
    labels: {}
    autoscaling: {enabled: false, desired: 3}
    extensions:
      aks:
        tags: {env: prod}
"""


def test_re_export_keeps_comments_of_pools_that_still_exist() -> None:
    existing = """\
# yaml-language-server: $schema=old/path.json
# Exported by `reconciler export` 0.0.9 at 2020-01-01T00:00:00Z from the live node pools of
#   cluster 'demo' (local): 1 node pool.
# Production pools: ask #platform before editing.
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}  # simulated
nodePools:
  - name: old  # retired next week
    mode: user
  # The system pool: keep at least 3 nodes in business hours.
  - name: system   # created by hand in 2024
    mode: system
    instanceType: Standard_D4s_v5
    labels:
      team: platform  # owner
    autoscaling: {enabled: true, min: 1, max: 3}  # raised in INC-42
  - name: web
    extensions:
      aks: {orchestratorVersion: "1.29.0"}  # pinned: upgrade with care
"""
    managed_web = NodePool(**{**WEB.__dict__, "managed": True})
    assert export_text(existing, [SYSTEM, managed_web], CAPS, HEADER) == """\
# yaml-language-server: $schema=../schemas/nodepools.schema.json
# Exported by `reconciler export` 0.1.0 at 2026-05-01T12:00:00Z from the live node pools of
#   cluster 'demo' (local): 2 node pools. Review it, commit it, then run
#   `reconciler plan` on it: it should show no changes.
#   Re-export with --output onto this file to refresh it; comments are kept.
# Production pools: ask #platform before editing.
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}  # simulated
nodePools:
  # The system pool: keep at least 3 nodes in business hours.
  - name: system   # created by hand in 2024
    mode: system
    instanceType: Standard_D4s_v5
    zones: [japaneast-1, japaneast-2]
    labels:
      team: core      # owner
    autoscaling: {enabled: true, min: 1, max: 5}  # raised in INC-42
  - name: web
    mode: user
    labels: {}
    autoscaling: {enabled: false, desired: 3}
    extensions:
      aks: {tags: {env: prod}, orchestratorVersion: "1.30.0"} # pinned: upgrade with care
"""


def test_the_adoption_note_goes_once_the_pool_is_marked() -> None:
    first = export_text(CLUSTER_ONLY, [WEB], CAPS, HEADER)
    assert "# not yet managed" in first
    again = export_text(first, [NodePool(**{**WEB.__dict__, "managed": True})], CAPS, HEADER)
    assert "not yet managed" not in again and "  - name: web\n" in again
    assert again.count("# Exported by") == 1 and again.count("$schema=") == 1


def test_refuses_to_export_into_a_file_about_another_cluster() -> None:
    from reconciler.errors import ReconcilerError

    with pytest.raises(ReconcilerError, match="not about cluster 'demo'"):
        export_text(CLUSTER_ONLY.replace("name: demo", "name: prod"), [WEB], CAPS, HEADER)


def test_schema_reference_follows_the_file(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "nodepools.schema.json").write_text("{}")
    (tmp_path / "clusters" / "prod").mkdir(parents=True)
    out = tmp_path / "clusters" / "prod" / "pools.yaml"
    # No modeline in the base file: the schemas/ folder above the output is found.
    assert schema_ref_for(out, CLUSTER_ONLY, tmp_path) == "../../schemas/nodepools.schema.json"
    # The base file's modeline is kept, made relative to the output's folder.
    with_modeline = "# yaml-language-server: $schema=schemas/nodepools.schema.json\n"
    assert schema_ref_for(out, with_modeline, tmp_path) == "../../schemas/nodepools.schema.json"
    url = "# yaml-language-server: $schema=https://example.test/s.json\n"
    assert schema_ref_for(out, url, tmp_path) == "https://example.test/s.json"
    assert schema_ref_for(Path("/nowhere/x.yaml"), "", tmp_path).startswith("https://")


def test_local_export_validates_and_plans_to_no_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("quickstart.yaml").write_text(
        (Path(__file__).parents[1] / "examples" / "quickstart.yaml").read_text()
        .replace("../.reconciler/", ".reconciler/"))
    assert cli_run("apply", "quickstart.yaml", "--yes").exit_code == 0
    Path("onboarded").mkdir()
    result = cli_run("export", "quickstart.yaml", "--output", "onboarded/pools.yaml")
    assert result.exit_code == 0 and result.stderr == "Wrote onboarded/pools.yaml\n"
    text = Path("onboarded/pools.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=")
    # The relative state file still names the same simulated cluster from the new folder.
    assert "stateFile: ../.reconciler/quickstart.json" in text
    assert cli_run("validate", "onboarded/pools.yaml").exit_code == 0
    assert cli_run("plan", "onboarded/pools.yaml", "--detailed-exitcode").exit_code == 0


def test_export_to_standard_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pools.yaml").write_text(CLUSTER_ONLY)
    result = cli_run("export", "pools.yaml", "--schema", "s.json")
    assert result.exit_code == 0
    assert result.stdout.startswith("# yaml-language-server: $schema=s.json\n# Exported by")
    assert result.stdout.endswith("nodePools: []\n")


@pytest.fixture
def portal_cluster(aks_emulator: EmulatorSession) -> EmulatorSession:
    """An AKS cluster made outside the tool: an unmarked system pool and an unmarked
    user pool with labels, taints and tags."""
    aks_emulator.reset([
        arm_pool("nodepool1", "System", availabilityZones=["1", "2"], enableAutoScaling=True,
                 minCount=1, maxCount=3, count=2),
        arm_pool("batch", count=2, nodeLabels={"team": "data"}, tags={"cost": "42"},
                 nodeTaints=["workload=batch:NoSchedule"]),
    ])
    return aks_emulator


def test_aks_export_adopts_once_then_plans_no_changes(portal_cluster: EmulatorSession,
                                                       tmp_path: Path) -> None:
    source = portal_cluster.write_desired(tmp_path / "cluster.yaml")
    out = tmp_path / "pools.yaml"
    assert cli_run("export", str(source), "--output", str(out)).exit_code == 0
    text = out.read_text()
    assert "adopting 2 node pools not yet marked managed-by=reconciler" in text
    assert text.count("# not yet managed") == 2
    assert cli_run("validate", str(out)).exit_code == 0
    # The first plan only adds the ownership marker and the scheduling label they lack.
    plan = json.loads(cli_run("plan", str(out), "--format", "json").stdout)
    assert plan["summary"] == {"create": 0, "update": 2, "delete": 0, "destroy": 0,
                               "noop": 0}
    assert {c["field"] for a in plan["actions"] for c in a["changes"]} == {
        "managedBy", "labels.kompox.dev/node-pool"}
    assert cli_run("apply", str(out), "--yes").exit_code == 0
    portal_cluster.request_log.clear()
    assert cli_run("plan", str(out), "--detailed-exitcode").exit_code == 0
    assert portal_cluster.request_log.writes == []
    # Re-export onto the same file: the adoption notes go, the header says no changes.
    assert cli_run("export", str(out), "--output", str(out)).exit_code == 0
    assert "# not yet managed" not in out.read_text()
    assert "it should show no changes.\n" in out.read_text()
    assert cli_run("plan", str(out), "--detailed-exitcode").exit_code == 0


def test_aks_re_export_keeps_user_comments(portal_cluster: EmulatorSession,
                                           tmp_path: Path) -> None:
    source = portal_cluster.write_desired(tmp_path / "cluster.yaml")
    out = tmp_path / "pools.yaml"
    cli_run("export", str(source), "--output", str(out))
    cli_run("apply", str(out), "--yes")
    cli_run("export", str(out), "--output", str(out))
    commented = out.read_text().replace("  - name: batch\n",
                                        "  # Nightly jobs; owned by the data team.\n"
                                        "  - name: batch  # do not scale above 10\n")
    out.write_text(commented)
    # Someone scales the pool outside the tool; re-export picks it up, comments stay.
    scaled = portal_cluster.store.get("batch")
    scaled["properties"]["count"] = 5
    portal_cluster.cluster.reset_pools({**portal_cluster.store.snapshot(), "batch": scaled})
    assert cli_run("export", str(out), "--output", str(out)).exit_code == 0
    text = out.read_text()
    assert "  # Nightly jobs; owned by the data team.\n  - name: batch  # do not scale" \
        in text
    assert "desired: 5" in text
    assert cli_run("plan", str(out), "--detailed-exitcode").exit_code == 0

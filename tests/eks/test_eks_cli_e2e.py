"""The real CLI against moto over HTTPS: plan, apply, list, export, adopt, prune. Every
apply is followed by a plan that must show no changes and send no write; request counts
are checked where the provider promises a floor (docs/eks.md). Tests that start from an
applied file get the CLI's own result of applying it (``EksWorld.applied``)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from ekstesting import CLUSTER, FAKE_SECRET, ZONES, EksWorld

WEB = """\
nodePools:
  - name: web
    mode: user
    instanceType: m6i.large
    zones: [us-east-1a, us-east-1b]
    osDiskSizeGiB: 50
    priority: spot
    labels: {team: web}
    autoscaling: {enabled: true, min: 1, max: 5}
    extensions:
      eks:
        taints: ["dedicated=web:NoSchedule"]
        amiType: AL2023_x86_64_STANDARD
        tags: {cost-center: "42", team: web}
        updateConfig: {maxUnavailable: 1}
"""

BATCH = """\
  - name: batch
    instanceType: c6i.xlarge
    zones: [us-east-1c]
    autoscaling: {enabled: false, desired: 2}
"""


def converge(eks: EksWorld, path: Path) -> str:
    """Apply, then re-plan: no changes, one list, no write."""
    return converge_after(eks, path, eks.apply(path))


def converge_after(eks: EksWorld, path: Path, applied: subprocess.CompletedProcess[str]) -> str:
    """Re-plan after ``applied`` (an apply of ``path``): no changes, one list, no write;
    neither run shows the secret."""
    eks.proxy.clear()
    replan = eks.cli("plan", str(path), "--detailed-exitcode", "--format", "json")
    assert replan.returncode == 0, replan.stdout + replan.stderr
    assert json.loads(replan.stdout)["actions"] == []
    assert eks.proxy.writes() == [] and eks.proxy.count("ListNodegroups") == 1
    for output in (applied.stdout, applied.stderr, replan.stdout, replan.stderr):
        assert FAKE_SECRET not in output
    return applied.stdout + applied.stderr


def test_plan_is_one_list_and_one_describe_per_node_group(eks: EksWorld) -> None:
    eks.seed("legacy")
    eks.seed("spare", zones=ZONES[2:])
    plan = eks.plan_json(eks.write(WEB))
    assert plan["summary"] == {"create": 1, "update": 0, "delete": 0, "destroy": 0,
                               "noop": 0}
    assert plan["unmanaged"] == ["legacy", "spare"]
    assert eks.proxy.count("ListNodegroups") == 1
    assert eks.proxy.count("DescribeNodegroup") == 2
    assert eks.proxy.count("ec2:DescribeSubnets") == 1  # zones of the listed subnets
    assert eks.proxy.writes() == []


def test_subnets_named_in_the_settings_spare_the_ec2_call(eks: EksWorld) -> None:
    eks.seed("legacy")
    eks.plan_json(eks.write(WEB, subnets=eks.subnets))
    assert eks.proxy.operations() == ["ListNodegroups", "DescribeNodegroup"]


def test_apply_creates_the_node_groups_the_file_describes_one_write_each(
        eks: EksWorld) -> None:
    path = eks.write(WEB + BATCH)
    applied = eks.apply(path)
    assert sorted(e.body["nodegroupName"] for e in eks.proxy.writes()) == ["batch", "web"]
    assert {e.operation for e in eks.proxy.writes()} == {"CreateNodegroup"}
    # Parallel creates read the cluster's subnets (and their zones) once between them.
    assert eks.proxy.count("DescribeCluster") == 1
    assert eks.proxy.count("ec2:DescribeSubnets") == 1
    assert "created web" in applied.stderr and "created batch" in applied.stderr
    converge_after(eks, path, applied)
    web = eks.nodegroup("web")
    assert web["instanceTypes"] == ["m6i.large"] and web["diskSize"] == 50
    assert web["capacityType"] == "SPOT" and web["amiType"] == "AL2023_x86_64_STANDARD"
    assert sorted(web["subnets"]) == sorted(eks.subnets[z] for z in ZONES[:2])
    assert web["labels"] == {"team": "web", "kompox.dev/node-pool": "web"}  # two zones
    assert web["taints"] == [{"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"}]
    assert web["tags"] == {"cost-center": "42", "team": "web", "managed-by": "reconciler"}
    assert web["scalingConfig"] == {"minSize": 1, "maxSize": 5, "desiredSize": 1}
    assert web["updateConfig"] == {"maxUnavailable": 1}
    batch = eks.nodegroup("batch")
    assert batch["labels"] == {"kompox.dev/node-pool": "batch",
                               "kompox.dev/node-zone": "us-east-1c"}  # one zone
    assert batch["scalingConfig"] == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
    assert batch["capacityType"] == "ON_DEMAND" and not batch.get("taints")


def test_in_place_changes_are_one_config_update_and_the_tag_calls(eks: EksWorld) -> None:
    eks.applied(WEB)
    changed = WEB.replace("labels: {team: web}", "labels: {tier: front}") \
        .replace('taints: ["dedicated=web:NoSchedule"]',
                 'taints: ["dedicated=api:NoSchedule", "spot=true:PreferNoSchedule"]') \
        .replace("min: 1, max: 5", "min: 2, max: 6") \
        .replace('tags: {cost-center: "42", team: web}',
                 'tags: {cost-center: "43", owner: web-team}') \
        .replace("maxUnavailable: 1", "maxUnavailablePercentage: 25")
    path = eks.write(changed)
    out = converge(eks, path)
    assert "Plan: 0 to create, 1 to update, 0 to delete" in out  # apply shows its plan
    web = eks.nodegroup("web")
    assert web["labels"] == {"tier": "front", "kompox.dev/node-pool": "web"}
    assert sorted((t["key"], t["value"], t["effect"]) for t in web["taints"]) == [
        ("dedicated", "api", "NO_SCHEDULE"), ("spot", "true", "PREFER_NO_SCHEDULE")]
    assert web["scalingConfig"] == {"minSize": 2, "maxSize": 6, "desiredSize": 2}
    assert web["tags"] == {"cost-center": "43", "owner": "web-team", "managed-by": "reconciler"}
    assert web["updateConfig"] == {"maxUnavailablePercentage": 25}


def test_an_update_sends_exactly_the_differences_and_removes_dropped_tags(
        eks: EksWorld) -> None:
    eks.applied(WEB)
    changed = WEB.replace("labels: {team: web}", "labels: {tier: front}") \
        .replace('tags: {cost-center: "42", team: web}', "tags: {owner: web-team}")
    path = eks.write(changed)
    applied = eks.apply(path)
    writes = eks.proxy.writes()
    assert [w.operation for w in writes] == ["UpdateNodegroupConfig", "TagResource",
                                             "UntagResource"]
    config = writes[0].body
    assert config["labels"] == {"addOrUpdateLabels": {"tier": "front"},
                                "removeLabels": ["team"]}
    assert set(config) <= {"labels", "clientRequestToken"}  # no scaling, taints or config
    assert writes[1].body == {"tags": {"owner": "web-team"}}
    assert sorted(writes[2].query["tagKeys"]) == ["cost-center", "team"]  # both, one call
    converge_after(eks, path, applied)
    assert eks.nodegroup("web")["tags"] == {"owner": "web-team", "managed-by": "reconciler"}


def test_nothing_to_change_sends_nothing(eks: EksWorld) -> None:
    result = eks.apply(eks.applied(WEB))
    assert "No changes" in result.stdout
    assert eks.proxy.writes() == []


def test_immutable_changes_are_refused_with_zero_writes(eks: EksWorld) -> None:
    eks.applied(WEB)
    changed = WEB.replace("m6i.large", "m6i.xlarge").replace("osDiskSizeGiB: 50",
                                                              "osDiskSizeGiB: 80") \
        .replace("priority: spot", "priority: regular") \
        .replace("[us-east-1a, us-east-1b]", "[us-east-1a, us-east-1c]") \
        .replace("AL2023_x86_64_STANDARD", "BOTTLEROCKET_x86_64")
    path = eks.write(changed)
    plan = eks.cli("plan", str(path), "--format", "json")
    assert plan.returncode == 1
    errors = {e["field"]: e["message"] for e in json.loads(plan.stdout)["errors"]}
    assert set(errors) == {"instanceType", "osDiskSizeGiB", "priority", "zones",
                           "extensions.eks.amiType"}
    assert all("add a new pool" in message for message in errors.values())
    applied = eks.cli("apply", str(path), "--yes")
    assert applied.returncode == 1 and "Traceback" not in applied.stderr
    assert "instanceType cannot change on an existing pool" in applied.stdout + applied.stderr
    assert eks.proxy.writes() == []
    assert eks.nodegroup("web")["instanceTypes"] == ["m6i.large"]


def test_a_version_change_is_refused_as_not_yet_supported(eks: EksWorld) -> None:
    eks.seed("legacy", tags={"managed-by": "reconciler"})
    live = eks.nodegroup("legacy")["version"]
    path = eks.write(f"nodePools:\n  - name: legacy\n    extensions:\n"
                     f"      eks: {{version: \"{live}\"}}\n")
    assert eks.plan_json(path)["actions"] == []
    bumped = eks.write('nodePools:\n  - name: legacy\n    extensions:\n'
                       '      eks: {version: "1.31"}\n')
    plan = eks.cli("plan", str(bumped), "--format", "json")
    assert plan.returncode == 1
    (error,) = json.loads(plan.stdout)["errors"]
    assert error["field"] == "extensions.eks.version"
    assert "update-nodegroup-version" in error["message"]


def test_adopting_a_listed_node_group_tags_and_labels_it_as_the_plan_shows(
        eks: EksWorld) -> None:
    eks.seed("legacy", labels={"team": "a"})
    path = eks.write("nodePools:\n  - name: legacy\n    instanceType: m6i.large\n"
                     "    labels: {team: a}\n")
    plan = eks.plan_json(path)
    (action,) = plan["actions"]
    assert action["reason"] == "adopted-and-changed" and action["changes"] == [
        {"path": ["labels", "kompox.dev/node-pool"], "field": "labels.kompox.dev/node-pool",
         "before": None, "after": "legacy"},
        {"path": ["managedBy"], "field": "managedBy", "before": None, "after": "reconciler"}]
    eks.proxy.clear()
    converge(eks, path)
    group = eks.nodegroup("legacy")
    assert group["tags"] == {"managed-by": "reconciler"}
    assert group["labels"] == {"team": "a", "kompox.dev/node-pool": "legacy"}


def test_adopting_keeps_a_scheduling_label_the_group_already_has(eks: EksWorld) -> None:
    """Kompox-style node-pool=user on a group named ng1: adoption writes only the tag."""
    eks.seed("ng1", zones=ZONES[:1], labels={"kompox.dev/node-pool": "user",
                                             "kompox.dev/node-zone": ZONES[0]})
    path = eks.write(f"nodePools:\n  - name: ng1\n    zones: [{ZONES[0]}]\n")
    applied = eks.apply(path)
    assert [w.operation for w in eks.proxy.writes()] == ["TagResource"]  # no label write
    shown = applied.stdout  # the plan apply shows: the marker alone, no label
    assert re.search(r'managedBy\s+\(unset\) -> "reconciler"', shown) and "labels" not in shown
    converge_after(eks, path, applied)
    assert eks.nodegroup("ng1")["labels"] == {"kompox.dev/node-pool": "user",
                                              "kompox.dev/node-zone": ZONES[0]}


def test_adopting_from_another_tool_shows_its_name(eks: EksWorld) -> None:
    eks.seed("legacy", tags={"managed-by": "terraform", "team": "a"})
    applied = eks.apply(eks.write("nodePools:\n  - name: legacy\n"))
    assert re.search(r'managedBy\s+"terraform" -> "reconciler"', applied.stdout)  # its plan
    assert eks.nodegroup("legacy")["tags"] == {"managed-by": "reconciler", "team": "a"}


def test_prune_deletes_owned_node_groups_only(eks: EksWorld) -> None:
    eks.applied(WEB + BATCH)
    eks.seed("legacy")
    out = converge(eks, eks.write(WEB))
    # The plan apply shows: one action, the delete of batch; legacy left alone.
    assert "Plan: 0 to create, 0 to update, 1 to delete" in out and "- delete batch" in out
    assert "Unmanaged pools, left alone: legacy\n" in out
    assert "deleted batch" in out
    assert eks.names() == ["legacy", "web"]


def test_prune_all_deletes_unmanaged_node_groups_and_protect_stops_it(eks: EksWorld) -> None:
    eks.seed("legacy")
    protected = eks.write(WEB, policy="policy: {prune: all, protect: [legacy]}\n")
    plan = eks.cli("plan", str(protected), "--format", "json")
    assert plan.returncode == 1
    assert "protected by policy.protect" in json.loads(plan.stdout)["errors"][0]["message"]
    converge(eks, eks.write(WEB, policy="policy: {prune: all}\n"))
    assert eks.names() == ["web"]


def test_list_shows_node_groups_in_the_model_s_terms(eks: EksWorld) -> None:
    path = eks.applied(WEB)
    eks.seed("legacy", zones=ZONES[2:])
    result = eks.cli("list", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    pools = {p["name"]: p for p in json.loads(result.stdout)}
    assert pools["web"]["zones"] == ["us-east-1a", "us-east-1b"]
    assert pools["web"]["mode"] == "user" and pools["web"]["priority"] == "spot"
    assert pools["web"]["managed"] is True and pools["legacy"]["managed"] is False
    assert pools["legacy"]["zones"] == ["us-east-1c"]
    assert pools["web"]["extensions"]["eks"]["taints"] == ["dedicated=web:NoSchedule"]


def test_export_writes_a_file_that_plans_to_no_change(eks: EksWorld) -> None:
    eks.applied(WEB + BATCH)
    eks.seed("legacy", tags={"team": "a"}, taints=[{"key": "gpu", "effect": "NO_EXECUTE"}])
    eks.seed("small", diskSize=None,  # EKS's default disk, 20 GiB
             scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0})
    out = eks.tmp / "exported.yaml"
    result = eks.cli("export", str(eks.write()), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert eks.cli("validate", str(out)).returncode == 0
    plan = eks.plan_json(out)
    assert [(a["pool"], a["reason"]) for a in plan["actions"]] == [
        ("legacy", "adopted-and-changed"), ("small", "adopted-and-changed")]
    assert {c["field"] for a in plan["actions"] for c in a["changes"]} == {
        "managedBy", "labels.kompox.dev/node-pool"}  # the marker, and the label they lack
    text = out.read_text()
    assert "gpu:NoExecute" in text and "us-east-1a" in text and "mode: user" in text


def test_saved_plan_applies_and_a_changed_node_group_refuses_it(eks: EksWorld) -> None:
    eks.applied(WEB)
    changed = eks.write(WEB.replace("max: 5", "max: 7"))
    saved = eks.tmp / "plan.json"
    assert eks.cli("plan", str(changed), "--out", str(saved)).returncode == 0
    eks.client("eks").update_nodegroup_config(clusterName=CLUSTER, nodegroupName="web",
                                              labels={"addOrUpdateLabels": {"x": "y"}})
    eks.proxy.clear()
    stale = eks.cli("apply", str(saved), "--yes")
    assert stale.returncode == 1 and eks.proxy.writes() == []
    assert eks.cli("plan", str(changed), "--out", str(saved)).returncode == 0
    assert eks.cli("apply", str(saved), "--yes").returncode == 0
    assert eks.nodegroup("web")["scalingConfig"]["maxSize"] == 7


def listed_over_pages(eks: EksWorld, groups: int, pages: int, **settings: int) -> None:
    """A plan of ``groups`` node groups reads every page: ``pages`` ListNodegroups, each
    asking for the largest page (100), each after the first carrying a nextToken; then one
    DescribeNodegroup per node group."""
    names = [f"ng{index:03d}" for index in range(groups)]
    eks.create_many(names)
    plan = eks.plan_json(eks.write(**settings))
    assert plan["unmanaged"] == names
    lists = eks.proxy.entries("ListNodegroups")
    assert len(lists) == pages
    assert [e.query.get("maxResults") for e in lists] == [["100"]] * pages
    assert [bool(e.query.get("nextToken")) for e in lists] == [False] + [True] * (pages - 1)
    assert eks.proxy.count("DescribeNodegroup") == groups


def test_node_groups_are_listed_over_short_pages(eks: EksWorld) -> None:
    """EKS may answer fewer names than maxResults, with a nextToken: 5 node groups in pages
    of at most 2 are 3 pages, every one read. (The soak lists 105 over full pages.)"""
    eks.reset(list_page=2)
    listed_over_pages(eks, groups=5, pages=3)


@pytest.mark.soak
def test_many_node_groups_are_listed_over_pages(eks: EksWorld) -> None:
    listed_over_pages(eks, groups=105, pages=2, maxNodegroups=200)

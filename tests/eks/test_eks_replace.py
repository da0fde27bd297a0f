"""Replacing a node group for an immutable change (``immutableChanges: replace``) through
the real CLI against moto: the new node group under a derived name carrying the logical
name in its ``reconciler-pool`` tag, then the old one deleted; a failed create leaves
the old node group alone."""

from __future__ import annotations

import json

from ekstesting import EksWorld

POLICY = "policy: {immutableChanges: replace}\n"
WEB = """\
nodePools:
  - name: web
    instanceType: {instance}
    zones: [us-east-1a]
    autoscaling: {{enabled: true, min: 1, max: 3}}
    labels: {{team: web}}
    extensions:
      eks:
        taints: ["dedicated=web:NoSchedule"]
        tags: {{cost-center: "42"}}
"""


def test_an_immutable_change_replaces_the_node_group_end_to_end(eks: EksWorld) -> None:
    eks.applied(WEB.format(instance="m6i.large"), policy=POLICY)
    path = eks.write(WEB.format(instance="m6i.xlarge"), policy=POLICY)

    # (the JSON plan's replace action: test_a_failed_create_leaves_the_old_node_group_alone)
    shown = eks.cli("plan", str(path))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "-/+ replace web" in shown.stdout and "(forces replacement)" in shown.stdout
    assert "Plan: 0 to create, 0 to update, 1 to replace, 0 to delete" in shown.stdout

    eks.proxy.clear()
    applied = eks.apply(path)
    writes = [entry.operation for entry in eks.proxy.writes()]
    assert writes == ["CreateNodegroup", "DeleteNodegroup"], writes
    assert eks.proxy.entries("CreateNodegroup")[0].body["nodegroupName"] == "web2"
    assert "web2" in applied.stdout + applied.stderr
    assert eks.names() == ["web2"]
    new = eks.nodegroup("web2")
    assert new["instanceTypes"] == ["m6i.xlarge"]
    assert new["tags"] == {"cost-center": "42", "managed-by": "reconciler",
                           "reconciler-pool": "web"}
    assert new["labels"] == {"team": "web", "kompox.dev/node-pool": "web",
                             "kompox.dev/node-zone": "us-east-1a"}
    assert new["taints"] == [{"key": "dedicated", "value": "web", "effect": "NO_SCHEDULE"}]

    eks.proxy.clear()
    replan = eks.cli("plan", str(path), "--detailed-exitcode", "--format", "json")
    assert replan.returncode == 0, replan.stdout + replan.stderr
    assert json.loads(replan.stdout)["actions"] == []
    assert eks.proxy.writes() == []

    listed = eks.cli("list", str(path))
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "web (provider pool web2)" in listed.stdout
    as_json = eks.cli("list", str(path), "--format", "json")
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    assert "web2" in as_json.stdout

    # The next replacement moves back to the pool's own name, and drops the tag.
    back = eks.write(WEB.format(instance="m6i.2xlarge"), policy=POLICY)
    eks.apply(back)
    assert eks.names() == ["web"]
    assert "reconciler-pool" not in eks.nodegroup("web")["tags"]


def test_a_failed_create_leaves_the_old_node_group_alone(eks: EksWorld) -> None:
    eks.applied(WEB.format(instance="m6i.large"), policy=POLICY)
    path = eks.write(WEB.format(instance="m6i.xlarge"), policy=POLICY)
    eks.proxy.inject("CreateNodegroup", 400, "InvalidParameterException",
                     "instance type not offered", times=1)
    failed = eks.cli("apply", str(path), "--yes")
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert eks.proxy.count("DeleteNodegroup") == 0
    assert eks.names() == ["web"]
    assert eks.nodegroup("web")["instanceTypes"] == ["m6i.large"]
    again = eks.plan_json(path)
    assert [a["action"] for a in again["actions"]] == ["replace"]
    eks.apply(path)
    assert eks.names() == ["web2"]

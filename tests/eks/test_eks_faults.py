"""Long-running operations and failures: waits with progress, throttling retried by
botocore's retry mode, busy node groups waited out, EKS's refusals reported in one line."""

from __future__ import annotations

import json

from ekstesting import CLUSTER, FAKE_SECRET, EksWorld

WEB = """\
nodePools:
  - name: web
    instanceType: m6i.large
    zones: [us-east-1a]
    autoscaling: {enabled: true, min: 1, max: 3}
"""


def failed(eks: EksWorld, *args: str) -> str:
    """Run a command that must exit 1 with a one-line error and no traceback."""
    result = eks.cli(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and FAKE_SECRET not in result.stderr
    return result.stdout + result.stderr


def test_waits_report_each_status_until_done(eks: EksWorld) -> None:
    eks.reset(create_polls=2, update_polls=2, delete_polls=2)
    path = eks.write(WEB)
    created = eks.apply(path).stderr
    assert "creating web: CREATING" in created and "creating web: ACTIVE" in created
    assert created.count("creating web: CREATING") == 1  # a status is reported once
    assert eks.proxy.count("DescribeNodegroup") == 3  # two polls CREATING, then ACTIVE

    eks.proxy.clear()
    updated = eks.apply(eks.write(WEB.replace("max: 3", "max: 4"))).stderr
    assert "updating web: update InProgress" in updated and "updated web" in updated
    assert eks.proxy.count("DescribeUpdate") == 3
    assert eks.nodegroup("web")["scalingConfig"]["maxSize"] == 4

    eks.proxy.clear()
    deleted = eks.apply(eks.write("nodePools: []\n")).stderr
    assert "deleting web: DELETING" in deleted and "deleting web: deleted" in deleted
    assert eks.names() == []


def test_throttling_is_retried_with_backoff(eks: EksWorld) -> None:
    eks.proxy.inject("ListNodegroups", 400, "ThrottlingException", "Rate exceeded", times=2)
    plan = eks.plan_json(eks.write(WEB))
    assert plan["summary"]["create"] == 1
    assert eks.proxy.count("ListNodegroups") == 3


def test_http_429_on_a_write_is_retried_and_the_write_lands_once(eks: EksWorld) -> None:
    eks.proxy.inject("CreateNodegroup", 429, "TooManyRequestsException", "Too many requests")
    eks.apply(eks.write(WEB))
    creates = eks.proxy.entries("CreateNodegroup")
    assert [e.injected for e in creates] == [True, False]
    # botocore re-sends the same idempotency token, so EKS cannot create it twice.
    assert creates[0].body["clientRequestToken"] == creates[1].body["clientRequestToken"]
    assert eks.names() == ["web"]


def test_throttling_past_the_retries_is_reported(eks: EksWorld) -> None:
    eks.seed("legacy")
    eks.proxy.inject("DescribeNodegroup", 400, "ThrottlingException", "Rate exceeded",
                     times=-1)
    out = failed(eks, "plan", str(eks.write(WEB, maxAttempts=2)))
    assert "AWS is throttling requests and retries were exhausted: Rate exceeded" \
        " (ThrottlingException)" in out
    assert eks.proxy.count("DescribeNodegroup") == 2  # maxAttempts counts the first try


def test_a_busy_node_group_is_waited_out(eks: EksWorld) -> None:
    eks.applied(WEB)
    eks.proxy.inject("UpdateNodegroupConfig", 409, "ResourceInUseException",
                     "Nodegroup web is currently being updated", times=2)
    out = eks.apply(eks.write(WEB.replace("max: 3", "max: 5"))).stderr
    assert "waiting for another operation on the node group to finish" in out
    assert eks.proxy.count("UpdateNodegroupConfig") == 3
    assert eks.nodegroup("web")["scalingConfig"]["maxSize"] == 5


def test_a_node_group_busy_for_too_long_is_reported_as_in_progress(eks: EksWorld) -> None:
    eks.applied(WEB)
    eks.slow(update_polls=1000)  # someone else's update, not finishing
    eks.client("eks").update_nodegroup_config(
        clusterName=CLUSTER, nodegroupName="web", labels={"addOrUpdateLabels": {"a": "b"}})
    out = failed(eks, "apply", str(eks.write(WEB.replace("max: 3", "max: 5"),
                                            conflictTimeoutSeconds=0.1)), "--yes")
    assert "cannot update pool 'web': another operation on the node group is still in" \
        " progress after waiting: Nodegroup web is currently being updated" in out
    assert eks.nodegroup("web")["scalingConfig"]["maxSize"] == 3


def test_eks_refusing_a_create_is_one_line_naming_the_field(eks: EksWorld) -> None:
    eks.proxy.inject("CreateNodegroup", 400, "InvalidParameterException",
                     "The instance type m6i.large is not supported in us-east-1a"
                     " (instanceType)")
    out = failed(eks, "apply", str(eks.write(WEB)), "--yes")
    assert "EKS rejected the request to create pool 'web': The instance type m6i.large is" \
        " not supported in us-east-1a (instanceType) (InvalidParameterException); check" \
        " instanceType" in out
    assert eks.names() == []


def test_a_failed_create_reports_eks_s_health_issues(eks: EksWorld) -> None:
    eks.reset(create_issues=[{"code": "Ec2SubnetInvalidConfiguration",
                              "message": "no public IPs", "resourceIds": ["subnet-1"]}])
    out = failed(eks, "apply", str(eks.write(WEB)), "--yes")
    assert "EKS could not create pool 'web': the node group is CREATE_FAILED" \
        " (Ec2SubnetInvalidConfiguration: no public IPs)" in out


def test_a_node_group_created_since_the_plan_is_not_overwritten(eks: EksWorld) -> None:
    path = eks.write(WEB)
    saved = eks.tmp / "plan.json"
    assert eks.cli("plan", str(path), "--out", str(saved)).returncode == 0
    eks.seed("other")  # the cluster changed: the saved plan is stale
    out = failed(eks, "apply", str(saved), "--yes")
    assert "the cluster's node pools changed since the plan was saved" in out
    assert eks.proxy.writes() == []
    assert json.loads(saved.read_text())["summary"]["create"] == 1


def test_a_create_meeting_an_existing_node_group_says_to_plan_again(eks: EksWorld) -> None:
    eks.proxy.inject("CreateNodegroup", 409, "ResourceInUseException",
                     "NodeGroup already exists with name web and cluster name prod")
    out = failed(eks, "apply", str(eks.write(WEB)), "--yes")
    assert "pool 'web' already exists (created since the plan); run plan again" in out
    assert eks.proxy.count("CreateNodegroup") == 1  # not waited out as "busy"

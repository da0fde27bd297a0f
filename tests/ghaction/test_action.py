"""The Action's scripts (`python -m reconciler.ghaction`, as action.yml runs them) against
recorded GitHub API answers served over real HTTP on 127.0.0.1, with the local provider:
comments found by marker and author, labels, the fork skip, and an apply that fails closed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ghaction.fake_github import FakeGitHub, serve

TOKEN = "ghs_" + "T0k3n" * 8  # never printed
SHA = "3f9a1c0d5e7b2a4c6e8f0a1b3c5d7e9f1a2b4c6d"  # the push to main: #7's merge commit
HEAD = "b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9"  # #7's (and #9's) head commit
FILE = "clusters/prod.yaml"
MARKER = "<!-- reconciler-action:plan:clusters/prod.yaml -->"
DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: prod
  provider: local
  settings: {{stateFile: ../.state/prod.json, location: japaneast}}
nodePools:
  - name: system
    mode: system
    autoscaling: {{enabled: true, min: 1, max: {max}}}
{extra}"""
BATCH = """\
  - name: batch
    mode: user
    autoscaling: {enabled: false, desired: 2}
"""


class Repo:
    """A user's checkout (clusters/prod.yaml on the local provider) and a runner around it."""

    def __init__(self, base: Path, github: FakeGitHub) -> None:
        self.root = base / "repo"
        (self.root / "clusters").mkdir(parents=True)
        self.temp = base / "runner-temp"
        self.temp.mkdir()
        self.github = github
        self.write(max_nodes=3, batch=True)

    def write(self, max_nodes: int, batch: bool) -> None:
        (self.root / FILE).write_text(DESIRED.format(max=max_nodes, extra=BATCH if batch else ""))

    def reconciler(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=self.root,
                              text=True, capture_output=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    def live_pools(self) -> dict[str, Any]:
        state = self.root / ".state" / "prod.json"
        return json.loads(state.read_text())["agentPools"] if state.exists() else {}

    def action(self, command: str, event_name: str, event: dict[str, Any] | None = None,
               **env: str) -> tuple[int, str, dict[str, str], str]:
        """Run the Action's step; returns exit code, log, outputs and job summary."""
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(event or {}))
        outputs, summary = self.temp / "output", self.temp / "summary.md"
        outputs.write_text("")
        summary.write_text("")
        full = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))},
                "INPUT_COMMAND": command, "INPUT_FILES": FILE,
                "INPUT_PLAN_ARTIFACT": "reconciler-plan", "INPUT_PARALLELISM": "10",
                "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": self.github.api,
                "GITHUB_REPOSITORY": "acme/infra", "GITHUB_EVENT_NAME": event_name,
                "GITHUB_EVENT_PATH": str(event_path), "GITHUB_SHA": SHA,
                "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242",
                "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary),
                "RUNNER_TEMP": str(self.temp), "NO_COLOR": "1", **env}
        done = subprocess.run([sys.executable, "-m", "reconciler.ghaction"], cwd=self.root,
                              env=full, text=True, capture_output=True, timeout=180,
                              stdin=subprocess.DEVNULL)
        found = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if line)
        log = done.stdout + done.stderr
        assert TOKEN not in log + summary.read_text()  # never printed, whatever happens
        return done.returncode, log, found, summary.read_text()

    def pull_request_event(self, fork: bool = False) -> dict[str, Any]:
        event = self.github.recorded("pull-request-event.json")
        if fork:
            event["pull_request"]["head"]["repo"] = {"id": 99, "full_name": "mallory/infra",
                                                     "fork": True}
        return event


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    with serve(FakeGitHub(token=TOKEN, sha=SHA, head=HEAD)) as github:
        yield Repo(tmp_path, github)


def comment_bodies(repo: Repo, number: int) -> list[str]:
    return [c["body"] for c in repo.github.comments.get(number, [])]


# -- plan ------------------------------------------------------------------------------------


def test_plan_posts_a_new_comment_labels_and_summary(repo: Repo) -> None:
    code, log, outputs, summary = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 0, log
    assert outputs["exitcode"] == "2" and outputs["changes"] == "true"
    assert outputs["destroy"] == "false"
    [body] = comment_bodies(repo, 9)
    assert body.startswith(MARKER + "\n<!-- reconciler-plan:prod -->\n### reconciler plan for"
                           " `prod` (local): 2 to create, 0 to update, 0 to delete\n")
    assert f"Planned at {HEAD[:7]} by [this run](https://github.com/acme/infra/actions/runs/4242)" \
        in body
    assert "### reconciler plan for `prod`" in summary
    assert repo.github.labels[9] == ["reconciler:changes"]
    # The saved plan is where the artifact upload takes it from, named after the file.
    plan_dir = Path(outputs["plan-dir"])
    assert plan_dir == repo.temp / "reconciler-plan"
    assert json.loads((plan_dir / "clusters_prod.yaml.json").read_text())["summary"]["create"] == 2
    assert repo.live_pools() == {}  # a plan writes nothing


def test_plan_updates_the_bots_own_comment_and_ignores_look_alikes(repo: Repo) -> None:
    mallory = repo.github.add_comment(9, {"login": "mallory", "id": 6, "type": "User"},
                                      MARKER + "\napprove me\n")
    impostor = repo.github.add_comment(9, {"login": "github-actions[bot]", "id": 7,
                                           "type": "User"}, MARKER + "\nold\n")
    other_app = repo.github.add_comment(9, {"login": "other-app[bot]", "id": 8, "type": "Bot"},
                                        MARKER + "\nold\n")
    code, log, _, _ = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 0, log
    # None of theirs was touched: a new comment, by the bot.
    assert [r.path for r in repo.github.calls("PATCH", "/comments/")] == []
    bodies = comment_bodies(repo, 9)
    assert bodies[:3] == [MARKER + "\napprove me\n", MARKER + "\nold\n", MARKER + "\nold\n"]
    assert len(bodies) == 4 and "2 to create" in bodies[3]
    ours = repo.github.comments[9][3]["id"]
    assert ours not in (mallory, impostor, other_app)
    # The next push: that comment is updated in place, no new one.
    repo.write(max_nodes=5, batch=True)
    code, log, _, _ = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 0, log
    [patch] = repo.github.calls("PATCH", "/comments/")
    assert patch.path.endswith(f"/issues/comments/{ours}")
    updated = comment_bodies(repo, 9)
    assert len(updated) == 4 and updated[:3] == bodies[:3]
    assert "| `autoscaling.max` | `5` |" in updated[3] and updated[3] != bodies[3]


def test_labels_follow_the_plan_and_leave_others_alone(repo: Repo) -> None:
    repo.github.labels[9] = ["bug", "reconciler:no-changes"]
    assert repo.reconciler("apply", FILE, "--yes").returncode == 0
    repo.write(max_nodes=3, batch=False)  # batch goes: a delete
    code, log, outputs, _ = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 0, log
    assert outputs["destroy"] == "true"
    assert sorted(repo.github.labels[9]) == ["bug", "reconciler:changes", "reconciler:destroy"]
    [delete] = repo.github.calls("DELETE", "/labels/")
    assert delete.path.endswith("/issues/9/labels/reconciler%3Ano-changes")
    assert "> [!CAUTION]\n> **This plan destroys 1 node pool" in comment_bodies(repo, 9)[0]
    # Back to no changes, then an error.
    repo.write(max_nodes=3, batch=True)
    assert repo.action("plan", "pull_request", repo.pull_request_event())[0] == 0
    assert sorted(repo.github.labels[9]) == ["bug", "reconciler:no-changes"]
    (repo.root / FILE).write_text("apiVersion: [unclosed\n")
    code, log, outputs, _ = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 1 and outputs["exitcode"] == "1" and "plan-dir" not in outputs
    assert "::error file=clusters/prod.yaml,line=1," in log  # the validate annotation
    assert sorted(repo.github.labels[9]) == ["bug", "reconciler:error"]
    assert "could not be planned" in comment_bodies(repo, 9)[0]


def test_a_fork_gets_a_plan_skipped_comment_and_no_plan(repo: Repo) -> None:
    code, log, outputs, summary = repo.action("plan", "pull_request",
                                              repo.pull_request_event(fork=True))
    assert code == 0, log
    assert outputs == {"exitcode": "0", "changes": "false", "destroy": "false",
                       "skipped": "fork"}
    [body] = comment_bodies(repo, 9)
    assert body.startswith("<!-- reconciler-action:plan:skipped-fork -->\n"
                           "### reconciler: plan skipped: fork\n")
    assert "`mallory/infra`" in body and "plan skipped: fork" in summary
    assert not (repo.temp / "reconciler-plan").exists()
    assert repo.github.labels == {}


def test_a_fork_whose_token_cannot_comment_still_says_why(repo: Repo) -> None:
    repo.github.refuse_comments = True
    code, log, _, summary = repo.action("plan", "pull_request",
                                        repo.pull_request_event(fork=True))
    assert code == 0, log
    assert "::warning::could not comment on the pull request" in log
    assert "::notice::plan skipped: fork" in log and "plan skipped: fork" in summary


def test_validate_annotates_and_fails_on_an_invalid_file(repo: Repo) -> None:
    code, log, outputs, summary = repo.action("validate", "pull_request",
                                              repo.pull_request_event())
    assert (code, outputs["exitcode"]) == (0, "0") and "valid (2 node pools)" in summary
    (repo.root / FILE).write_text((repo.root / FILE).read_text().replace("max: 3", "max: x"))
    code, log, outputs, _ = repo.action("validate", "pull_request", repo.pull_request_event())
    assert (code, outputs["exitcode"]) == (1, "1")
    assert "::error file=clusters/prod.yaml,line=10," in log and "(schema/type)" in log
    assert repo.github.requests == []  # validate is offline


# -- apply -----------------------------------------------------------------------------------


def reviewed_archive(repo: Repo) -> bytes:
    """What upload-artifact stored for the plan run: the plan folder's files."""
    code, log, outputs, _ = repo.action("plan", "pull_request", repo.pull_request_event())
    assert code == 0, log
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in Path(outputs["plan-dir"]).iterdir():
            bundle.write(path, path.name)
    shutil.rmtree(outputs["plan-dir"])
    return buffer.getvalue()


def test_apply_applies_the_reviewed_plan_and_reports_back(repo: Repo) -> None:
    repo.github.archive = reviewed_archive(repo)
    repo.github.use_recorded_merge()
    code, log, outputs, summary = repo.action("apply", "push")
    assert code == 0, log
    assert outputs["exitcode"] == "0"
    # Run 603 (newest) failed and 601's artifact expired: 602's plan, #7, was applied.
    assert f"Reviewed plan of #7 ({HEAD[:12]}) from run 602" in log
    assert repo.github.calls("GET", r"/actions/artifacts/902/zip")
    assert not repo.github.calls("GET", r"/actions/artifacts/903/zip")
    assert set(repo.live_pools()) == {"system", "batch"}
    # The blob store got the download without the token.
    [download] = repo.github.blob_requests
    assert download.authorization is None
    [body] = comment_bodies(repo, 7)
    assert body.startswith(f"<!-- reconciler-action:apply:{SHA} -->\n"
                           f"### reconciler apply of {SHA[:7]}: applied\n")
    assert "| `system` | create | applied |  |" in body
    assert "applied" in summary
    assert "  create system: applied (" in log


NO_PLAN = {  # case: (change to the recorded answers, the reason, comment on #7?)
    "direct push": (lambda g: g.commit_pulls.pop(), f"no pull request was merged as {SHA}",
                    False),
    "unmerged pull request only": (lambda g: g.commit_pulls[1].update(merged_at=None),
                                   "no pull request was merged as", False),
    "no successful run": (lambda g: g.runs[602].update(conclusion="cancelled"),
                          "no successful pull_request run of #7", True),
    "artifact from a fork": (lambda g: [a["workflow_run"].update(head_repository_id=99)
                                        for a in g.artifacts["artifacts"]],
                             "no successful pull_request run of #7", True),
    "a push run, not a pull request's": (lambda g: g.runs[602].update(event="push"),
                                         "no successful pull_request run of #7", True),
    "API error": (lambda g: setattr(g, "artifacts", None),
                  "the GitHub API did not answer for the plan runs of #7", True),
    "expired download": (lambda g: setattr(g, "archive", None),
                         "the plan artifact of run 602 could not be downloaded", True),
    "no plan for the file": (lambda g: setattr(g, "archive", _zip({"other.json": "{}"})),
                             "the artifact of run 602 holds no plan for clusters/prod.yaml",
                             True),
}


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize("case", NO_PLAN)
def test_apply_without_a_reviewed_plan_fails_closed(repo: Repo, case: str) -> None:
    change, reason, commented = NO_PLAN[case]
    repo.github.archive = _zip({"clusters_prod.yaml.json": "{}"})
    repo.github.use_recorded_merge()
    change(repo.github)
    code, log, outputs, summary = repo.action("apply", "push")
    assert code == 1 and outputs == {"exitcode": "1"}, log
    assert "::error::No reviewed plan: " in log and reason in log, log
    assert "Nothing was applied" in log and "not applied" in summary
    assert repo.live_pools() == {}  # nothing was applied
    if commented:
        [body] = comment_bodies(repo, 7)
        assert body.startswith(f"<!-- reconciler-action:apply:{SHA} -->\n"
                               "### reconciler apply: not applied\n\nNo reviewed plan: ")
    else:
        assert repo.github.comments == {}


def test_apply_refuses_a_reviewed_plan_that_is_stale(repo: Repo) -> None:
    repo.github.archive = reviewed_archive(repo)
    repo.github.use_recorded_merge()
    repo.write(max_nodes=4, batch=True)  # main's file is not what was reviewed
    code, log, _, _ = repo.action("apply", "push")
    assert code == 1, log
    assert "run plan again" in log and repo.live_pools() == {}
    [body] = comment_bodies(repo, 7)
    assert f"### reconciler apply of {SHA[:7]}: failed" in body and "**error**" in body


@pytest.mark.parametrize("actor", ["", "renovate[bot]"])
def test_apply_by_hand_needs_a_person(repo: Repo, actor: str) -> None:
    code, log, _, _ = repo.action("apply", "workflow_dispatch", GITHUB_TRIGGERING_ACTOR=actor)
    assert code == 1 and "A run by hand must be started by a person" in log
    assert repo.live_pools() == {} and repo.github.requests == []


def test_apply_by_hand_plans_afresh_and_applies(repo: Repo) -> None:
    code, log, _, _ = repo.action("apply", "workflow_dispatch", GITHUB_TRIGGERING_ACTOR="alice")
    assert code == 0, log
    assert "::notice::Run by hand by alice" in log
    assert set(repo.live_pools()) == {"system", "batch"}
    assert repo.github.requests == []  # no reviewed plan looked for, no comment


@pytest.mark.parametrize("event", ["pull_request", "schedule", ""])
def test_apply_refuses_other_events(repo: Repo, event: str) -> None:
    code, log, _, _ = repo.action("apply", event)
    assert code == 1 and f"Unexpected event '{event}': nothing was applied." in log
    assert repo.live_pools() == {}

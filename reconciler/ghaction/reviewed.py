"""The reviewed plan of a merged pull request: found, or a reason why not (fail closed).

On push to the default branch, the pull request merged as the pushed commit
(``merge_commit_sha``: merge commits, squashes and rebases all qualify) is looked up, then
the newest unexpired plan artifact made at its head commit by a successful
``pull_request`` run of this repository (never a fork's), then that artifact's plans.
Any doubt, missing answer or API error is ``NoReviewedPlan``: nothing is applied.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reconciler.ghaction.api import GitHub, GitHubError

MAX_PLAN_BYTES = 4 * 1024 * 1024


class NoReviewedPlan(Exception):
    """Why there is no reviewed plan to apply; ``pull`` is the merged pull request, if any."""

    def __init__(self, reason: str, pull: int | None = None) -> None:
        super().__init__(reason)
        self.pull = pull


@dataclass(frozen=True)
class Reviewed:
    """Where the reviewed plans are, and where they came from."""

    pull: int
    head: str
    run_id: int
    plans: dict[str, Path]  # desired file -> its saved plan


def plan_name(file: str) -> str:
    """The saved plan's name in the artifact for a desired ``file`` (one per file)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", file.strip("/")) + ".json"


def merged_pull(api: GitHub, sha: str) -> dict[str, Any]:
    """The pull request merged as commit ``sha``."""
    try:
        pulls = api.request("GET", api.repo_path(f"/commits/{sha}/pulls"))
    except GitHubError as exc:
        raise NoReviewedPlan(f"the GitHub API did not say which pull request was merged"
                             f" ({exc})") from None
    merged = [p for p in pulls or [] if p.get("merged_at") and p.get("merge_commit_sha") == sha]
    if not merged:
        raise NoReviewedPlan(f"no pull request was merged as {sha} (a direct push?)")
    return dict(merged[0])


def find_reviewed(api: GitHub, sha: str, artifact: str, files: list[str],
                  folder: Path) -> Reviewed:
    """Download the reviewed plans of the pull request merged as ``sha`` into ``folder``."""
    pull = merged_pull(api, sha)
    number = int(pull["number"])
    head = str((pull.get("head") or {}).get("sha") or "")
    if not head:
        raise NoReviewedPlan(f"pull request #{number} has no head commit", number)
    try:
        candidates = api.paginate(api.repo_path(f"/actions/artifacts?name={quote(artifact)}"
                                                "&per_page=100"), key="artifacts")
        chosen = _reviewed_artifact(api, candidates, artifact, head)
    except GitHubError as exc:
        raise NoReviewedPlan(f"the GitHub API did not answer for the plan runs of #{number}"
                             f" ({exc})", number) from None
    if chosen is None:
        raise NoReviewedPlan(f"no successful pull_request run of #{number} at {head[:12]}"
                             f" uploaded the artifact '{artifact}' (from a fork, failed,"
                             " cancelled, still running, or expired?)", number)
    run_id = int(chosen["workflow_run"]["id"])
    try:
        archive = api.download(str(chosen["archive_download_url"]))
    except GitHubError as exc:
        raise NoReviewedPlan(f"the plan artifact of run {run_id} could not be downloaded"
                             f" ({exc})", number) from None
    plans = _extract(archive, files, folder, run_id, number)
    return Reviewed(number, head, run_id, plans)


def _reviewed_artifact(api: GitHub, artifacts: list[dict[str, Any]], name: str,
                       head: str) -> dict[str, Any] | None:
    """The newest artifact ``name`` of a successful pull_request run at ``head`` in this
    repository (the run is asked for again: the listing does not say how it ended)."""
    found = [a for a in artifacts if a.get("name") == name and not a.get("expired")
             and (a.get("workflow_run") or {}).get("head_sha") == head
             and a["workflow_run"].get("head_repository_id")
             == a["workflow_run"].get("repository_id")]
    for candidate in sorted(found, key=lambda a: str(a.get("created_at")), reverse=True):
        run = api.request("GET", api.repo_path(f"/actions/runs/{candidate['workflow_run']['id']}"))
        if (run.get("event") == "pull_request" and run.get("conclusion") == "success"
                and run.get("head_sha") == head):
            return candidate
    return None


def _extract(archive: bytes, files: list[str], folder: Path, run_id: int,
             number: int) -> dict[str, Path]:
    """Each desired file's plan, read by its expected name only (never a path the archive
    chooses), written into ``folder``."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            names = {info.filename: info for info in bundle.infolist()}
            plans = {}
            folder.mkdir(parents=True, exist_ok=True)
            for file in files:
                info = names.get(plan_name(file))
                if info is None:
                    raise NoReviewedPlan(f"the artifact of run {run_id} holds no plan for"
                                         f" {file}", number)
                if info.file_size > MAX_PLAN_BYTES:
                    raise NoReviewedPlan(f"the plan for {file} in run {run_id} is too large",
                                         number)
                target = folder / plan_name(file)
                target.write_bytes(bundle.read(info))
                plans[file] = target
            return plans
    except zipfile.BadZipFile:
        raise NoReviewedPlan(f"the artifact of run {run_id} is not a zip archive",
                             number) from None

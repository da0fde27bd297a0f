"""The GitHub Action's logic (action.yml runs ``python -m reconciler.ghaction``).

Inputs come as ``INPUT_COMMAND``, ``INPUT_FILES``, ``INPUT_PLAN_ARTIFACT`` and
``INPUT_PARALLELISM``; the token as ``GITHUB_TOKEN``; the rest is the runner's own
environment (``GITHUB_EVENT_PATH``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_OUTPUT``...).
reconciler itself runs as a child process (``python -m reconciler``), so every exit
code, check and escape rule is the command line's own.

- validate: ``validate --format github`` (annotations on the files); a job summary.
- plan: validate, then one plan per file; on a pull request one comment per file
  (updated in place), the reconciler:* labels; the saved plans in ``plan-dir`` for the
  artifact. A pull request from a fork is not planned: a comment says so.
- apply: on push, only the reviewed plans of the pull request merged as the pushed
  commit, or nothing and a failed job (and a comment on that pull request saying why);
  the result goes back to the pull request. By hand (workflow_dispatch, a person): plan
  afresh and apply. Any other event: nothing, failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.escape import markdown_code, markdown_text, terminal
from reconciler.ghaction.api import GitHub, GitHubError
from reconciler.ghaction.comments import marker, set_labels, upsert_comment
from reconciler.ghaction.reviewed import NoReviewedPlan, find_reviewed, plan_name
from reconciler.redact import RedactingStream, remember

COMMANDS = ("validate", "plan", "apply")


@dataclass
class Context:
    """The runner's environment and the Action's inputs."""

    command: str
    files: list[str]
    artifact: str
    parallelism: str
    env: dict[str, str]
    event: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Context:
        """Read the inputs and the event payload."""
        event: dict[str, Any] = {}
        if env.get("GITHUB_EVENT_PATH") and Path(env["GITHUB_EVENT_PATH"]).is_file():
            event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
        return cls(command=env.get("INPUT_COMMAND", "").strip(),
                   files=env.get("INPUT_FILES", "").split(),
                   artifact=env.get("INPUT_PLAN_ARTIFACT", "").strip() or "reconciler-plan",
                   parallelism=env.get("INPUT_PARALLELISM", "").strip() or "10",
                   env=env, event=event)

    @property
    def api(self) -> GitHub:
        """The REST API, with the job's token."""
        return GitHub(self.env.get("GITHUB_API_URL", "https://api.github.com"),
                      self.env.get("GITHUB_TOKEN", ""), self.env.get("GITHUB_REPOSITORY", ""))

    @property
    def pull(self) -> dict[str, Any] | None:
        """The pull request of a pull_request event."""
        pull = self.event.get("pull_request")
        return pull if isinstance(pull, dict) else None

    @property
    def run_url(self) -> str:
        """This run's page."""
        return (f"{self.env.get('GITHUB_SERVER_URL', 'https://github.com')}/"
                f"{self.env.get('GITHUB_REPOSITORY', '')}/actions/runs/"
                f"{self.env.get('GITHUB_RUN_ID', '')}")

    @property
    def temp(self) -> Path:
        """A folder outside the checkout (artifacts never land among the files)."""
        return Path(self.env.get("RUNNER_TEMP") or "/tmp")

    def output(self, **values: str) -> None:
        """Step outputs (GITHUB_OUTPUT)."""
        path = self.env.get("GITHUB_OUTPUT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.writelines(f"{key}={value}\n" for key, value in values.items())

    def summary(self, text: str) -> None:
        """Append to the job summary (GITHUB_STEP_SUMMARY)."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(text.rstrip("\n") + "\n\n")


def reconciler(*args: str, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``reconciler ARGS`` (this installation); its standard error goes to the log."""
    return subprocess.run([sys.executable, "-m", "reconciler", *args], text=True,
                          stdout=subprocess.PIPE if capture else None, stderr=None,
                          stdin=subprocess.DEVNULL, check=False)


def say(line: str) -> None:
    """One line to the log."""
    print(line, flush=True)


def error(text: str) -> None:
    """An error annotation (the text is inert: one line, no command)."""
    say(f"::error::{terminal(text).replace('%', '%25')}")


# -- validate --------------------------------------------------------------------------------


def do_validate(ctx: Context) -> int:
    """Annotations on the files, a summary line per file; 1 when any is invalid."""
    done = reconciler("validate", "--format", "github", *ctx.files)
    sys.stdout.write(done.stdout)
    lines = [line for line in done.stdout.splitlines() if not line.startswith("::")]
    ctx.summary("### reconciler validate\n\n" + "\n".join(
        f"- {markdown_code(line)}" for line in lines))
    ctx.output(exitcode=str(done.returncode))
    return 0 if done.returncode == 0 else 1


# -- plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePlan:
    """One desired file's plan: exit code, Markdown, and the JSON summary when saved."""

    file: str
    code: int
    markdown: str
    summary: dict[str, int] | None


def plan_one(file: str, folder: Path) -> FilePlan:
    """``reconciler plan FILE --detailed-exitcode --format markdown --out PLAN``."""
    saved = folder / plan_name(file)
    done = reconciler("plan", file, "--detailed-exitcode", "--format", "markdown",
                      "--out", str(saved))
    markdown = done.stdout or (f"> [!CAUTION]\n> {markdown_code(file)} could not be planned"
                               " (exit code 1); see the log of the plan step.\n")
    (folder / plan_name(file)).with_suffix(".md").write_text(markdown, encoding="utf-8")
    summary = None
    if done.returncode in (0, 2) and saved.is_file():
        shown = reconciler("show", str(saved), "--format", "json")
        summary = json.loads(shown.stdout)["summary"] if shown.returncode == 0 else None
    return FilePlan(file, done.returncode, markdown, summary)


def labels_for(plans: list[FilePlan]) -> set[str]:
    """reconciler:error / :changes / :destroy, or :no-changes when nothing else applies."""
    labels = set()
    for plan in plans:
        if plan.code not in (0, 2) or plan.summary is None:
            labels.add("reconciler:error")
        elif plan.code == 2:
            labels.add("reconciler:changes")
            if plan.summary.get("destroy"):
                labels.add("reconciler:destroy")
    return labels or {"reconciler:no-changes"}


def is_fork(ctx: Context) -> bool:
    """A pull request whose head is in another repository (or a deleted one)."""
    pull = ctx.pull or {}
    head_repo = (pull.get("head") or {}).get("repo") or {}
    return head_repo.get("full_name") != ctx.env.get("GITHUB_REPOSITORY")


def do_plan(ctx: Context) -> int:
    """Validate, plan each file, comment and label a pull request; 1 on any error."""
    if ctx.pull is not None and is_fork(ctx):
        return skip_fork(ctx)
    validated = reconciler("validate", "--format", "github", *ctx.files)
    sys.stdout.write(validated.stdout)
    folder = ctx.temp / "reconciler-plan"
    folder.mkdir(parents=True, exist_ok=True)
    plans = [plan_one(file, folder) for file in ctx.files]
    head = str(((ctx.pull or {}).get("head") or {}).get("sha") or ctx.env.get("GITHUB_SHA", ""))
    footer = (f"\n<sub>Planned at {head[:7]} by [this run]({ctx.run_url}) with reconciler"
              f" {_version()}.</sub>\n")
    combined = folder / "plans.md"
    combined.write_text("".join(plan.markdown for plan in plans), encoding="utf-8")
    for plan in plans:
        ctx.summary(plan.markdown)
    failed = any(plan.code not in (0, 2) for plan in plans)
    if ctx.pull is not None:
        number = int(ctx.pull["number"])
        api = ctx.api
        try:
            for plan in plans:
                what = upsert_comment(api, number, marker("plan", plan.file),
                                      plan.markdown + footer)
                say(f"Plan comment {what} for {terminal(plan.file)} on #{number}")
            set_labels(api, number, labels_for(plans))
        except GitHubError as exc:
            error(f"could not comment or label #{number}: {exc}")
            failed = True
    code = 1 if failed else 2 if any(plan.code == 2 for plan in plans) else 0
    ctx.output(exitcode=str(code), changes=str(code == 2).lower(),
               destroy=str(any((p.summary or {}).get("destroy") for p in plans)).lower(),
               markdown=str(combined), **({} if failed else {"plan-dir": str(folder)}))
    if failed:
        error("reconciler plan failed; see the plan above")
    return 1 if failed else 0


def skip_fork(ctx: Context) -> int:
    """No plan for a fork's pull request (no cloud identity, a read-only token): say so."""
    pull = ctx.pull or {}
    text = ("### reconciler: plan skipped: fork\n\nThis pull request comes from a fork"
            f" ({markdown_code(((pull.get('head') or {}).get('repo') or {}).get('full_name'))}"
            "). Its workflow run gets no cloud identity and a read-only token, so nothing was"
            " planned, and its merge will apply nothing (no reviewed plan). Push the change"
            " to a branch of this repository to get a plan.\n")
    say("::notice::plan skipped: fork (nothing was planned; see the job summary)")
    ctx.summary(text)
    ctx.output(exitcode="0", changes="false", destroy="false", skipped="fork")
    try:
        upsert_comment(ctx.api, int(pull["number"]), marker("plan", "skipped-fork"), text)
    except GitHubError as exc:  # a fork's token is usually read-only: the summary says it
        say(f"::warning::could not comment on the pull request: {terminal(exc)}")
    return 0


# -- apply -----------------------------------------------------------------------------------


def do_apply(ctx: Context) -> int:
    """Apply the reviewed plans (push) or plan afresh (a person, by hand); fail closed."""
    event = ctx.env.get("GITHUB_EVENT_NAME", "")
    if event == "push":
        return apply_reviewed(ctx)
    if event == "workflow_dispatch":
        actor = ctx.env.get("GITHUB_TRIGGERING_ACTOR", "")
        if not actor or actor.endswith("[bot]"):
            error(f"A run by hand must be started by a person, not '{actor}': nothing was"
                  " applied.")
            return 1
        say(f"::notice::Run by hand by {terminal(actor)}: planning afresh and applying")
        plans = {}
        for file in ctx.files:
            saved = ctx.temp / "reconciler-fresh" / plan_name(file)
            saved.parent.mkdir(parents=True, exist_ok=True)
            if reconciler("plan", file, "--out", str(saved), capture=False).returncode != 0:
                error(f"reconciler plan {file} failed: nothing more was applied.")
                return 1
            plans[file] = saved
        return apply_plans(ctx, plans, None)
    error(f"Unexpected event '{event}': nothing was applied.")
    return 1


def apply_reviewed(ctx: Context) -> int:
    """The plans reviewed in the merged pull request, or nothing and exit 1."""
    sha = ctx.env.get("GITHUB_SHA", "")
    api = ctx.api
    try:
        reviewed = find_reviewed(api, sha, ctx.artifact, ctx.files,
                                 ctx.temp / "reconciler-reviewed")
    except NoReviewedPlan as refused:
        text = (f"### reconciler apply: not applied\n\nNo reviewed plan:"
                f" {markdown_text(str(refused))}. Nothing was applied. Open a pull request,"
                f" or have a maintainer run the apply workflow by hand ([this run]"
                f"({ctx.run_url})).\n")
        error(f"No reviewed plan: {refused}. Nothing was applied.")
        ctx.summary(text)
        ctx.output(exitcode="1")
        if refused.pull is not None:
            try:
                upsert_comment(api, refused.pull, marker("apply", sha), text)
            except GitHubError as exc:
                error(f"could not comment on #{refused.pull}: {exc}")
        return 1
    say(f"Reviewed plan of #{reviewed.pull} ({reviewed.head[:12]}) from run {reviewed.run_id}")
    return apply_plans(ctx, reviewed.plans, reviewed.pull)


def apply_plans(ctx: Context, plans: dict[str, Path], pull: int | None) -> int:
    """``reconciler apply PLAN --file FILE --yes --format json`` per file, in order; stops
    at the first failure. The result goes to the log, the summary and the pull request."""
    sections, code = [], 0
    for file, saved in plans.items():
        say(f"Applying {terminal(file)}")
        done = reconciler("apply", str(saved), "--file", file, "--yes", "--format", "json",
                          "--parallelism", ctx.parallelism)
        events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        for event in events:
            log_event(event)
        sections.append(result_section(file, events, done.returncode))
        if done.returncode != 0:
            code = 1
            break
    for file in list(plans)[len(sections):]:
        sections.append(f"- {markdown_code(file)}: not applied (an earlier file failed)\n")
    head = "applied" if code == 0 else "failed"
    text = (f"### reconciler apply of {ctx.env.get('GITHUB_SHA', '')[:7]}: {head}\n\n"
            + "".join(sections) + f"\n<sub>[This run]({ctx.run_url}).</sub>\n")
    ctx.summary(text)
    ctx.output(exitcode=str(code))
    if pull is not None:
        try:
            upsert_comment(ctx.api, pull, marker("apply", ctx.env.get("GITHUB_SHA", "")), text)
        except GitHubError as exc:
            error(f"could not post the result on #{pull}: {exc}")
            code = 1
    if code:
        error("reconciler apply failed; see the log above")
    return code


def log_event(event: dict[str, Any]) -> None:
    """An apply event as a log line."""
    kind, pool = event.get("type"), terminal(event.get("pool", ""))
    if kind == "action_started":
        say(f"  {event['action']} {pool} ...")
    elif kind == "progress":
        say(f"  {event['action']} {pool}: {terminal(event['message'])}")
    elif kind == "action_finished":
        error_text = f": {terminal(event['error'])}" if event.get("error") else ""
        say(f"  {event['action']} {pool}: {event['outcome']}{error_text}"
            f" ({event['done']} of {event['total']} done)")
    elif kind == "summary":
        say(f"Apply {event['outcome']} (exit code {event['exitCode']})"
            + (f": {terminal(event['error'])}" if event.get("error") else ""))


def result_section(file: str, events: list[dict[str, Any]], code: int) -> str:
    """One file's result for the pull request: its outcome and a row per action."""
    summary = next((e for e in reversed(events) if e.get("type") == "summary"), None)
    outcome = summary["outcome"] if summary else f"error (exit code {code})"
    rows = [f"| {markdown_code(e['pool'])} | {e['action']} | {e['outcome']} |"
            f" {markdown_text(e['error']) if e.get('error') else ''} |"
            for e in events if e.get("type") == "action_finished"]
    table = ("\n| pool | action | outcome | error |\n|---|---|---|---|\n"
             + "\n".join(rows) + "\n") if rows else ""
    why = f" {markdown_text(summary['error'])}" if summary and summary.get("error") else ""
    return f"- {markdown_code(file)}: **{markdown_text(outcome)}**.{why}\n{table}"


def _version() -> str:
    from reconciler import __version__

    return __version__


def main() -> int:
    """Run the command the Action was given; returns the step's exit code."""
    env = dict(os.environ)
    if env.get("GITHUB_TOKEN"):
        remember(env["GITHUB_TOKEN"], "***")  # never printed, even by mistake
    sys.stdout = RedactingStream(sys.stdout)
    ctx = Context.from_env(env)
    if ctx.command not in COMMANDS:
        error(f"input 'command' must be one of {', '.join(COMMANDS)}, not '{ctx.command}'")
        return 1
    if not ctx.files:
        error("input 'files' names no desired-state file")
        return 1
    return {"validate": do_validate, "plan": do_plan, "apply": do_apply}[ctx.command](ctx)

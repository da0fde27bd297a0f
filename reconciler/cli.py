"""Command line: each command parses, builds, executes and renders; nothing more.

Each command returns a ``Result``; ``reconciler.result`` turns it, an error, a usage
mistake or an interrupt into the documented exit code.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from reconciler import __version__
from reconciler.render import DIAGNOSTIC_FORMAT_NAMES, RENDERERS
from reconciler.result import FAILED, OK, ExitCode, Result


class ReconcilerGroup(click.Group):
    """Maps every outcome to an exit code and one-line, traceback-free errors."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from reconciler.redact import RedactingStream, forget_all

        kwargs["standalone_mode"] = False
        forget_all()  # one command, one set of secrets (tests run many in one process)
        # Every byte printed passes redaction: no expanded ${VAR} value or token shows.
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)
        from reconciler.console import configure_logging, debug_requested, set_color

        set_color("auto")
        configure_logging(debug_requested())
        try:
            code = self._run(*args, **kwargs)
        finally:
            sys.stdout, sys.stderr = streams
        sys.exit(int(code))

    def _run(self, *args: Any, **kwargs: Any) -> ExitCode:
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            _inert(exc).show()
            return ExitCode.USAGE
        except click.Abort:  # click turns Ctrl-C (KeyboardInterrupt) and EOF into Abort
            click.echo("Aborted.", err=True)
            return ExitCode.INTERRUPTED
        except click.ClickException as exc:
            _inert(exc).show()
            return ExitCode.ERROR
        except Exception as exc:  # noqa: BLE001 - every error becomes one line, never a traceback
            _report_error(exc)
            return ExitCode.ERROR
        return result.exit_code if isinstance(result, Result) else ExitCode.OK


def _inert(exc: click.ClickException) -> click.ClickException:
    """``exc`` with its message (it may quote a file name) made inert for a terminal."""
    from reconciler.escape import terminal

    exc.message = terminal(exc.message)  # type: ignore[misc]  # click reads it to show
    return exc


def _report_error(exc: Exception) -> None:
    from reconciler.diagnostics import InvalidDocument, printable
    from reconciler.errors import ReconcilerError

    if isinstance(exc, InvalidDocument):
        for diagnostic in exc.diagnostics:
            click.echo(diagnostic.format(), err=True)
    elif isinstance(exc, ReconcilerError):
        click.echo(printable(f"error: {exc}"), err=True)
    else:
        click.echo(printable(f"error: unexpected {type(exc).__name__}: {exc}"), err=True)


def _color(stream: Any = None) -> bool:
    from reconciler.console import use_color

    return use_color(stream)


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from reconciler.console import configure_logging

        configure_logging(True)


def _set_color(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        from reconciler.console import set_color

        set_color(value)


# Before or after the command: `reconciler --debug plan F` = `reconciler plan F --debug`.
OUTPUT_OPTIONS = (
    click.Option(["--debug"], is_flag=True, expose_value=False, callback=_set_debug,
                 help="Log every provider request with its response status and timing to"
                      " standard error (credentials scrubbed); as RECONCILER_LOG=debug."),
    click.Option(["--color"], type=click.Choice(["auto", "always", "never"]), default=None,
                 expose_value=False, callback=_set_color,
                 help="Colour the plan and the progress: auto (default: on a terminal, off"
                      " with NO_COLOR, on with FORCE_COLOR), always or never."),
)


@click.group(cls=ReconcilerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
def cli() -> None:
    """Declarative plan/apply for Kubernetes node pools.

    \b
    Quick start on the embedded local provider:
      reconciler validate examples/quickstart.yaml
      reconciler plan examples/quickstart.yaml
      reconciler apply examples/quickstart.yaml --yes
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(DIAGNOSTIC_FORMAT_NAMES), default="text",
              show_default=True,
              help="text for people; json for scripts; github for workflow-command annotations"
                   " on the pull request's files; sarif (2.1.0) for code scanning.")
def validate(files: tuple[str, ...], fmt: str) -> Result:
    """Check desired-state FILES against the schema and the rules; offline.

    Needs no credentials and no environment: ${VAR} references in cluster.settings are
    not expanded (an unset one is only noted); plan and apply check their values.
    Every diagnostic carries a stable rule id (schema/<keyword>, semantic/<rule>,
    yaml/<problem>, ...) in the json, github and sarif formats. Exits 1 when any file
    has an error, whatever the format.

    \b
    Examples:
      reconciler validate clusters/*.yaml
      reconciler validate clusters/*.yaml --format github     # annotations in a workflow
      reconciler validate clusters/*.yaml --format sarif > reconciler.sarif
    """
    from reconciler.desired.load import load_desired
    from reconciler.diagnostics import InvalidDocument
    from reconciler.render.diagnostics import DIAGNOSTIC_FORMATS, FileCheck

    checks = []
    for file in files:
        try:
            desired = load_desired(file, expand=False)
        except InvalidDocument as exc:
            checks.append(FileCheck(file, exc.diagnostics))
            continue
        checks.append(FileCheck(file, desired.notes, len(desired.pools)))
    for to_stderr, text in DIAGNOSTIC_FORMATS[fmt](checks):
        click.echo(text, err=to_stderr, nl=False)
    return Result(failed=not all(check.valid for check in checks))


@cli.command()
@click.argument("file", type=click.Path())
@click.option("--out", "out", type=click.Path(),
              help="Save the plan (JSON) to apply later with `reconciler apply PLAN`.")
@click.option("--format", "fmt", type=click.Choice(list(RENDERERS)), default="text",
              show_default=True,
              help="text for people, json for scripts, markdown for a pull-request comment.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when the plan has changes, 0 when it has none (1 stays an error).")
@click.option("--unmanaged-is-drift", is_flag=True,
              help="With --detailed-exitcode: live pools that are neither listed nor owned "
                   "(added by hand) also exit 2, for drift checks.")
def plan(file: str, out: str | None, fmt: str, detailed_exitcode: bool,
         unmanaged_is_drift: bool) -> Result:
    """List the live pools of FILE's cluster and print what apply would change.

    Nothing is written to the cluster. The markdown format starts with the hidden line
    <!-- reconciler-plan:CLUSTER --> so a CI job can update its own pull-request comment.

    \b
    Examples:
      reconciler plan pools.yaml
      reconciler plan pools.yaml --out plan.json && reconciler apply plan.json
      reconciler plan pools.yaml --format json | jq .summary
      reconciler plan pools.yaml --detailed-exitcode --format markdown --out plan.json > plan.md
      reconciler plan pools.yaml --detailed-exitcode || [ $? -eq 2 ]   # drift check
      reconciler plan pools.yaml --detailed-exitcode --unmanaged-is-drift
    """
    from reconciler.app import plan_file
    from reconciler.plan.savedplan import check_plan_out, write_saved_plan
    from reconciler.render import renderer

    if out:
        check_plan_out(out, file)  # before any work: never overwrite an input
    planned = plan_file(file)
    _print_notes(planned)
    color = _color()
    click.echo(renderer(fmt, color=color)(planned.plan), nl=False, color=color)
    if not planned.plan.ok:
        return FAILED
    if out:
        write_saved_plan(out, planned.plan, planned.desired)
        from reconciler.escape import terminal

        click.echo(terminal(f"Saved plan to {out}; apply it with: reconciler apply {out}"
                            f" --file {file}"), err=True)
    drift = planned.plan.has_changes or (unmanaged_is_drift and bool(planned.plan.unmanaged))
    return Result(changes=detailed_exitcode and drift)


@cli.command()
@click.argument("target", metavar="FILE|PLAN", type=click.Path())
@click.option("--file", "-f", "desired_file", type=click.Path(),
              help="With a saved PLAN: the desired-state file it was made from (default: the "
                   "path the plan records, relative to the current folder).")
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True,
              help="How many actions may run at once.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="text for people; json streams JSON Lines events on standard output (plan,"
                   " action_started, progress, action_finished, summary; needs --yes).")
def apply(target: str, desired_file: str | None, yes: bool, parallelism: int,
          fmt: str) -> Result:
    """Converge the cluster to a desired-state FILE, or apply a saved PLAN.

    A saved plan never chooses the file it is applied with: name it with --file, or run
    from the folder the plan was made in. The plan is refused when that file's content
    or the cluster changed since the plan was made.

    \b
    Examples:
      reconciler apply pools.yaml --yes
      reconciler plan pools.yaml --out plan.json && reconciler apply plan.json
      reconciler apply artifact/plan.json --file clusters/prod.yaml --yes
      reconciler apply pools.yaml --yes --format json | jq -c 'select(.type == "summary")'

    Without a terminal (CI), each running action gets a heartbeat line at least every 30
    seconds ("still creating web, 2m30s elapsed"); RECONCILER_HEARTBEAT_SECONDS changes
    the interval. --format json events follow schemas/apply-events.schema.json; the last
    one is always the summary with the exit code.
    """
    from reconciler.app import plan_file, replan_saved
    from reconciler.plan.savedplan import is_saved_plan

    if desired_file and not is_saved_plan(target):
        raise click.UsageError("--file goes with a saved plan; to apply a desired-state"
                               " file, give it as the argument")
    if fmt == "json" and not yes:
        raise click.UsageError("--format json needs --yes: a stream of events has no prompt")
    events = None
    if fmt == "json":
        from reconciler.apply.progress import JsonEvents, heartbeat_seconds

        events = JsonEvents(heartbeat=heartbeat_seconds())
    try:
        planned = replan_saved(target, desired_file) if is_saved_plan(target) else \
            plan_file(target)
    except Exception as exc:  # the stream still ends with its summary
        if events is not None:
            from reconciler.escape import visible

            events.emit("summary", exitCode=int(ExitCode.ERROR), outcome="error",
                        error=visible(exc), applied=0, failed=0, notStarted=0)
        raise
    if events is not None:
        return _apply_json(planned, parallelism, events)
    return _apply(planned, yes, parallelism)


def _print_notes(planned: Any) -> None:
    """Warnings from the file, and protect names that match no pool, listed or live."""
    from reconciler.escape import terminal

    for note in planned.desired.notes:
        click.echo(note.format(), err=True)
    flagged = {planned.desired.protect[note.path[2]] for note in planned.desired.notes
               if note.path[:2] == ("policy", "protect")}
    known = {pool.name for pool in (*planned.desired.pools, *planned.live)} | flagged
    for name in planned.desired.protect:
        if name not in known:
            click.echo(terminal(f"warning: policy.protect names '{name}', which matches no"
                                " pool listed or in the cluster"), err=True)


def _apply(planned: Any, yes: bool, parallelism: int) -> Result:
    from reconciler.apply.executor import deferred_interrupts, execute
    from reconciler.apply.progress import LineEvents, LiveEvents, heartbeat_seconds, report_text
    from reconciler.diagnostics import printable
    from reconciler.render.text import render_text

    plan = planned.plan
    _print_notes(planned)
    color = _color()
    click.echo(render_text(plan, color=color), nl=False, color=color)
    if not plan.ok:
        return FAILED
    if not plan.has_changes:
        return OK
    if not yes:
        if not sys.stdin.isatty():
            click.echo("error: refusing to apply without --yes: standard input is not a"
                       " terminal", err=True)
            return FAILED
        if not click.confirm(f"Apply {len(plan.actions)} action(s) to cluster"
                             f" '{printable(plan.cluster)}'?", default=False):
            click.echo("Apply cancelled; nothing was changed.", err=True)
            return FAILED
    # From the first write until the report is printed, Ctrl-C only stops new actions.
    total = len(plan.actions)
    with deferred_interrupts() as interrupt:
        progress: Any = LiveEvents(total=total, color=_color(sys.stderr)) \
            if sys.stderr.isatty() else \
            LineEvents(total=total, color=_color(sys.stderr), heartbeat=heartbeat_seconds())
        with progress as events:
            report = execute(plan, planned.driver, events, parallelism=parallelism,
                             interrupt=interrupt)
        click.echo(report_text(report, color=color), nl=False, color=color)
    return report.result


def _apply_json(planned: Any, parallelism: int, events: Any) -> Result:
    """``apply --format json``: the plan, every action's start, progress and end, then a
    summary with the exit code, one JSON object per line."""
    from reconciler.apply.executor import Outcome, deferred_interrupts, execute
    from reconciler.apply.progress import counts
    from reconciler.plan.jsonplan import plan_to_json

    plan = planned.plan
    _print_notes(planned)
    events.emit("plan", plan=plan_to_json(plan))
    if not plan.ok or not plan.has_changes:
        result = OK if plan.ok else FAILED
        events.emit("summary", exitCode=int(result.exit_code),
                    outcome="no-changes" if plan.ok else "rejected",
                    error=None if plan.ok else f"the plan is rejected ({len(plan.errors)}"
                                               " error(s)); nothing was changed",
                    applied=0, failed=0, notStarted=0)
        return result
    events.total = len(plan.actions)
    with deferred_interrupts() as interrupt, events:
        report = execute(plan, planned.driver, events, parallelism=parallelism,
                         interrupt=interrupt)
    for ended in report.results:
        if ended.outcome is Outcome.NOT_STARTED:
            events.finished(ended)
    found = counts(report)
    outcome = "interrupted" if report.interrupted else "applied" if report.ok else "failed"
    events.emit("summary", exitCode=int(report.result.exit_code), outcome=outcome,
                error=None if report.ok else f"apply {outcome}: nothing more was started",
                applied=found[Outcome.APPLIED], failed=found[Outcome.FAILED],
                notStarted=found[Outcome.NOT_STARTED])
    return report.result


@cli.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(list(RENDERERS)), default="text",
              show_default=True,
              help="text for people, json for scripts, markdown for a pull-request comment.")
def show(plan_path: str, fmt: str) -> Result:
    """Render a saved PLAN (from `plan --out`) without contacting the cluster.

    Exits 1 when the saved plan was rejected.

    \b
    Examples:
      reconciler show plan.json
      reconciler show plan.json --format markdown > plan.md
    """
    from reconciler.errors import ReconcilerError
    from reconciler.plan.jsonplan import plan_from_json
    from reconciler.plan.savedplan import read_saved_plan
    from reconciler.render import renderer

    try:
        plan = plan_from_json(read_saved_plan(plan_path))
    except (KeyError, ValueError, TypeError) as exc:
        detail = f"it has no '{exc.args[0]}'" if isinstance(exc, KeyError) else str(exc)
        raise ReconcilerError(f"{plan_path}: not a usable saved plan ({detail})") from None
    color = _color()
    click.echo(renderer(fmt, color=color)(plan), nl=False, color=color)
    return Result(failed=not plan.ok)


@cli.command(name="list")
@click.argument("file", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def list_pools(file: str, fmt: str) -> Result:
    """List the live node pools of FILE's cluster, in the model's terms.

    \b
    Example:
      reconciler list pools.yaml --format json
    """
    from reconciler.desired.load import load_desired
    from reconciler.naturalsort import natural_key
    from reconciler.registry import driver_for
    from reconciler.render.pools import pools_json, pools_text

    pools = sorted(driver_for(load_desired(file).cluster).list(),
                   key=lambda pool: natural_key(pool.name))  # pool2 before pool10
    click.echo((pools_json if fmt == "json" else pools_text)(pools), nl=False)
    return OK


@cli.command()
@click.argument("file", type=click.Path())
@click.option("--output", "-o", type=click.Path(),
              help="Write to this file instead of standard output; an existing file is "
                   "refreshed in place, keeping its comments.")
@click.option("--schema", "schema_ref", metavar="PATH|URL",
              help="Schema the editor modeline points at (default: the file's own modeline, "
                   "else schemas/nodepools.schema.json found above the output, else the "
                   "published URL).")
def export(file: str, output: str | None, schema_ref: str | None) -> Result:
    """Print a desired-state file matching the live pools of FILE's cluster (onboarding).

    FILE needs only its cluster section (nodePools may be empty); its cluster and policy
    sections and comments are copied. The output starts with an editor modeline and a
    comment saying what was exported and when. It validates and plans to no changes, except
    that pools not yet marked managed-by=reconciler plan one update adding the marker,
    the first time. With --output onto an existing file, that file is the base instead:
    comments on pools that still exist are kept, pools gone from the cluster are dropped,
    new ones are appended.

    \b
    Examples:
      reconciler export cluster.yaml --output pools.yaml
      reconciler export pools.yaml --output pools.yaml     # refresh, keeping comments
      reconciler export cluster.yaml --schema ../schemas/nodepools.schema.json
    """
    from datetime import UTC, datetime
    from pathlib import Path

    from reconciler.atomicwrite import write_atomic
    from reconciler.desired.load import load_desired
    from reconciler.export import ExportHeader, export_text, read_base, schema_ref_for
    from reconciler.redact import redact
    from reconciler.registry import driver_for

    desired = load_desired(file)
    driver = driver_for(desired.cluster)
    target = Path(output) if output else None
    base = target if target is not None and target.exists() else Path(file)
    base_text, style = read_base(base)
    header = ExportHeader(desired.cluster.name, desired.cluster.provider, __version__,
                          datetime.now(UTC),
                          schema_ref or schema_ref_for(target, base_text, base.parent))
    # Folders as the local provider resolves a relative stateFile: the file's real folder.
    text = export_text(base_text, driver.list(), driver.capabilities, header,
                       base_dir=base.resolve().parent,
                       out_dir=(target.parent if target else Path.cwd()).resolve(),
                       source=str(base))
    if target is None:
        click.echo(style.apply(text, bom=False), nl=False)
        return OK
    write_atomic(target, style.apply(redact(text)), make_parents=True)
    from reconciler.escape import terminal

    click.echo(terminal(f"Wrote {output}"), err=True)
    return OK


@cli.command()
def schema() -> Result:
    """Print the JSON Schema of desired-state files.

    \b
    Example (vendor it for editors; see docs/editors.md):
      reconciler schema > schemas/nodepools.schema.json
    """
    from reconciler.desired.schema import schema_text

    click.echo(schema_text(), nl=False)
    return OK


@cli.command()
@click.argument("topic", type=click.Choice(["format", "commands", "schema"]))
@click.option("--output", "-o", type=click.Path(),
              help="Write to this file instead of standard output.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 when --output differs from what would be written.")
def docs(topic: str, output: str | None, check: bool) -> Result:
    """Generate a reference page from its source, so the two cannot drift.

    TOPIC is `format` (the desired-state file, from the JSON Schema), `commands` (every
    command's --help) or `schema` (the JSON Schema, from its core and each provider's part).

    \b
    Examples:
      reconciler docs format --output docs/format.md
      reconciler docs commands --output docs/commands.md --check
      reconciler docs schema --output schemas/nodepools.schema.json
    """
    from pathlib import Path

    from reconciler.docgen import topics

    text = topics(cli)[topic][1]()
    if check:
        if not output:
            raise click.UsageError("--check needs --output")
        current = Path(output).read_text(encoding="utf-8") if Path(output).exists() else ""
        if current != text:
            click.echo(f"{output} is out of date: run reconciler docs {topic} --output"
                       f" {output}", err=True)
            return FAILED
        return OK
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    return OK


for _command in (cli, *cli.commands.values()):
    _command.params.extend(OUTPUT_OPTIONS)


def main() -> None:
    """Console-script entry point."""
    cli()

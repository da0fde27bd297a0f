"""Command line: each command parses, builds, executes and renders; nothing more.

Exit codes (SPEC.md) are decided in ``ReconcilerGroup.main`` and the commands' returns:
0 ok, 1 any error, 2 changes with --detailed-exitcode, 64 usage, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from reconciler import __version__

EXIT_USAGE = 64
EXIT_INTERRUPTED = 130


class ReconcilerGroup(click.Group):
    """Maps every outcome to SPEC.md's exit codes and one-line, traceback-free errors."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            exc.show()
            code = EXIT_USAGE
        except click.Abort:
            click.echo("Aborted.", err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            exc.show()
            code = 1
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            code = EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - every error becomes one line, never a traceback
            code = _report_error(exc)
        sys.exit(code if isinstance(code, int) else 0)


def _report_error(exc: Exception) -> int:
    from reconciler.diagnostics import InvalidDocument
    from reconciler.errors import ReconcilerError

    if isinstance(exc, InvalidDocument):
        for diagnostic in exc.diagnostics:
            click.echo(diagnostic.format(), err=True)
    elif isinstance(exc, ReconcilerError):
        click.echo(f"error: {exc}", err=True)
    else:
        click.echo(f"error: unexpected {type(exc).__name__}: {exc}", err=True)
    return 1


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ and \
        os.environ.get("TERM") != "dumb"


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
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> int:
    """Check desired-state FILES against the schema and the rules; offline.

    \b
    Example:
      reconciler validate clusters/*.yaml
    """
    from reconciler.desired import load_desired
    from reconciler.diagnostics import InvalidDocument

    failed = False
    for file in files:
        try:
            desired = load_desired(file)
        except InvalidDocument as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                click.echo(diagnostic.format(), err=True)
            continue
        click.echo(f"{file}: valid ({len(desired.pools)} node pools)")
    return 1 if failed else 0


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Save the plan to apply later.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when the plan has changes, 0 when it has none.")
def plan(file: str, out: str | None, fmt: str, detailed_exitcode: bool) -> int:
    """List the live pools of FILE's cluster and print what apply would change.

    \b
    Examples:
      reconciler plan pools.yaml
      reconciler plan pools.yaml --out plan.json --format markdown
    """
    from reconciler.app import plan_file
    from reconciler.render import renderer
    from reconciler.savedplan import write_saved_plan

    planned = plan_file(file)
    click.echo(renderer(fmt, color=_color())(planned.plan), nl=False)
    if not planned.plan.ok:
        return 1
    if out:
        write_saved_plan(out, planned.plan, planned.desired)
        click.echo(f"Saved plan to {out}; apply it with: reconciler apply {out}", err=True)
    return 2 if detailed_exitcode and planned.plan.has_changes else 0


@cli.command()
@click.argument("target", metavar="FILE|PLAN", type=click.Path(dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(1, 100), default=10, show_default=True,
              help="How many actions may run at once.")
def apply(target: str, yes: bool, parallelism: int) -> int:
    """Converge the cluster to a desired-state FILE, or apply a saved PLAN.

    A saved plan is refused when the file or the cluster changed since it was made.

    \b
    Examples:
      reconciler apply pools.yaml --yes
      reconciler plan pools.yaml --out plan.json && reconciler apply plan.json
    """
    from reconciler.app import plan_file, replan_saved
    from reconciler.savedplan import is_saved_plan

    planned = replan_saved(target) if is_saved_plan(target) else plan_file(target)
    return _apply(planned, yes, parallelism)


def _apply(planned: Any, yes: bool, parallelism: int) -> int:
    from reconciler.executor import deferred_interrupts, execute
    from reconciler.progress import LineEvents, LiveEvents, report_text
    from reconciler.render.text import render_text

    plan = planned.plan
    click.echo(render_text(plan, color=_color()), nl=False)
    if not plan.ok:
        return 1
    if not plan.has_changes:
        return 0
    if not yes:
        if not sys.stdin.isatty():
            click.echo("error: refusing to apply without --yes: standard input is not a"
                       " terminal", err=True)
            return 1
        if not click.confirm(f"Apply {len(plan.actions)} action(s) to cluster"
                             f" '{plan.cluster}'?", default=False):
            click.echo("Apply cancelled; nothing was changed.", err=True)
            return 1
    # From the first write until the report is printed, Ctrl-C only stops new actions.
    with deferred_interrupts() as interrupt:
        if sys.stderr.isatty():
            with LiveEvents() as events:
                report = execute(plan, planned.driver, events, parallelism=parallelism,
                                 interrupt=interrupt)
        else:
            report = execute(plan, planned.driver, LineEvents(), parallelism=parallelism,
                             interrupt=interrupt)
        click.echo(report_text(report), nl=False)
    return report.exit_code


@cli.command()
@click.argument("plan_path", metavar="PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format.")
def show(plan_path: str, fmt: str) -> int:
    """Render a saved PLAN.

    \b
    Example:
      reconciler show plan.json --format markdown
    """
    from reconciler.errors import ReconcilerError
    from reconciler.render import renderer
    from reconciler.render.jsonplan import plan_from_json
    from reconciler.savedplan import read_saved_plan

    try:
        plan = plan_from_json(read_saved_plan(plan_path))
    except (KeyError, ValueError, TypeError) as exc:
        raise ReconcilerError(f"{plan_path}: not a usable saved plan ({exc})") from None
    click.echo(renderer(fmt, color=_color())(plan), nl=False)
    return 0 if plan.ok else 1


@cli.command(name="list")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def list_pools(file: str, fmt: str) -> int:
    """List the live node pools of FILE's cluster, in the model's terms.

    \b
    Example:
      reconciler list pools.yaml --format json
    """
    from reconciler.desired import load_desired
    from reconciler.providers import driver_for
    from reconciler.render.pools import pools_json, pools_text

    pools = driver_for(load_desired(file).cluster).list()
    click.echo((pools_json if fmt == "json" else pools_text)(pools), nl=False)
    return 0


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write to this file instead of standard output.")
def export(file: str, output: str | None) -> int:
    """Print a desired-state file matching the live cluster of FILE's cluster section.

    \b
    Example (onboarding an existing cluster):
      reconciler export cluster.yaml --output pools.yaml
    """
    from pathlib import Path

    from reconciler.desired import load_desired
    from reconciler.export import export_text
    from reconciler.providers import driver_for

    desired = load_desired(file)
    driver = driver_for(desired.cluster)
    text = export_text(Path(file).read_text(encoding="utf-8-sig"), driver.list(),
                       driver.capabilities)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    return 0


@cli.command()
def schema() -> int:
    """Print the JSON Schema of desired-state files."""
    from reconciler.schema import schema_text

    click.echo(schema_text(), nl=False)
    return 0


def main() -> None:
    """Console-script entry point."""
    cli()

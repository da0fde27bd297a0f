"""The terminal view: + create, ~ update, - delete, before -> after per field."""

from __future__ import annotations

from collections.abc import Callable

import click

from reconciler.plan import Action, ActionKind, Plan
from reconciler.render.values import show

_MARK = {ActionKind.CREATE: ("+", "green"), ActionKind.UPDATE: ("~", "yellow"),
         ActionKind.DELETE: ("-", "red")}


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan as text; ANSI colour only when ``color``."""
    def paint(text: str, fg: str, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines = [f"Plan for cluster '{plan.cluster}' ({plan.provider})", ""]
    if plan.errors:
        lines.append(paint("Errors: this plan cannot be applied", "red", bold=True))
        for error in plan.errors:
            where = ": ".join(p for p in (error.pool, error.field) if p)
            change = (f" ({show(error.before)} -> {show(error.after)})"
                      if error.before is not None or error.after is not None else "")
            lines.append(paint(f"  ! {where}{change}: {error.message}" if where
                               else f"  ! {error.message}", "red"))
        lines.append("")
    for action in plan.actions:
        lines.extend(_action_lines(action, paint))
    if plan.unmanaged:
        lines += [f"Unmanaged pools, left alone: {', '.join(plan.unmanaged)}", ""]
    if plan.kept:
        lines += [f"Owned but not listed, kept (policy.prune: none): {', '.join(plan.kept)}",
                  ""]
    lines.append(paint(_summary_line(plan), "cyan" if plan.ok else "red", bold=True))
    return "\n".join(lines) + "\n"


def _action_lines(action: Action, paint: Callable[..., str]) -> list[str]:
    mark, fg = _MARK[action.kind]
    head = f"  {mark} {action.kind.value} {action.pool}"
    lines = [paint(head, fg, bold=True) + (f"  ({action.reason})" if action.reason else "")]
    width = max((len(c.field) for c in action.changes), default=0)
    for change in action.changes:
        value = show(change.after) if action.kind is ActionKind.CREATE else \
            f"{show(change.before)} -> {show(change.after)}"
        lines.append(f"      {change.field.ljust(width)}  {value}")
    return [*lines, ""]


def _summary_line(plan: Plan) -> str:
    if not plan.ok:
        return f"Plan rejected: {len(plan.errors)} error(s); nothing will be changed."
    if not plan.has_changes:
        return f"No changes. The cluster matches the file ({_pools(plan.noop)} unchanged)."
    counts = plan.summary
    return (f"Plan: {counts['create']} to create, {counts['update']} to update,"
            f" {counts['delete']} to delete, {counts['noop']} unchanged.")


def _pools(count: int) -> str:
    return f"{count} pool" if count == 1 else f"{count} pools"

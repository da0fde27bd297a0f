"""The terminal view: + create, ~ update, -/+ replace, - delete, before -> after per field.

Every name, value, reason and message is untrusted and goes through
``reconciler.escape.terminal``: controls, separators and bidi characters are shown as
escapes and no line can start a CI workflow command.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from reconciler.escape import guard_lines, pad, terminal, width
from reconciler.plan import Action, ActionKind, Plan
from reconciler.render.values import show

_MARK = {ActionKind.CREATE: ("+", "green"), ActionKind.UPDATE: ("~", "yellow"),
         ActionKind.REPLACE: ("-/+", "magenta"), ActionKind.DELETE: ("-", "red")}
PROVIDER_POOL = "provider pool"
FORCES = "(forces replacement)"


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The whole plan as text; ANSI colour only when ``color``."""
    def paint(text: str, fg: str, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines = [f"Plan for cluster '{terminal(plan.cluster)}' ({terminal(plan.provider)})", ""]
    if plan.errors:
        lines.append(paint("Errors: this plan cannot be applied", "red", bold=True))
        for error in plan.errors:
            where = ": ".join(terminal(p) for p in (error.pool, error.field) if p)
            change = (f" ({_show(error.before)} -> {_show(error.after)})"
                      if error.before is not None or error.after is not None else "")
            message = terminal(error.message)
            at = f"{terminal(error.location)}: " if error.location else ""
            lines.append(paint(f"  ! {at}{where}{change}: {message}" if where
                               else f"  ! {at}{message}", "red"))
        lines.append("")
    for action in plan.actions:
        lines.extend(_action_lines(action, paint))
    if plan.unmanaged:
        lines += [f"Unmanaged pools, left alone: {_names(plan.unmanaged)}", ""]
    if plan.kept:
        lines += [f"Owned but not listed, kept (policy.prune: none): {_names(plan.kept)}", ""]
    if plan.ignored:
        lines.append("Ignored differences (the live value stays):")
        lines += [f"  = {terminal(item.pool)}: {terminal(item.change.field)}"
                  f" {_show(item.change.before)} (file: {_show(item.change.after)});"
                  f" {terminal(item.why)}" for item in plan.ignored]
        lines.append("")
    if plan.ok and plan.drained:
        lines.append(paint(destroy_line(plan), "red", bold=True))
    lines.append(paint(_summary_line(plan), "cyan" if plan.ok else "red", bold=True))
    return guard_lines("\n".join(lines) + "\n")


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(terminal(name) for name in names)


def _show(value: object) -> str:
    return terminal(show(value))


def _action_lines(action: Action, paint: Callable[..., str]) -> list[str]:
    mark, fg = _MARK[action.kind]
    head = f"  {mark} {action.kind.value} {terminal(action.pool)}"
    lines = [paint(head, fg, bold=True)
             + (f"  ({terminal(action.reason.words)})" if action.reason else "")]
    fields = [terminal(c.field) for c in action.changes]
    rows = []
    if action.new_provider_name is not None:
        rows.append((PROVIDER_POOL, f"{terminal(action.target)} -> "
                                    f"{terminal(action.new_provider_name)}"))
    elif action.provider_name is not None:
        rows.append((PROVIDER_POOL, terminal(action.provider_name)))
    for field, change in zip(fields, action.changes, strict=True):
        value = _show(change.after) if action.kind is ActionKind.CREATE else \
            f"{_show(change.before)} -> {_show(change.after)}"
        rows.append((field, value + (f"  {FORCES}" if change.path in action.forced_by else "")))
    columns = max((width(field) for field, _ in rows), default=0)
    lines += [f"      {pad(field, columns)}  {value}" for field, value in rows]
    return [*lines, ""]


def _summary_line(plan: Plan) -> str:
    if not plan.ok:
        return f"Plan rejected: {len(plan.errors)} error(s); nothing will be changed."
    counts = plan.summary
    if not plan.has_changes:
        return f"No changes. The cluster matches the file ({unchanged_words(plan)})."
    replacing = f" {counts['replace']} to replace," if counts.get("replace") else ""
    return (f"Plan: {counts['create']} to create, {counts['update']} to update,{replacing}"
            f" {counts['delete']} to delete, {counts['noop']} unchanged.")


def destroy_line(plan: Plan) -> str:
    """``Destroy: 2 pools, their nodes drained: batch, web``."""
    count = len(plan.drained)
    whose = "its" if count == 1 else "their"
    return (f"Destroy: {_pools(count)}, {whose} nodes drained and removed:"
            f" {_names(plan.drained)}")


def unchanged_words(plan: Plan) -> str:
    """What "unchanged" is made of: listed pools as asked, pools kept, pools left alone."""
    listed = plan.noop - len(plan.kept)
    parts = [f"{_pools(listed)} as listed"]
    if plan.kept:
        parts.append(f"{_pools(len(plan.kept), 'owned pool')} kept by policy.prune: none")
    if plan.unmanaged:
        parts.append(f"{_pools(len(plan.unmanaged), 'unmanaged pool')} left alone")
    return ", ".join(parts)


def _pools(count: int, noun: str = "pool") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

"""The pull-request view: a summary table, errors first, collapsible details per pool."""

from __future__ import annotations

from reconciler.plan import Action, ActionKind, Plan
from reconciler.render.values import show

MARKER = "<!-- reconciler-plan:{cluster} -->"
COMMENT_LIMIT = 65_536  # GitHub's limit for one comment
_BUDGET = COMMENT_LIMIT - 2_000  # room for the truncation notice and a CI job's own text
_ICON = {ActionKind.CREATE: "➕", ActionKind.UPDATE: "✏️", ActionKind.DELETE: "➖"}


def render_markdown(plan: Plan) -> str:
    """Markdown for a PR comment; details are dropped, with a notice, past the size limit."""
    head = _head(plan)
    details = [_details(action) for action in plan.actions]
    kept: list[str] = []
    size = len(head)
    for block in details:
        if size + len(block) > _BUDGET:
            break
        kept.append(block)
        size += len(block)
    tail = ""
    if len(kept) < len(details):
        tail = (f"\n> [!NOTE]\n> Details of {len(details) - len(kept)} more pool(s) were cut to"
                " fit the comment limit; run `reconciler plan` or download the plan artifact"
                " for the full plan.\n")
    return head + "".join(kept) + tail


def _head(plan: Plan) -> str:
    counts = plan.summary
    lines = [MARKER.format(cluster=_cell(plan.cluster)),
             f"### reconciler plan for `{_cell(plan.cluster)}` ({plan.provider}):"
             f" {counts['create']} to create, {counts['update']} to update,"
             f" {counts['delete']} to delete", ""]
    if plan.errors:
        lines += ["> [!CAUTION]", "> **This plan is rejected and cannot be applied.**", ">"]
        for error in plan.errors:
            where = " / ".join(f"`{_cell(p)}`" for p in (error.pool, error.field) if p)
            lines.append(f"> - {where + ': ' if where else ''}{_cell(error.message)}")
        lines.append("")
    if not plan.actions:
        lines.append(f"No changes: the cluster matches the file ({counts['noop']} pool(s)"
                     " unchanged).")
    else:
        lines += ["| | pool | action | fields | why |", "|---|---|---|---|---|"]
        lines += [f"| {_ICON[a.kind]} | `{_cell(a.pool)}` | {a.kind.value} | {len(a.changes)} |"
                  f" {_cell(a.reason)} |" for a in plan.actions]
        lines.append(f"\n{counts['noop']} pool(s) unchanged.")
    if plan.unmanaged:
        names = ", ".join(f"`{_cell(n)}`" for n in plan.unmanaged)
        lines.append(f"\nUnmanaged pools, left alone: {names}")
    return "\n".join(lines) + "\n\n"


def _details(action: Action) -> str:
    lines = [f"<details><summary>{_ICON[action.kind]} <code>{_cell(action.pool)}</code>:"
             f" {action.kind.value}</summary>", ""]
    if action.changes:
        lines += ["| field | before | after |", "|---|---|---|"]
        lines += [f"| `{c.field}` | {_code(c.before)} | {_code(c.after)} |"
                  for c in action.changes]
    else:
        lines.append(f"The pool is deleted ({_cell(action.reason)}).")
    return "\n".join([*lines, "", "</details>", ""]) + "\n"


def _code(value: object) -> str:
    return " " if value is None else f"`{_cell(show(value))}`"


def _cell(text: object) -> str:
    """Keep user text from breaking the table or the markup."""
    return str(text).replace("|", "\\|").replace("`", "'").replace("<", "&lt;").replace(
        "\n", " ")

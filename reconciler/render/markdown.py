"""The pull-request view: title with counts, errors first, an action table, then one
collapsible field diff per pool; cut, with a notice, to fit one GitHub comment.

The first line is a hidden marker, ``<!-- reconciler-plan:<cluster> -->``, so a CI job can
find and update its own comment instead of adding a new one on every push. It is part of
the public contract (docs/ci.md): keep it stable.

Every interpolated string is untrusted (file, cloud, or a saved plan given to ``show``)
and goes through ``reconciler.escape`` (see its docstring for the rules): names, fields
and values are ``markdown_code`` spans, prose (provider, reasons, error messages) is
``markdown_text``, and the pool name in ``<summary><code>`` and the cluster name in the
marker comment are ``html_text``. Control, separator, bidi and other invisible
characters are shown as ``\\x0d``-style escapes, so no value can end a line, a table row
or the marker comment, and no value can open HTML, a link, a mention or a reference.
Long values are cut between escapes, never inside one; rows are dropped whole.
"""

from __future__ import annotations

import re

from reconciler.escape import guard_lines, html_text, markdown_code, markdown_text, visible
from reconciler.plan import Action, ActionKind, Plan, PlanError
from reconciler.redact import redact
from reconciler.render.text import unchanged_words
from reconciler.render.values import show

MARKER = "<!-- reconciler-plan:{cluster} -->"
COMMENT_LIMIT = 65_536  # GitHub's limit for one comment, in characters
RESERVED = 2_000  # room for the truncation notice and a CI job's own text around the plan
MAX_VALUE = 500  # longest value shown in a cell; longer ones are shortened in place
_MAX_DRAINED_NAMES = 50  # pools named in the destroy alert (100 is the pool limit)
_ICON = {ActionKind.CREATE: "➕", ActionKind.UPDATE: "✏️", ActionKind.REPLACE: "-/+",
         ActionKind.DELETE: "➖"}
# One displayed unit of a value: an escape (JSON's or ours) or a single character.
_UNIT = re.compile(r"\\(?:U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)|.", re.DOTALL)


def plan_marker(cluster: str) -> str:
    """The hidden first line that identifies this cluster's plan comment."""
    return MARKER.format(cluster=html_text(cluster))


def render_markdown(plan: Plan, *, limit: int = COMMENT_LIMIT) -> str:
    """Markdown for a PR comment, always shorter than ``limit`` characters.

    Everything is kept while it fits in ``limit - RESERVED``; past that, error lines,
    table rows and field rows are dropped from the end and a notice says so.
    """
    budget = _Budget(limit - RESERVED)
    budget.take(_title(plan), force=True)
    if plan.ok and plan.drained:
        budget.take(_destroy_alert(plan), force=True)
    if plan.errors:
        _add_lines(budget, _error_head(), [_error_line(e) for e in plan.errors], "error")
    _add_summary(budget, plan)
    detailed = [action for action in plan.actions if action.changes]
    for index, action in enumerate(detailed):
        shown = _add_details(budget, action)
        if shown == len(action.changes):
            continue
        if shown:
            budget.cut.append(f"{_count(len(action.changes) - shown, 'field')} of"
                              f" {_code_span(action.pool)}")
        left = len(detailed) - index - (1 if shown else 0)
        if left:
            budget.cut.append(f"the field diffs of {_count(left, 'more pool')}")
        break
    if budget.cut:
        budget.take(_notice(budget.cut), force=True)
    return guard_lines(budget.text().rstrip("\n") + "\n")


class _Budget:
    """Collects output while it fits; remembers what had to be left out."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.parts: list[str] = []
        self.cut: list[str] = []

    def fits(self, text: str) -> bool:
        return len(text) <= self.remaining

    def take(self, text: str, *, force: bool = False) -> bool:
        if not force and not self.fits(text):
            return False
        self.parts.append(text)
        self.remaining -= len(text)
        return True

    def text(self) -> str:
        return "".join(self.parts)


def _title(plan: Plan) -> str:
    counts = plan.summary
    if not plan.ok:
        state = f"rejected, {_count(len(plan.errors), 'error')}"
    elif not plan.has_changes:
        state = "no changes"
    else:
        replacing = f" {counts['replace']} to replace," if counts.get("replace") else ""
        state = (f"{counts['create']} to create, {counts['update']} to update,{replacing}"
                 f" {counts['delete']} to delete")
    return (f"{plan_marker(plan.cluster)}\n### reconciler plan for {_code_span(plan.cluster)}"
            f" ({_text(plan.provider)}): {state}\n\n")


def _destroy_alert(plan: Plan) -> str:
    """The first thing a reviewer reads when pools go: which ones lose their nodes."""
    count = len(plan.drained)
    names = ", ".join(_code_span(name) for name in plan.drained[:_MAX_DRAINED_NAMES])
    more = f" and {count - _MAX_DRAINED_NAMES} more" if count > _MAX_DRAINED_NAMES else ""
    noun = "node pool" if count == 1 else "node pools"
    whose = "its" if count == 1 else "their"
    return (f"> [!CAUTION]\n> **This plan destroys {count} {noun}: {whose} nodes will be"
            f" drained and removed.** {names}{more}\n\n")


def _error_head() -> str:
    return ("> [!CAUTION]\n> **This plan is rejected and cannot be applied; nothing will be"
            " changed.**\n>\n")


def _error_line(error: PlanError) -> str:
    where = " ".join(_code_span(part) for part in (error.pool, error.field) if part)
    change = ""
    if error.before is not None or error.after is not None:
        change = f" ({_value(error.before)} → {_value(error.after)})"
    prefix = f"{where}{change}: " if where or change else ""
    at = f"{_code_span(error.location)} " if error.location else ""
    return f"> - {at}{prefix}{_text(error.message)}\n"


def _add_lines(budget: _Budget, head: str, lines: list[str], noun: str) -> None:
    """``head`` then as many ``lines`` as fit, then a blank line."""
    budget.take(head, force=True)
    for index, line in enumerate(lines):
        if not budget.take(line):
            budget.cut.append(_count(len(lines) - index, noun))
            break
    budget.take("\n", force=True)


def _add_summary(budget: _Budget, plan: Plan) -> None:
    if plan.actions:
        rows = [_row(_ICON[a.kind], _code_span(a.pool), a.kind.value,
                     str(len(a.changes)) if a.changes else "",
                     _text(a.reason.words if a.reason else ""))
                for a in plan.actions]
        _add_lines(budget, "| | pool | action | fields | why |\n|---|---|---|---|---|\n",
                   rows, "table row")
    notes = []
    if plan.ok and not plan.has_changes:
        notes.append(f"The cluster matches the file ({unchanged_words(plan)}).")
    else:
        notes.append(f"{_count(plan.noop, 'pool')} unchanged.")
    if plan.unmanaged:
        names = ", ".join(_code_span(name) for name in plan.unmanaged)
        notes.append(f"Unmanaged pools, left alone: {names}.")
    if plan.kept:
        names = ", ".join(_code_span(name) for name in plan.kept)
        notes.append(f"Owned but not listed, kept (`policy.prune: none`): {names}.")
    if plan.ignored:
        shown = plan.ignored[:MAX_IGNORED_SHOWN]
        items = "; ".join(f"{_code_span(i.pool)} {_code_span(i.change.field)} stays"
                          f" {_value(i.change.before)} ({_text(i.why)})" for i in shown)
        more = len(plan.ignored) - len(shown)
        notes.append(f"Ignored differences: {items}"
                     + (f"; and {more} more (`reconciler plan` lists all)." if more else "."))
    budget.take(" ".join(notes) + "\n\n", force=True)


MAX_IGNORED_SHOWN = 10  # a comment lists the first ten; the text and JSON views list all


def _add_details(budget: _Budget, action: Action) -> int:
    """One collapsible block, whole or cut short; returns how many field rows it shows."""
    created = action.kind is ActionKind.CREATE
    head = (f"<details><summary>{_ICON[action.kind]} <code>{html_text(action.pool)}</code>:"
            f" {action.kind.value}, {_count(len(action.changes), 'field')}</summary>\n\n"
            + ("| field | value |\n|---|---|\n" if created else
               "| field | before | after |\n|---|---|---|\n"))
    rows = [_row(_code_span(c.field), _value(c.after)) if created else
            _row(_code_span(c.field), _value(c.before), _value(c.after)
                 + (" (forces replacement)" if c.path in action.forced_by else ""))
            for c in action.changes]
    if action.new_provider_name is not None:
        rows.insert(0, _row("provider pool", _code_span(action.target),
                            _code_span(action.new_provider_name)))
    elif action.provider_name is not None:
        rows.insert(0, _row("provider pool", _code_span(action.provider_name), "(deleted)"
                            if action.kind is ActionKind.DELETE else ""))
    extra = len(rows) - len(action.changes)  # the provider pool's row is not a field
    tail = "\n</details>\n\n"
    if budget.take(head + "".join(rows) + tail):
        return len(rows) - extra
    # Cut short: open the block only if its first row, a "more" line and the closing tag
    # fit too, so the comment never holds an unclosed <details>.
    closing = len(_more_line(len(rows))) + len(tail)
    if not budget.fits(head + rows[0] + "x" * closing):
        return 0
    budget.remaining -= closing
    budget.take(head, force=True)
    shown = 0
    while shown < len(rows) and budget.take(rows[shown]):
        shown += 1
    budget.remaining += closing
    budget.take(_more_line(len(rows) - shown) + tail, force=True)
    return max(shown - extra, 0)


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |\n"


def _more_line(count: int) -> str:
    return f"\n… {_count(count, 'more field')} not shown.\n"


def _notice(cut: list[str]) -> str:
    return ("> [!NOTE]\n> This comment was shortened to fit GitHub's comment limit: "
            + "; ".join(cut) + " left out. Run `reconciler plan` or download the plan"
            " artifact for the full plan.\n")


def _value(value: object) -> str:
    """A field value in a code span; unset is an italic word, long values are shortened."""
    if value is None:
        return "*unset*"
    text = visible(redact(show(value)))
    if len(text) <= MAX_VALUE:
        return _code_span(text)
    kept = _cut(text, MAX_VALUE)
    return f"{_code_span(kept)} … ({len(text) - len(kept)} more characters)"


def _cut(text: str, limit: int) -> str:
    """The longest start of ``text`` of at most ``limit`` characters ending between escapes."""
    end = 0
    for unit in _UNIT.finditer(text):
        if unit.end() > limit:
            break
        end = unit.end()
    return text[:end]


def _code_span(text: object) -> str:
    """``text`` as an inert code span that survives tables (``reconciler.escape``)."""
    return markdown_code(text)


def _text(text: object) -> str:
    """User text as inert Markdown prose (``reconciler.escape``)."""
    return markdown_text(text)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"

"""Views of a Plan; each is a function Plan -> str, chosen by name from one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this table at start-up: no plan model needed for it
    from reconciler.plan import Plan


def _text(color: bool) -> Callable[[Plan], str]:
    from reconciler.render.text import render_text

    return lambda plan: render_text(plan, color=color)


def _json(color: bool) -> Callable[[Plan], str]:
    from reconciler.plan.jsonplan import render_json

    return render_json


def _markdown(color: bool) -> Callable[[Plan], str]:
    from reconciler.render.markdown import render_markdown

    return render_markdown


# --format NAME -> the view; the CLI's choices are this table's keys (first: the default).
RENDERERS: dict[str, Callable[[bool], Callable[[Plan], str]]] = {
    "text": _text, "json": _json, "markdown": _markdown}


def renderer(name: str, *, color: bool = False) -> Callable[[Plan], str]:
    """The renderer for ``--format NAME`` (views import lazily: start-up stays small)."""
    return RENDERERS[name](color)


# `validate --format NAME`: the keys of reconciler.render.diagnostics.DIAGNOSTIC_FORMATS,
# named here so that the CLI's start-up does not import the views.
DIAGNOSTIC_FORMAT_NAMES = ("text", "json", "github", "sarif")

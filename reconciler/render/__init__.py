"""Views of a Plan; each is a function Plan -> str, chosen by name."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.plan import Plan


def renderer(name: str, *, color: bool = False) -> Callable[[Plan], str]:
    """The renderer for ``--format NAME``."""
    if name == "json":
        from reconciler.render.jsonplan import render_json

        return render_json
    if name == "markdown":
        from reconciler.render.markdown import render_markdown

        return render_markdown
    from reconciler.render.text import render_text

    return lambda plan: render_text(plan, color=color)


FORMATS = ("text", "json", "markdown")

"""Pull-request comments found by their hidden marker, and the reconciler:* labels.

Only a comment written by ``github-actions[bot]`` (login and type ``Bot``) whose body
starts with the marker is ours to update: anyone can paste the marker into a comment.
"""

from __future__ import annotations

from typing import Any

from reconciler.escape import html_text
from reconciler.ghaction.api import GitHub

BOT_LOGIN = "github-actions[bot]"
LABELS = ("reconciler:no-changes", "reconciler:changes", "reconciler:destroy",
          "reconciler:error")
COMMENT_LIMIT = 65_536


def marker(kind: str, key: str) -> str:
    """``<!-- reconciler-action:plan:clusters/prod.yaml -->``: the first line of a comment."""
    return f"<!-- reconciler-action:{kind}:{html_text(key)} -->"


def is_ours(comment: dict[str, Any], first_line: str) -> bool:
    """True for a comment by the Actions bot that starts with ``first_line``."""
    user = comment.get("user") or {}
    return (user.get("login") == BOT_LOGIN and user.get("type") == "Bot"
            and str(comment.get("body") or "").startswith(first_line + "\n"))


def upsert_comment(api: GitHub, number: int, first_line: str, body: str) -> str:
    """Update our comment that starts with ``first_line``, or create one; returns what
    was done (``created`` or ``updated``)."""
    text = f"{first_line}\n{body}"
    if len(text) > COMMENT_LIMIT:
        text = text[:COMMENT_LIMIT - 200] + "\n\n… cut to fit GitHub's comment limit.\n"
    comments = api.paginate(api.repo_path(f"/issues/{number}/comments?per_page=100"))
    mine = next((c for c in comments if is_ours(c, first_line)), None)
    if mine is not None:
        api.request("PATCH", api.repo_path(f"/issues/comments/{mine['id']}"), {"body": text})
        return "updated"
    api.request("POST", api.repo_path(f"/issues/{number}/comments"), {"body": text})
    return "created"


def set_labels(api: GitHub, number: int, wanted: set[str]) -> None:
    """Make the pull request's reconciler:* labels exactly ``wanted`` (others untouched)."""
    from urllib.parse import quote

    current = {label["name"] for label in
               api.paginate(api.repo_path(f"/issues/{number}/labels?per_page=100"))}
    for name in sorted((current & set(LABELS)) - wanted):
        api.request("DELETE", api.repo_path(f"/issues/{number}/labels/{quote(name, safe='')}"))
    missing = sorted(wanted - current)
    if missing:
        api.request("POST", api.repo_path(f"/issues/{number}/labels"), {"labels": missing})

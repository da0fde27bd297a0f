"""Finding 2: the pull-request comment cannot be made to lie.

A bare ``\\r`` is a CommonMark line ending: in a live pool name, label or tag key it used
to end the code span and the table row, after which raw HTML worked (``<!--`` hid the
table of deletes, ``<img>`` loaded, ``@org/team`` pinged people). Desired files are
refused at validation instead; live values and saved plans are rendered inert. Every
command is a real ``python -m reconciler`` process; the Markdown is parsed with a
CommonMark parser (markdown-it-py, tables enabled) to check what a renderer would do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from security_support import (
    CLOSE_AND_IMAGE,
    CR_COMMENT,
    HOSTILE,
    PINGS,
    TERMINAL,
    output_problems,
    run,
    write_cluster,
)

MARKER = re.compile(r"<!-- reconciler-plan:[^>]* -->")
# The only raw HTML the renderer writes itself: the marker and the collapsible blocks.
OWN_HTML = re.compile(r"<!-- reconciler-plan:[^>]* -->|<details><summary>[^<]*<code>[^<]*"
                      r"</code>[^<]*</summary>|</details>")
LIVE_TEXT = re.compile(r"@|://|www\.|#\d")
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})")


def unescape(shown: str) -> str:
    """The original of a shown value (``\\x0d`` -> CR ...)."""
    return _ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), shown)


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _inline_children(tokens: list[Token]) -> list[Token]:
    return [child for token in tokens if token.type == "inline" for child in token.children or []]


def _table_rows(tokens: list[Token]) -> list[list[list[Token]]]:
    """The body rows of the first table: for each row, the inline children of each cell."""
    rows: list[list[list[Token]]] = []
    in_body = False
    for token in tokens:
        if token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            return rows
        elif in_body and token.type == "tr_open":
            rows.append([])
        elif in_body and token.type == "inline":
            rows[-1].append(list(token.children or []))
    return rows


def markdown_problems(text: str) -> list[str]:
    """What is not inert in ``text`` (empty: a renderer shows it as the tool wrote it)."""
    found = output_problems(text)
    lines = text.split("\n")
    if not MARKER.fullmatch(lines[0]):
        found.append(f"first line is not one whole marker comment: {lines[0]!r}")
    found += [f"comment opened on line {i + 1}: {line!r}" for i, line in enumerate(lines)
              if i and line.lstrip().startswith("<!--")]
    md = _parser()
    tokens = md.parse(text)
    for token in tokens:
        if token.type == "html_block" and not all(
                OWN_HTML.fullmatch(line) for line in token.content.rstrip("\n").split("\n")):
            found.append(f"raw HTML block from data: {token.content!r}")
    for child in _inline_children(tokens):
        if child.type in ("html_inline", "link_open", "image", "s_open"):
            found.append(f"{child.type} from data: {child.content or child.attrs!r}")
        if child.type == "text" and LIVE_TEXT.search(child.content):
            found.append(f"live text outside a code span: {child.content!r}")
    html = md.render(text)
    if html.count("<!--") != 1:
        found.append(f"{html.count('<!--')} HTML comments in the rendered comment")
    found += [f"rendered {tag}" for tag in ("<img", "<a ", "<script") if tag in html]
    return found


def check_table(text: str, actions: list[dict[str, Any]]) -> None:
    """One table row per action, in order, whose pool cell shows exactly the pool's name."""
    rows = _table_rows(_parser().parse(text))
    assert len(rows) == len(actions)
    assert len(re.findall(r"(?m)^\| (?:➕|✏️|➖) \| ", text)) == len(actions)
    for row, action in zip(rows, actions, strict=True):
        assert len(row) == 5, row
        assert [t.type for t in row[1]] == ["code_inline"], row[1]
        assert unescape(row[1][0].content) == action["pool"]
        assert row[2][0].content == action["action"]


def test_hostile_live_values_cannot_break_the_plan_comment(tmp_path: Path) -> None:
    write_cluster(tmp_path)
    markdown = run(tmp_path, "plan", "pools.yaml", "--format", "markdown")
    plan = json.loads(run(tmp_path, "plan", "pools.yaml", "--format", "json").stdout)
    assert markdown.returncode == 0, markdown.stderr
    text = markdown.stdout
    assert markdown_problems(text) == []
    # Every delete is in the table, each row whole: one update plus one delete per string.
    assert [a["action"] for a in plan["actions"]] == ["update"] + ["delete"] * len(HOSTILE)
    check_table(text, plan["actions"])
    assert "10 to delete" in text.split("\n")[1]
    # The field diff keeps every row too, and shows hostile keys and values faithfully.
    tokens = _parser().parse(text)
    cells = [unescape(child.content) for child in _inline_children(tokens)
             if child.type == "code_inline"]
    for index, hostile in enumerate(HOSTILE):
        assert f"labels.k{index}{hostile}" in cells
        assert f"extensions.aks.tags.t{index}{hostile}" in cells
    assert json.dumps(CR_COMMENT, ensure_ascii=False) in cells  # labels.team's before value
    assert text.count("<details>") == 1 and text.count("</details>") == 1


def _saved_plan(cluster: str, provider: str, actions: list[dict[str, Any]],
                errors: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {kind: sum(a["action"] == kind for a in actions)
              for kind in ("create", "update", "delete")}
    return {"formatVersion": "2", "reconcilerVersion": "0", "cluster": {"name": cluster,
            "provider": provider}, "summary": {**counts, "noop": 0}, "actions": actions,
            "unmanaged": list(HOSTILE), "kept": list(HOSTILE), "errors": errors,
            "desiredFile": "pools.yaml",
            "fingerprint": {"live": "sha256:0", "desired": "sha256:0", "target": "scrypt:00:00"}}


CLUSTER = "prod\r<!-- --> --!> <img src=x> @org/team"


@pytest.mark.parametrize("rejected", [False, True], ids=["applicable", "rejected"])
def test_a_hostile_saved_plan_renders_inert(tmp_path: Path, rejected: bool) -> None:
    """``show`` renders a plan file it did not write (an artifact, a fork's upload): the
    cluster name in the marker and title, the provider, fields, values and messages."""
    actions = [{"action": "delete", "pool": name, "reason": "no-longer-listed", "changes": []}
               for name in HOSTILE]
    actions.insert(0, {"action": "update", "pool": "apps", "reason": "changed", "changes": [
        {"path": [name], "field": name, "before": name, "after": {name: [name]}}
        for name in HOSTILE]})
    errors = [{"pool": name, "path": [name], "field": name, "before": name, "after": None,
               "message": f"{name} cannot change; see {PINGS} {CLOSE_AND_IMAGE}"}
              for name in HOSTILE] if rejected else []
    plan = _saved_plan(CLUSTER, f"aks\r<!--{TERMINAL}", actions, errors)
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    shown = run(tmp_path, "show", "plan.json", "--format", "markdown")
    assert shown.returncode == (1 if rejected else 0), shown.stderr
    text = shown.stdout
    assert markdown_problems(text) == []
    check_table(text, actions)
    lines = text.split("\n")
    # The marker holds the whole name on one line and closes only at its end.
    assert lines[0] == ("<!-- reconciler-plan:prod\\x0d&lt;!-- --&gt; --!&gt; &lt;img src=x&gt;"
                        " @org/team -->")
    tokens = _parser().parse(text)
    assert tokens[0].type == "html_block" and tokens[0].content == lines[0] + "\n"
    title = [t for t in tokens if t.type == "inline"][0].children or []
    assert unescape(title[1].content) == CLUSTER
    if rejected:
        items = [t for t in tokens if t.type == "list_item_open"]
        assert len(items) == len(errors)
        assert "rejected, 10 errors" in lines[1]


def test_hostile_strings_in_a_desired_file_are_refused(tmp_path: Path) -> None:
    """A fork's file never reaches a renderer: every string is checked, keys and values."""
    (tmp_path / "pools.yaml").write_text("""\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: "demo\\r<!--"
  provider: local
  settings: {stateFile: "state\\u2028.json", location: japaneast}
nodePools:
  - name: "sys\\u202etem"
    mode: system
    labels: {"team\\r": "a\\u2029b", ok: "x\\e[2Ky"}
    autoscaling: {enabled: true, min: 1, max: 3}
    extensions:
      aks:
        tags: {"cost\\rcenter": "1", owner: "@org/team\\x85", "bidi\\u2066": "\\t"}
        nodeTaints: ["a=b:NoSchedule\\u200f"]
""", encoding="utf-8")
    expected = {
        ("4:9", "cluster.name", "contains a control character (U+000D)"),
        ("6:25", "cluster.settings.stateFile", "contains a line or paragraph separator (U+2028)"),
        ("8:11", "nodePools[0].name", "contains a bidirectional control character (U+202E)"),
        ("10:14", "nodePools[0].labels.team\\x0d", "key contains a control character (U+000D)"),
        ("10:24", "nodePools[0].labels.team\\x0d",
         "contains a line or paragraph separator (U+2029)"),
        ("10:40", "nodePools[0].labels.ok", "contains a control character (U+001B)"),
        ("14:16", "nodePools[0].extensions.aks.tags.cost\\x0dcenter",
         "key contains a control character (U+000D)"),
        ("14:44", "nodePools[0].extensions.aks.tags.owner",
         "contains a control character (U+0085)"),
        ("14:61", "nodePools[0].extensions.aks.tags.bidi\\u2066",
         "key contains a bidirectional control character (U+2066)"),
        ("14:75", "nodePools[0].extensions.aks.tags.bidi\\u2066",
         "contains a control character (U+0009)"),
        ("15:22", "nodePools[0].extensions.aks.nodeTaints[0]",
         "contains a bidirectional control character (U+200F)"),
    }
    for command in ("validate", "plan"):
        result = run(tmp_path, command, "pools.yaml")
        assert result.returncode == 1 and result.stdout == ""
        assert output_problems(result.stderr) == []
        lines = result.stderr.splitlines()
        assert all(line.startswith("pools.yaml:") for line in lines), lines
        refused = {(m[1], m[2], m[3]) for line in lines if (m := re.fullmatch(
            r"pools\.yaml:(\d+:\d+): (\S+): ((?:key )?contains a .+); remove it", line))}
        assert refused == expected, "\n".join(lines)
    assert not (tmp_path / "state.json").exists()

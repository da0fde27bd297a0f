"""The escaping rules of ``reconciler.escape`` one by one (the attacks through the real
CLI are in the other modules of this folder)."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest

from reconciler.escape import (
    UNSAFE,
    guard_lines,
    html_text,
    json_text,
    markdown_code,
    markdown_text,
    terminal,
    visible,
)
from reconciler.plan import Action, ActionKind, FieldChange, Plan, Reason
from reconciler.redact import forget_all, remember
from reconciler.render.markdown import MAX_VALUE, render_markdown

ORDINARY = ["system", "prod-japaneast", "kompox.dev/node-pool", "Standard_D4s_v5",
            "owned, no longer listed", "チーム", "workload=batch:NoSchedule", '"user"']


def test_every_control_separator_format_and_surrogate_character_is_escaped() -> None:
    for point in range(0x110000):
        char = chr(point)
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
            assert UNSAFE.fullmatch(char), hex(point)
            assert not UNSAFE.search(visible(char)), hex(point)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert visible(text) == terminal(text) == guard_lines(text) == text
    assert json_text(json.dumps(text, ensure_ascii=False)) == json.dumps(text, ensure_ascii=False)


def test_escapes_are_visible_and_distinct() -> None:
    assert visible("a\rb\nc\td\x1b\x7f\x85\u2028\u202e\U000e0041") == \
        "a\\x0db\\x0ac\\x09d\\x1b\\x7f\\x85\\u2028\\u202e\\U000e0041"


@pytest.mark.parametrize(("text", "shown"), [
    ("::add-mask::x", "\\x3a:add-mask::x"), ("  ::error::x", "  \\x3a:error::x"),
    ("\u00a0::warning::x", "\u00a0\\x3a:warning::x"), ("##[error]x", "\\x23#[error]x"),
    ("\n::stop-commands::t", "\\x0a::stop-commands::t"), ("a ##vso[task]", "a \\x23#vso[task]"),
    ("a::b", "a::b"), (":x", ":x"),
])
def test_a_value_cannot_start_a_workflow_command(text: str, shown: str) -> None:
    assert terminal(text) == shown


def test_guard_lines_checks_every_line() -> None:
    assert guard_lines("ok\n  ::error::x\n##[group]y\n") == "ok\n  \\x3a:error::x\n\\x23#[group]y\n"


def test_markdown_rules() -> None:
    assert markdown_code("a`b|c\r") == "``a`b\\|c\\x0d``"
    assert markdown_code("`x`") == "`` `x` ``"
    assert markdown_text("changed *now* | <i>") == "changed \\*now\\* \\| &lt;i&gt;"
    for live in ("ping @org/team", "see #123", "https://evil.example", "www.evil.example",
                 "$\\huge{x}$", ":rocket:", "commit deadbeef1"):
        assert markdown_text(live) == markdown_code(live), live
    assert html_text("x --> --!> <!-- &") == "x --&gt; --!&gt; &lt;!-- &amp;"


def test_json_text_escapes_what_json_leaves_raw_and_round_trips() -> None:
    value = "a\x7f\x85\u2028\u202e\u2066\ufeff\U000e0041\ud800チーム\x1b"
    text = json_text(json.dumps({"k": value}, ensure_ascii=False))
    assert not UNSAFE.search(text)
    assert json.loads(text) == {"k": value}
    assert "チーム" in text


def test_every_function_redacts_first() -> None:
    forget_all()
    remember("s3cr3t-value", "${TOKEN}")
    try:
        for render in (visible, terminal, guard_lines, markdown_code, markdown_text, html_text):
            assert "s3cr3t" not in render("x s3cr3t-value y")
            assert "${TOKEN}" in render("x s3cr3t-value y")
        assert "s3cr3t" not in json_text('"s3cr3t-value"')
    finally:
        forget_all()


@pytest.mark.parametrize("value", ["\x1b" * 300, "\u202e" * 300, "\U000e0041" * 300,
                                   "a\\" * 300, "\u00e9\u202e\r" * 200])
def test_long_values_are_cut_between_escapes(value: str) -> None:
    plan = Plan("demo", "local", actions=(
        Action(ActionKind.UPDATE, "apps", (FieldChange(("labels", "x"), None, value),),
               Reason.CHANGED),))
    text = render_markdown(plan)
    row = next(line for line in text.splitlines() if line.startswith("| `labels.x`"))
    match = re.search(r"\| `([^`]*)` … \((\d+) more characters\) \|$", row)
    assert match, row
    kept = match[1]
    assert len(kept) <= MAX_VALUE
    # What is kept is a whole number of escapes: it decodes as the start of the JSON text.
    units = re.findall(r"\\(?:U[0-9a-f]{8}|u[0-9a-f]{4}|x[0-9a-f]{2}|.)|[^\\]", kept)
    assert "".join(units) == kept
    full = visible(json.dumps(value, ensure_ascii=False))
    assert full.startswith(kept) and len(full) - len(kept) == int(match[2])

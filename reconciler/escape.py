"""Untrusted text made inert for every output: terminals, CI logs, Markdown and JSON.

Desired files come from pull requests (forks included); live pool names, labels, tags,
states and provider error messages come from the cloud. Any of them can hold any
character, so every string that is not the tool's own wording passes through one of the
functions here before it is printed or rendered. Each one calls
:func:`reconciler.redact.redact` first, so no remembered secret is ever shown.

The rules
---------

Invisible and line-breaking characters are made VISIBLE (never dropped, never hidden):
C0 controls (tab, CR and LF included), DEL, C1 controls (NEL U+0085 included), the
Unicode line and paragraph separators (U+2028, U+2029), every format character (Unicode
category Cf: the bidirectional marks, embeddings, overrides and isolates U+061C,
U+200E/200F, U+202A-202E, U+2066-2069, zero-width characters, the byte-order mark, soft
hyphen, tag characters ...) and lone surrogates are written as escapes: ``\\x0d`` below
U+0100, ``\\u202e`` in the BMP, ``\\U000e0001`` above. A value is then always one line.

``terminal(text)``: the visible form, and a value can never start a CI workflow command.
GitHub Actions reads a log line whose first non-blank characters are ``::`` (or the legacy
``##[``) as a command (``::add-mask::``, ``::stop-commands::``, ``::error::``); such a
value has that first character escaped (``\\x3a:add-mask::``, ``\\x23#[``), and an Azure
Pipelines ``##vso[`` anywhere becomes ``\\x23#vso[``. ``guard_lines(text)`` applies the
same line-start rule to every line of a composed, multi-line output (defence in depth).

Markdown (the pull-request comment; see ``reconciler.render.markdown``):

- ``markdown_code(text)``: untrusted DATA (cluster, pool, field names, values) is always
  an inline code span. Nothing inside a code span is markup: no HTML, no entity, no
  emphasis, no link or autolink, no ``@mention``, no ``#123`` reference, no math. Its
  content is the visible form (so it holds no line ending and cannot end the span or the
  table row early), with ``|`` written ``\\|`` (a GFM table cell) and a backtick fence
  longer than any backtick run inside.
- ``markdown_text(text)``: untrusted PROSE (provider name, reasons, error messages) stays
  plain text when it is harmless: the visible form with ``\\ ` * _ [ ] | ~`` backslash-
  escaped and ``& < >`` as entities. When it holds anything GitHub would make live even
  in plain text (``@``, ``#``, ``$``, ``://``, ``www.``, ``:emoji:``, a commit-like hex
  word), the whole of it is rendered as one code span instead (entities such as
  ``&#64;`` are not enough: GitHub finds mentions after decoding them).
- ``html_text(text)``: the visible form with ``& < >`` as entities, for text inside raw
  HTML (``<code>`` in a ``<summary>``) and inside the hidden marker comment: with no
  ``>`` left, ``-->`` or ``--!>`` cannot close the comment.

JSON (``json_text(document)``): ``json`` already escapes C0 controls; the rest of the
set above (DEL, C1, separators, format characters, lone surrogates) is written as
``\\uXXXX`` escapes too, so ``cat plan.json`` is as safe as the terminal view while other
non-ASCII text (``チーム``) stays readable.
"""

from __future__ import annotations

import re
import unicodedata

from reconciler.redact import redact

# Unicode categories Cc, Cf, Zl, Zp and Cs (checked against unicodedata in the tests),
# written out so that importing this module stays instant.
_C0 = "\x00-\x1f"
_OTHER_UNSAFE = (
    "\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
UNSAFE = re.compile(f"[{_C0}{_OTHER_UNSAFE}]")
# What json.dumps(ensure_ascii=False) leaves raw: the set above but C0 (already escaped).
_JSON_UNSAFE = re.compile(f"[{_OTHER_UNSAFE}]")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A CI log line whose first non-blank characters are these is a workflow command.
_COMMAND_START = re.compile(r"^(\s*)(?:(:)(?=:)|(#)(?=#\[))", re.MULTILINE)
_VSO = re.compile(r"#(?=#vso\[)", re.IGNORECASE)
# Plain text GitHub turns into mentions, references, links, emoji or math.
_LIVE_IN_PROSE = re.compile(
    r"[@#$]|://|www\.|:[A-Za-z0-9_+-]+:"
    r"|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b", re.IGNORECASE)
_MARKDOWN_PUNCTUATION = frozenset("\\`*_[]|~")


def escape_char(char: str) -> str:
    """``\\x0d``, ``\\u202e`` or ``\\U000e0001``: one character as a visible escape."""
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def describe_char(char: str) -> str:
    """What kind of unsafe character ``char`` is, for messages."""
    if char in _BIDI:
        return "bidirectional control character"
    category = unicodedata.category(char)
    if category == "Cc":
        return "control character"
    if category in ("Zl", "Zp"):
        return "line or paragraph separator"
    if category == "Cs":
        return "lone surrogate"
    return "invisible format character"


def first_unsafe(text: str) -> str | None:
    """The first character of ``text`` that must be refused or escaped, if any."""
    match = UNSAFE.search(text)
    return match.group() if match else None


def visible(text: object) -> str:
    """``text`` (redacted) on one line, every unsafe character written as an escape."""
    return UNSAFE.sub(lambda m: escape_char(m.group()), redact(str(text)))


def terminal(text: object) -> str:
    """A value (or a whole line) for a terminal or CI log: visible, never a command."""
    shown = _VSO.sub(r"\\x23", visible(text))
    return _COMMAND_START.sub(_escape_command_start, shown)


def guard_lines(text: str) -> str:
    """Composed output whose lines cannot start a CI workflow command (newlines kept)."""
    return _COMMAND_START.sub(_escape_command_start, _VSO.sub(r"\\x23", redact(text)))


def _escape_command_start(match: re.Match[str]) -> str:
    return match.group(1) + ("\\x3a" if match.group(2) else "\\x23")


def markdown_code(text: object) -> str:
    """``text`` as an inert inline code span that survives a GFM table cell."""
    raw = visible(text).replace("|", "\\|")
    longest = run = 0
    for char in raw:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if raw.startswith("`") or raw.endswith("`") else ""
    return f"{fence}{pad}{raw}{pad}{fence}"


def markdown_text(text: object) -> str:
    """``text`` as inert Markdown prose; a code span when plain text could turn live."""
    shown = visible(text)
    if _LIVE_IN_PROSE.search(shown):
        return markdown_code(shown)
    return "".join(f"\\{char}" if char in _MARKDOWN_PUNCTUATION else char
                   for char in html_text(shown))


def html_text(text: object) -> str:
    """``text`` for raw HTML content or an HTML comment: visible, ``& < >`` as entities."""
    return visible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def width(text: str) -> int:
    """Terminal columns of escaped ``text``: East Asian wide characters take two."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(char) else
               2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, columns: int) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns."""
    return text + " " * (columns - width(text))


def json_text(document: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) safe to ``cat``."""
    return _JSON_UNSAFE.sub(_json_escape, redact(document))


def _json_escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"

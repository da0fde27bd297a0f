"""Read a YAML file into plain data while keeping where every key and value came from."""

from __future__ import annotations

import codecs
import datetime
import hashlib
import re
import warnings
from pathlib import Path as FsPath
from typing import Any

from reconciler.desired.located import (  # re-exported: the loaders' shared data and limits
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    LocatedDocument,
    fail_at,
    key_problem,
    plain_scalar,
)
from reconciler.diagnostics import Diagnostic, InvalidDocument, Location, Path

# The parser names tokens by their YAML indicator; '?' is a key the user never typed.
_TOKEN_WORDS = {"found '?'": "found a mapping key", "found '-'": "found a list item",
                "'<block end>'": "the end of the block", "'<block mapping start>'":
                "a mapping", "'<block sequence start>'": "a list"}


def load_document(file: str | FsPath) -> LocatedDocument:
    """Parse one YAML document; any problem raises InvalidDocument with one located line."""
    name = str(file)
    raw = _read_bytes(FsPath(file), name)
    text = _decode(raw, name)
    from reconciler.desired.yamlfast import check_events, fast_document

    doc = fast_document(text, name)
    if doc is None:  # anything unusual: the round-trip parser decides and words every error
        # First a bounded pass over parser events: the limits hold while parsing (the
        # round-trip loader would build the whole file first), and keys, tags and dates
        # it would silently convert are refused where they are written.
        problems = check_events(text, name)
        if problems:
            raise InvalidDocument(problems)
        tree = _parse(text, name)
        doc = LocatedDocument(name, None)
        doc.data = _convert(tree, (), doc, [0], 0)
        doc.value_positions.setdefault((), (1, 1))
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        raise fail_at(name, 1, 1, f"expected a mapping with apiVersion, kind, cluster and "
                                f"nodePools at the top level, got {_kind_word(kind)}",
                      rule="schema/type")
    # From the very bytes parsed: a file swapped after reading cannot pass for this one.
    doc.digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    return doc


def _kind_word(kind: str) -> str:
    return {"empty": "an empty document", "list": "a list", "CommentedSeq": "a list",
            "str": "a string", "int": "a number", "float": "a number",
            "bool": "a boolean"}.get(kind, kind)


def _read_bytes(path: FsPath, name: str) -> bytes:
    """The file's bytes: a regular file of at most MAX_FILE_BYTES, read at most that far."""
    from reconciler.readfile import FileTooLarge, NotRegularFile, UnreadableFile, read_limited

    try:
        return read_limited(path, MAX_FILE_BYTES)
    except FileTooLarge:
        raise fail_at(name, 1, 1, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB;"
                      " a node pool file should be a few kilobytes",
                      rule="file/too-large") from None
    except NotRegularFile as exc:
        hint = "" if exc.kind == "a directory" else "; expected a YAML file"
        raise fail_at(name, 1, 1, exc.reason + hint, rule="file/unreadable") from None
    except UnreadableFile as exc:  # missing, or refused by the system (permissions, loops)
        raise fail_at(name, 1, 1, exc.reason, rule="file/unreadable") from None


_WIDE_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
              codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}


def _decode(raw: bytes, name: str) -> str:
    # UTF-32 marks first: the UTF-32-LE mark starts with the UTF-16-LE one.
    wide = next((enc for bom, enc in _WIDE_BOMS.items() if raw.startswith(bom)), None)
    if wide:
        raise fail_at(name, 1, 1, f"file is {wide} text; save it as UTF-8", rule="file/encoding")
    if b"\x00" in raw:
        line, col = _position_of(raw, raw.index(b"\x00"))
        raise fail_at(name, line, col, "file contains a NUL byte; is it a binary file?",
                      rule="file/encoding")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position_of(raw, exc.start)
        raise fail_at(name, line, col, "file is not valid UTF-8 text",
                      rule="file/encoding") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is harmless; accept it
    if not text.strip():
        raise fail_at(name, 1, 1, "file is empty; expected a NodePoolSet document",
                      rule="file/empty")
    return text


def _position_of(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character (not byte) column of a byte offset."""
    before = raw[:offset]
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace"))
    return before.count(b"\n") + 1, column + 1


def _parse(text: str, name: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt")
    try:
        with warnings.catch_warnings():
            # ruamel warns (a re-used anchor, legal YAML) with a snippet of the file, on
            # stderr and unlocated: never a file's content on the terminal.
            warnings.simplefilter("ignore")
            documents = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        raise fail_at(name, *yaml_error_position(exc), yaml_error_message(exc)) from None
    except ReaderError as exc:
        raise fail_at(name, *_text_position(text, exc.position),
                      yaml_error_message(exc)) from None
    except YAMLError as exc:
        raise fail_at(name, 1, 1, yaml_error_message(exc)) from None
    except RecursionError:
        raise fail_at(name, 1, 1, "document is nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # A constructor met a value it cannot build; its own words may quote the file.
        raise fail_at(name, 1, 1, f"invalid YAML: a value cannot be read"
                      f" ({type(exc).__name__})") from None
    if len(documents) > 1:
        raise fail_at(name, *_second_document_start(yaml, text), "file holds several YAML"
                    " documents; put one NodePoolSet per file")
    return documents[0] if documents else None


# -- YAML errors in words of our own -----------------------------------------------------
#
# ruamel's messages quote what they found (a character, an alias or tag name, the values
# of a duplicate key) and str(exc) adds a snippet of the line. An error about a file says
# where, never what: the file may not be a node pool file at all (a credentials file
# given by mistake, an --output that is another file). Quoted text is kept only when it
# is the parser's own vocabulary: token names such as '<block end>' and YAML indicators.

_QUOTED = re.compile(r"""\('((?:[^'\\]|\\.)*)',\)|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""")
_VOCABULARY = re.compile(r"<[a-z ]+>|[-\[\]{},:?!|>]")
_NAME = re.compile(r"[A-Za-z0-9_./-]{1,64}")
_DROPPED = "\x00"  # marks where quoted content was removed, while the message is reworded


# Errors about something left open (a quote, a bracket): the parser notices only where
# it gave up, often past the end of the file; where it was opened is what the user needs.
_LEFT_OPEN = ("while scanning a quoted scalar", "while parsing a flow sequence",
              "while parsing a flow mapping")


def _left_open(exc: Any) -> bool:
    return getattr(exc, "context_mark", None) is not None and \
        str(getattr(exc, "context", "") or "").strip() in _LEFT_OPEN


def yaml_error_position(exc: Any) -> tuple[int, int]:
    """The 1-based line and column a ruamel error points at (1:1 when it has no mark);
    for a quote or bracket never closed, where it was opened."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if _left_open(exc):
        mark = exc.context_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def yaml_error_message(exc: Any) -> str:
    """A ruamel error in fixed words: no character, name, value or snippet of the file.

    For any caller that reports a YAML error about a file (with yaml_error_position for
    where): never ``str(exc)``, which quotes the offending line.
    """
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.reader import ReaderError

    if isinstance(exc, ReaderError):  # the text is decoded already: a character YAML bars
        return "file contains a control character that YAML does not allow"
    if not isinstance(exc, MarkedYAMLError):
        return "invalid YAML"
    problem = str(exc.problem or "invalid YAML").strip()
    if "found duplicate key" in problem or "duplicate key" in str(exc.context or ""):
        # The key only, and only when it is a plain name; never its values.
        match = re.match(r'found duplicate key "([^"]*)" with value', problem)
        key = match[1] if match and _NAME.fullmatch(match[1]) else ""
        return f"duplicate key '{key}'" if key else "duplicate key"
    if "tab" in problem and "\\t" in problem or "found character '\\t'" in problem:
        return "tab characters cannot indent YAML; use spaces"
    problem = _without_content(problem)
    for token, words in _TOKEN_WORDS.items():
        problem = problem.replace(token, words)
    context = _without_content(str(exc.context or "").strip())
    if _left_open(exc):
        what = {"while scanning a quoted scalar": "quoted string",
                "while parsing a flow sequence": "[ list",
                "while parsing a flow mapping": "{ mapping"}[context]
        where = exc.problem_mark
        at = f" at {where.line + 1}:{where.column + 1}" if where is not None else ""
        found = "the file ends first" if "end of stream" in problem else f"{problem}{at}"
        return f"invalid YAML: the {what} opened here is not closed ({found})"
    return f"invalid YAML: {problem}" + (f" ({context})" if context else "")


def _without_content(text: str) -> str:
    """``text`` without quoted content from the file (the parser's vocabulary stays)."""
    def keep_vocabulary(match: re.Match[str]) -> str:
        inner = next(group for group in match.groups() if group is not None)
        return f"'{inner}'" if _VOCABULARY.fullmatch(inner) else _DROPPED

    text = _QUOTED.sub(keep_vocabulary, text)
    text = re.sub(f"[^\x20-\x7e{_DROPPED}]", "", text)  # nothing outside plain ASCII either
    if _DROPPED not in text:
        return text
    text = text.replace(f"found character {_DROPPED}", "found a character")
    text = text.replace(f"but found {_DROPPED}", "but found another character")
    text = re.sub(f"(?:for|of) the tag {_DROPPED}", "for this tag", text)
    text = text.replace(f"alias {_DROPPED}", "alias (no anchor of that name before it)")
    text = re.sub(f" ?{_DROPPED}", "", text)
    return re.sub(r"\s+", " ", text).strip() or "invalid YAML"


def _text_position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset into ``text``."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _second_document_start(yaml: Any, text: str) -> tuple[int, int]:
    from ruamel.yaml.events import DocumentStartEvent

    starts = [event.start_mark for event in yaml.parse(text)
              if isinstance(event, DocumentStartEvent)]
    mark = starts[1]
    return mark.line + 1, mark.column + 1


def _convert(node: Any, path: Path, doc: LocatedDocument, count: list[int], depth: int) -> Any:
    count[0] += 1
    if count[0] > MAX_NODES:
        loc = doc.location(path)
        raise fail_at(doc.file, loc.line, loc.column, f"document expands to more than {MAX_NODES}"
                    " values (YAML aliases?); refusing to read it", rule="yaml/limits")
    if depth > MAX_DEPTH:
        loc = doc.location(path)
        raise fail_at(doc.file, loc.line, loc.column, f"document is nested more than {MAX_DEPTH}"
                    " levels deep", rule="yaml/limits")
    if isinstance(node, dict):
        return _convert_mapping(node, path, doc, count, depth)
    if isinstance(node, list):
        out = []
        for index, item in enumerate(node):
            child = (*path, index)
            _record(doc.value_positions, child, getattr(node, "lc", None), "item", index)
            out.append(_convert(item, child, doc, count, depth + 1))
        return out
    value = plain_scalar(node)
    if value is not None and type(value) not in (bool, int, float, str):
        # The event pass refuses these first, worded from the text; this keeps any that
        # slip past from reaching the schema as something else.
        raise InvalidDocument([Diagnostic(doc.location(path), path, _not_plain(value),
                                          rule="yaml/tagged-value")])
    return value


def _not_plain(value: Any) -> str:
    if isinstance(value, datetime.date):
        return "is a date; quote it to make it a string"
    return "is not a plain value (a YAML tag, a set or binary data?); write a plain value"


def _convert_mapping(node: dict, path: Path, doc: LocatedDocument, count: list[int],
                     depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lc = getattr(node, "lc", None)
    if not path and lc is not None:
        doc.value_positions[()] = (lc.line + 1, lc.col + 1)
    for key in node:
        name = key if isinstance(key, str) else plain_scalar(key)  # !!str 1: text all the same
        if not isinstance(name, str):  # the event pass refuses these first, as written
            raise InvalidDocument([Diagnostic(_key_location(doc, path, lc, key), path,
                                              key_problem(_key_text(key), _key_kind(key)),
                                              rule="yaml/key")])
        if name in out:  # "1" and !!str 1: one key written twice
            shown = f" '{name}'" if _NAME.fullmatch(name) else ""
            raise InvalidDocument([Diagnostic(_key_location(doc, path, lc, key), path,
                                              f"duplicate key{shown}",
                                              rule="yaml/duplicate-key")])
        child = (*path, name)
        _record(doc.key_positions, child, lc, "key", key)
        _record(doc.value_positions, child, lc, "value", key)
        out[name] = _convert(node[key], child, doc, count, depth + 1)
    return out


def _key_location(doc: LocatedDocument, path: Path, lc: Any, key: Any) -> Location:
    try:
        line, col = lc.key(key)
    except (AttributeError, KeyError, IndexError, TypeError):
        return doc.location(path)
    return Location(doc.file, line + 1, col + 1)


def _key_kind(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool) or type(key).__name__ == "ScalarBoolean":
        return "a boolean"
    if isinstance(key, int | float):
        return "a number"
    if isinstance(key, datetime.date):
        return "a date"
    if isinstance(key, tuple) or type(key).__name__ == "CommentedKeySeq":
        return "a list"
    if isinstance(key, dict) or type(key).__name__ == "CommentedKeyMap":
        return "a mapping"
    return "not a string"


def _key_text(key: Any) -> str:
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _record(table: dict[Path, tuple[int, int]], path: Path, lc: Any, kind: str, key: Any) -> None:
    if lc is None:
        return
    try:
        line, col = getattr(lc, kind)(key)
    except (KeyError, IndexError, TypeError):
        return
    table.setdefault(path, (line + 1, col + 1))

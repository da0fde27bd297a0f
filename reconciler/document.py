"""Read a YAML file into plain data while keeping where every key and value came from."""

from __future__ import annotations

import codecs
import datetime
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from reconciler.diagnostics import Diagnostic, InvalidDocument, Location, Path

MAX_FILE_BYTES = 1024 * 1024  # a 100-pool file is ~15 KB; far larger is a mistake or an attack
MAX_NODES = 100_000  # bounds alias expansion ("billion laughs")
MAX_DEPTH = 64
# The parser names tokens by their YAML indicator; '?' is a key the user never typed.
_TOKEN_WORDS = {"found '?'": "found a mapping key", "found '-'": "found a list item",
                "'<block end>'": "the end of the block", "'<block mapping start>'":
                "a mapping", "'<block sequence start>'": "a list"}


@dataclass
class LocatedDocument:
    """Plain data (dicts, lists, scalars) plus the 1-based position of each key and value."""

    file: str
    data: Any
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    value_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: Path, *, key: bool = False) -> Location:
        """Where ``path`` is written; falls back to the nearest enclosing node."""
        probe = tuple(path)
        while probe:
            if key and probe in self.key_positions:
                return Location(self.file, *self.key_positions[probe])
            if probe in self.value_positions:  # list items have no key: their value is it
                return Location(self.file, *self.value_positions[probe])
            probe = probe[:-1]
        return Location(self.file, *self.value_positions.get((), (1, 1)))


def load_document(file: str | FsPath) -> LocatedDocument:
    """Parse one YAML document; any problem raises InvalidDocument with one located line."""
    name = str(file)
    raw = _read_bytes(FsPath(file), name)
    text = _decode(raw, name)
    from reconciler.yamlfast import fast_document

    doc = fast_document(text, name)
    if doc is None:  # anything unusual: the round-trip parser decides and words every error
        tree = _parse(text, name)
        doc = LocatedDocument(name, None)
        doc.data = _convert(tree, (), doc, [0], 0)
        doc.value_positions.setdefault((), (1, 1))
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        raise fail_at(name, 1, 1, f"expected a mapping with apiVersion, kind, cluster and "
                                f"nodePools at the top level, got {_kind_word(kind)}")
    return doc


def fail_at(file: str, line: int, column: int, message: str) -> InvalidDocument:
    """One located diagnostic as the error to raise."""
    return InvalidDocument([Diagnostic(Location(file, line, column), (), message)])


def _kind_word(kind: str) -> str:
    return {"empty": "an empty document", "list": "a list", "CommentedSeq": "a list",
            "str": "a string", "int": "a number", "float": "a number",
            "bool": "a boolean"}.get(kind, kind)


def _read_bytes(path: FsPath, name: str) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise fail_at(name, 1, 1, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB;"
                                    " a node pool file should be a few kilobytes")
        return path.read_bytes()
    except IsADirectoryError:
        raise fail_at(name, 1, 1, "is a directory, not a file") from None
    except FileNotFoundError:
        raise fail_at(name, 1, 1, "no such file") from None
    except OSError as exc:
        raise fail_at(name, 1, 1, f"cannot read file: {exc.strerror}") from None


_WIDE_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32",
              codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}


def _decode(raw: bytes, name: str) -> str:
    # UTF-32 marks first: the UTF-32-LE mark starts with the UTF-16-LE one.
    wide = next((enc for bom, enc in _WIDE_BOMS.items() if raw.startswith(bom)), None)
    if wide:
        raise fail_at(name, 1, 1, f"file is {wide} text; save it as UTF-8")
    if b"\x00" in raw:
        line, col = _position_of(raw, raw.index(b"\x00"))
        raise fail_at(name, line, col, "file contains a NUL byte; is it a binary file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position_of(raw, exc.start)
        raise fail_at(name, line, col, "file is not valid UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is harmless; accept it
    if not text.strip():
        raise fail_at(name, 1, 1, "file is empty; expected a NodePoolSet document")
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

    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = _yaml_message(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise fail_at(name, line, col, message) from None
    except YAMLError as exc:
        raise fail_at(name, 1, 1, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise fail_at(name, 1, 1, "document is nested too deeply") from None
    if len(documents) > 1:
        raise fail_at(name, *_second_document_start(yaml, text), "file holds several YAML"
                    " documents; put one NodePoolSet per file")
    return documents[0] if documents else None


def _yaml_message(exc: Any) -> str:
    problem = (exc.problem or "invalid YAML").strip()
    if "found duplicate key" in problem or "duplicate key" in str(exc.context or ""):
        key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else ""
        return f"duplicate key '{key}'" if key else "duplicate key"
    if "tab" in problem and "\\t" in problem or "found character '\\t'" in problem:
        return "tab characters cannot indent YAML; use spaces"
    for token, words in _TOKEN_WORDS.items():
        problem = problem.replace(token, words)
    context = (exc.context or "").strip()
    return f"invalid YAML: {problem}" + (f" ({context})" if context else "")


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
                    " values (YAML aliases?); refusing to read it")
    if depth > MAX_DEPTH:
        loc = doc.location(path)
        raise fail_at(doc.file, loc.line, loc.column, f"document is nested more than {MAX_DEPTH}"
                    " levels deep")
    if isinstance(node, dict):
        return _convert_mapping(node, path, doc, count, depth)
    if isinstance(node, list):
        out = []
        for index, item in enumerate(node):
            child = (*path, index)
            _record(doc.value_positions, child, getattr(node, "lc", None), "item", index)
            out.append(_convert(item, child, doc, count, depth + 1))
        return out
    return plain_scalar(node)


def _convert_mapping(node: dict, path: Path, doc: LocatedDocument, count: list[int],
                     depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lc = getattr(node, "lc", None)
    if not path and lc is not None:
        doc.value_positions[()] = (lc.line + 1, lc.col + 1)
    for key in node:
        name = key if isinstance(key, str) else str(plain_scalar(key))
        child = (*path, name)
        _record(doc.key_positions, child, lc, "key", key)
        _record(doc.value_positions, child, lc, "value", key)
        out[name] = _convert(node[key], child, doc, count, depth + 1)
    return out


def _record(table: dict[Path, tuple[int, int]], path: Path, lc: Any, kind: str, key: Any) -> None:
    if lc is None:
        return
    try:
        line, col = getattr(lc, kind)(key)
    except (KeyError, IndexError, TypeError):
        return
    table.setdefault(path, (line + 1, col + 1))


def plain_scalar(value: Any) -> Any:
    """ruamel's scalar subclasses as plain Python values."""
    if value is None or isinstance(value, bool):
        return value
    if type(value).__name__ == "ScalarBoolean":  # an anchored boolean is an int subclass
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


# -- the fast path ----------------------------------------------------------------------
#

"""Read a YAML file into plain data while keeping where every key and value came from."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from types import SimpleNamespace
from typing import Any

from reconciler.diagnostics import Diagnostic, InvalidDocument, Location, Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # a 100-pool file is ~15 KB; far larger is a mistake or an attack
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
    doc = _fast_document(text, name)
    if doc is None:  # anything unusual: the round-trip parser decides and words every error
        tree = _parse(text, name)
        doc = LocatedDocument(name, None)
        doc.data = _convert(tree, (), doc, [0], 0)
        doc.value_positions.setdefault((), (1, 1))
    if not isinstance(doc.data, dict):
        kind = "empty" if doc.data is None else type(doc.data).__name__
        raise _fail(name, 1, 1, f"expected a mapping with apiVersion, kind, cluster and "
                                f"nodePools at the top level, got {_kind_word(kind)}")
    return doc


def _fail(file: str, line: int, column: int, message: str) -> InvalidDocument:
    return InvalidDocument([Diagnostic(Location(file, line, column), (), message)])


def _kind_word(kind: str) -> str:
    return {"empty": "an empty document", "list": "a list", "CommentedSeq": "a list",
            "str": "a string", "int": "a number", "float": "a number",
            "bool": "a boolean"}.get(kind, kind)


def _read_bytes(path: FsPath, name: str) -> bytes:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _fail(name, 1, 1, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB;"
                                    " a node pool file should be a few kilobytes")
        return path.read_bytes()
    except IsADirectoryError:
        raise _fail(name, 1, 1, "is a directory, not a file") from None
    except FileNotFoundError:
        raise _fail(name, 1, 1, "no such file") from None
    except OSError as exc:
        raise _fail(name, 1, 1, f"cannot read file: {exc.strerror}") from None


def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw:
        line, col = _position_of(raw, raw.index(b"\x00"))
        raise _fail(name, line, col, "file contains a NUL byte; is it a binary file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _position_of(raw, exc.start)
        raise _fail(name, line, col, "file is not valid UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is harmless; accept it
    if not text.strip():
        raise _fail(name, 1, 1, "file is empty; expected a NodePoolSet document")
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
        raise _fail(name, line, col, message) from None
    except YAMLError as exc:
        raise _fail(name, 1, 1, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise _fail(name, 1, 1, "document is nested too deeply") from None
    if len(documents) > 1:
        raise _fail(name, *_second_document_start(yaml, text), "file holds several YAML"
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
        raise _fail(doc.file, loc.line, loc.column, f"document expands to more than {MAX_NODES}"
                    " values (YAML aliases?); refusing to read it")
    if depth > MAX_DEPTH:
        loc = doc.location(path)
        raise _fail(doc.file, loc.line, loc.column, f"document is nested more than {MAX_DEPTH}"
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
    return _scalar(node)


def _convert_mapping(node: dict, path: Path, doc: LocatedDocument, count: list[int],
                     depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lc = getattr(node, "lc", None)
    if not path and lc is not None:
        doc.value_positions[()] = (lc.line + 1, lc.col + 1)
    for key in node:
        name = key if isinstance(key, str) else str(_scalar(key))
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


def _scalar(value: Any) -> Any:
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
# ruamel's round-trip loader keeps comments and costs ~2 ms per pool; a 100-pool file
# took longer to parse than everything else together. The fast path composes the same
# plain data and positions straight from parser events (libyaml's C parser when
# ruamel.yaml.clibz is installed, else ruamel's pure parser without comment handling),
# resolving scalars as YAML 1.2 and constructing them with the round-trip constructor,
# so values are identical. It gives up (None) on everything it does not need: parse
# errors, several documents, directives, tags, anchors and aliases, merge keys, keys
# that are not strings or are repeated, empty values, tabs and unusual characters (where
# the parsers place or accept things differently), limits; the round-trip path then
# handles the file. tests/test_performance_properties.py checks both paths agree.

_PLAIN_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_CONSTRUCTED = frozenset({"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                          "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"})


class _GiveUp(Exception):
    """The fast path met something it leaves to the round-trip parser."""


# Printable characters the parsers treat alike: no tab, carriage return, byte-order mark,
# Unicode line break (NEL, LS, PS) or control character; those are left to the careful path.
_ORDINARY_TEXT = re.compile("[\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe"
                            "\uff00-\ufffd\U00010000-\U0010ffff]*")


def _fast_document(text: str, name: str) -> LocatedDocument | None:
    """The document from parser events, or None when the round-trip path must decide."""
    if not _ORDINARY_TEXT.fullmatch(text):
        return None
    try:
        return _FastComposer(name).compose(_events(text))
    except Exception:  # noqa: BLE001 - any parser error is worded by the round-trip path
        return None


def _events(text: str) -> Iterator[Any]:
    """Parser events: libyaml (C) when ruamel.yaml.clibz is installed, else pure Python."""
    try:
        from _ruamel_yaml_clibz import CParser
    except ImportError:
        from ruamel.yaml import YAML

        yield from YAML(typ="safe", pure=True).parse(text)
        return
    parser = CParser(text)
    while (event := parser.get_event()) is not None:
        yield event


class _FastComposer:
    """Plain data and 1-based positions from one stream of events, without recursion."""

    def __init__(self, name: str) -> None:
        from ruamel.yaml.nodes import ScalarNode
        from ruamel.yaml.resolver import VersionedResolver

        self.doc = LocatedDocument(name, None)
        # No %YAML directive (those give up): YAML 1.2, as the round-trip loader resolves.
        # The stand-in loader only spares the resolver an exception per scalar.
        no_directive = SimpleNamespace(_scanner=SimpleNamespace(yaml_version=None))
        self.resolver = VersionedResolver(loadumper=no_directive)
        self.tags: dict[tuple[str, Any], tuple[str, Any]] = {}  # resolution is pure: cache it
        self.scalar_node = ScalarNode
        self.constructor: Any = None
        self.count = 0

    def compose(self, events: Iterator[Any]) -> LocatedDocument:
        from ruamel.yaml import events as ev

        head = [next(events), next(events), next(events)]
        start, root = head[1], head[2]
        if type(start) is not ev.DocumentStartEvent or start.version or start.tags \
                or type(root) is not ev.MappingStartEvent:
            raise _GiveUp
        self._check_node(root, 0)
        self.doc.value_positions[()] = _mark(root)
        self.doc.data = self._fill(events, {}, (), 0, ev)
        tail = [type(event) for event in events]
        if tail != [ev.DocumentEndEvent, ev.StreamEndEvent]:
            raise _GiveUp  # another document follows: the round-trip path says where
        return self.doc

    def _fill(self, events: Iterator[Any], root: dict[str, Any], root_path: Path, depth: int,
              ev: Any) -> dict[str, Any]:
        # One frame per open mapping or list: (container, its path, its depth, its keys).
        stack: list[tuple[Any, Path, int, set[str]]] = [(root, root_path, depth, set())]
        key_event: Any = None
        for event in events:
            container, path, level, keys = stack[-1]
            kind = type(event)
            if kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                stack.pop()
                if not stack:
                    return root
                continue
            if type(container) is dict and key_event is None:
                if kind is not ev.ScalarEvent:
                    raise _GiveUp  # a mapping or list as a key
                key_event = event
                continue
            if type(container) is dict:
                key = self._key(key_event, keys)
                child: Path = (*path, key)
                self.doc.key_positions.setdefault(child, _mark(key_event))
                key_event = None
            else:
                child = (*path, len(container))
            self.doc.value_positions.setdefault(child, _mark(event))
            self._check_node(event, level + 1)
            if kind is ev.ScalarEvent:
                value: Any = self._scalar(event)
            elif kind is ev.MappingStartEvent:
                value = {}
                stack.append((value, child, level + 1, set()))
            elif kind is ev.SequenceStartEvent:
                value = []
                stack.append((value, child, level + 1, set()))
            else:
                raise _GiveUp  # an alias
            if type(container) is dict:
                container[child[-1]] = value
            else:
                container.append(value)
        raise _GiveUp

    def _check_node(self, event: Any, depth: int) -> None:
        """The round-trip path's limits, and no anchors or explicit tags."""
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH or event.anchor is not None \
                or getattr(event, "tag", None) is not None:
            raise _GiveUp

    def _key(self, event: Any, seen: set[str]) -> str:
        if event.anchor is not None or event.tag is not None:
            raise _GiveUp
        key = self._scalar(event)
        if not isinstance(key, str) or key in seen:
            raise _GiveUp  # a number or date as a key, or a duplicate: the careful path knows
        seen.add(key)
        return key

    def _scalar(self, event: Any) -> Any:
        if event.value == "" and event.implicit[0]:
            raise _GiveUp  # where an empty value "is" differs between parsers (and comments)
        tag, resolved = self._resolve(event.value, event.implicit)
        if tag == _PLAIN_STR:
            return event.value
        if tag == _NULL:
            return None
        if tag not in _CONSTRUCTED:
            raise _GiveUp  # merge keys, binary, sets...: the round-trip path knows them
        if self.constructor is None:
            from ruamel.yaml import YAML

            self.constructor = YAML(typ="rt").constructor
        node = self.scalar_node(resolved, event.value, event.start_mark, event.end_mark,
                                style=event.style or None)
        return _scalar(self.constructor.construct_object(node))

    def _resolve(self, value: str, implicit: Any) -> tuple[str, Any]:
        """The tag as a string (a ruamel Tag hashes unlike its string) and as a Tag."""
        cache_key = (value, implicit)
        if cache_key not in self.tags:
            resolved = self.resolver.resolve(self.scalar_node, value, implicit)
            self.tags[cache_key] = (str(resolved), resolved)
        return self.tags[cache_key]


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1

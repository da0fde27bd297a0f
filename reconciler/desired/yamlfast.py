"""The fast path of document loading: plain data and positions from parser events.

ruamel's round-trip loader keeps comments and costs ~2 ms per pool; a 100-pool file
took longer to parse than everything else together. The fast path composes the same
plain data and positions straight from parser events (libyaml's C parser when
ruamel.yaml.clibz is installed, else ruamel's pure parser without comment handling),
resolving scalars as YAML 1.2 and constructing them with the round-trip constructor,
so values are identical. It gives up (None) on everything it does not need: parse
errors, several documents, directives, tags, anchors and aliases, merge keys, keys
that are not strings or are repeated, dates, empty values, tabs and unusual characters
(where the parsers place or accept things differently), limits; the round-trip path then
handles the file. tests/test_performance_properties.py checks both paths agree. CRLF line
ends stay on the fast path: YAML reads every CRLF line break as LF (in scalars too), so
the text with "\r\n" as "\n" has the same values at the same lines and columns; a lone
"\r" still goes to the careful path.

Kept for the start-up target (benchmarks/run.py --only startup [--without yamlfast],
2026-12-02, busy machine, median of 3): `reconciler validate` of 100 pools takes 1.13x
`import click, ruamel.yaml, jsonschema` with this path and 3.1x when every file takes
the round-trip path; the target is 1.3x.

Before the round-trip path loads a file, ``check_events`` makes one bounded pass over the
same events (libyaml's; the pure parser's decide when libyaml fails or finds something to
refuse): the node-count and depth limits are enforced while parsing, counting an alias as
the size of the node it names (the round-trip loader would otherwise build all of a 1 MiB
file, hundreds of MB, before any limit is checked), and what the loader would silently
convert is refused where it is written: keys that are not strings, unquoted dates, and
tags other than the plain ones (!!binary, !!set, !!omap, custom tags).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import suppress
from types import SimpleNamespace
from typing import Any

from reconciler.desired.located import (
    MAX_DEPTH,
    MAX_NODES,
    LocatedDocument,
    fail_at,
    key_problem,
    plain_scalar,
)
from reconciler.diagnostics import Diagnostic, InvalidDocument, Location, Path

_CORE = "tag:yaml.org,2002:"
_PLAIN_STR = _CORE + "str"
_NULL = _CORE + "null"
_TIMESTAMP = _CORE + "timestamp"
_CONSTRUCTED = frozenset({_CORE + "bool", _CORE + "int", _CORE + "float"})
# What a key that is not a string is, by its tag (the YAML 1.2 core schema, and 1.1's).
_KEY_KINDS = {_CORE + "int": "a number", _CORE + "float": "a number",
              _CORE + "bool": "a boolean", _NULL: "null", _TIMESTAMP: "a date"}
_COLLECTION_TAGS = frozenset({_CORE + "map", _CORE + "seq"})
_SCALAR_TAGS = frozenset({_PLAIN_STR, *_CONSTRUCTED, _NULL})  # !!str, !!int, ... as written
# Tags named in messages; any other is text from the file, and is not repeated.
_KNOWN_TAGS = frozenset(_CORE + name for name in ("binary", "set", "omap", "pairs",
                                                  "timestamp", "merge", "value", "yaml"))


class _GiveUp(Exception):
    """The fast path met something it leaves to the round-trip parser."""


# Printable characters the parsers treat alike: no tab, carriage return, byte-order mark,
# Unicode line break (NEL, LS, PS) or control character; those are left to the careful path.
_ORDINARY_TEXT = re.compile("[\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe"
                            "\uff00-\ufffd\U00010000-\U0010ffff]*")


# A block scalar header touching a comment (``|#``): libyaml reads it, ruamel refuses it.
_BLOCK_HEADER_COMMENT = re.compile(r"[|>][-+0-9]*#")


def fast_document(text: str, name: str) -> LocatedDocument | None:
    """The document from parser events, or None when the round-trip path must decide."""
    if "\r" in text:
        text = text.replace("\r\n", "\n")  # same values and positions; a lone \r stays
    if not _ORDINARY_TEXT.fullmatch(text) or _BLOCK_HEADER_COMMENT.search(text):
        return None
    try:
        return _FastComposer(name).compose(_events(text))
    except InvalidDocument:
        raise  # a limit was crossed: say so now, without parsing the rest a second time
    except Exception:  # noqa: BLE001 - any parser error is worded by the round-trip path
        return None


def _events(text: str, *, pure: bool = False) -> Iterator[Any]:
    """Parser events: libyaml (C) when ruamel.yaml.clibz is installed, else pure Python."""
    parser_class = None if pure else _c_parser()
    if parser_class is None:
        from ruamel.yaml import YAML

        yield from YAML(typ="safe", pure=True).parse(text)
        return
    parser = parser_class(text)
    while (event := parser.get_event()) is not None:
        yield event


def _c_parser() -> Any:
    try:
        from _ruamel_yaml_clibz import CParser
    except ImportError:
        return None
    return CParser


class _Resolution:
    """Implicit tags as the round-trip loader resolves them (YAML 1.2 unless a %YAML
    directive says 1.1), as strings (a ruamel Tag hashes unlike its string) and as Tags."""

    def __init__(self) -> None:
        from ruamel.yaml.nodes import ScalarNode
        from ruamel.yaml.resolver import VersionedResolver

        # The stand-in loader only spares the resolver an exception per scalar.
        self.scanner = SimpleNamespace(yaml_version=None)
        self.resolver = VersionedResolver(loadumper=SimpleNamespace(_scanner=self.scanner))
        self.scalar_node = ScalarNode
        self.cache: dict[tuple[Any, str, Any], tuple[str, Any]] = {}  # resolution is pure
        self.starts: dict[Any, frozenset[str] | None] = {}  # by version: see resolve
        self.plain = (str(self.resolver.DEFAULT_SCALAR_TAG), self.resolver.DEFAULT_SCALAR_TAG)

    def set_version(self, version: Any) -> None:
        self.scanner.yaml_version = version

    def resolve(self, value: str, implicit: Any) -> tuple[str, Any]:
        version = self.scanner.yaml_version
        if version not in self.starts:
            # The implicit resolvers are keyed by first character (None: any character).
            keys = self.resolver.versioned_resolver.keys()
            self.starts[version] = None if None in keys else frozenset(keys)
        starts = self.starts[version]
        if implicit[0] and value and starts is not None and value[0] not in starts:
            return self.plain  # no implicit type starts so: a string, without a regexp
        cache_key = (version, value, implicit)
        if cache_key not in self.cache:
            resolved = self.resolver.resolve(self.scalar_node, value, implicit)
            self.cache[cache_key] = (str(resolved), resolved)
        return self.cache[cache_key]


class _FastComposer:
    """Plain data and 1-based positions from one stream of events, without recursion."""

    def __init__(self, name: str) -> None:
        from ruamel.yaml.nodes import ScalarNode

        self.doc = LocatedDocument(name, None)
        # No %YAML directive (those give up): YAML 1.2, as the round-trip loader resolves.
        self.resolution = _Resolution()
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
        if self.count > MAX_NODES:
            raise fail_at(self.doc.file, *_mark(event), f"document has more than {MAX_NODES}"
                          " values; a node pool file has a few thousand at most",
                          rule="yaml/limits")
        if depth > MAX_DEPTH:
            raise fail_at(self.doc.file, *_mark(event), f"document is nested more than"
                          f" {MAX_DEPTH} levels deep", rule="yaml/limits")
        if event.anchor is not None or getattr(event, "tag", None) is not None:
            raise _GiveUp

    def _key(self, event: Any, seen: set[str]) -> str:
        if event.anchor is not None or event.tag is not None:
            raise _GiveUp
        key = self._scalar(event)
        if not isinstance(key, str) or key in seen:
            raise _GiveUp  # a number or date as a key, or a duplicate: the careful path says
        seen.add(key)
        return key

    def _scalar(self, event: Any) -> Any:
        if event.value == "" and event.implicit[0]:
            raise _GiveUp  # where an empty value "is" differs between parsers (and comments)
        tag, resolved = self.resolution.resolve(event.value, event.implicit)
        if tag == _PLAIN_STR:
            return event.value
        if tag == _NULL:
            return None
        if tag not in _CONSTRUCTED:
            raise _GiveUp  # merge keys, dates...: the careful path merges or refuses them
        if self.constructor is None:
            from ruamel.yaml import YAML

            self.constructor = YAML(typ="rt").constructor
        node = self.scalar_node(resolved, event.value, event.start_mark, event.end_mark,
                                style=event.style or None)
        return plain_scalar(self.constructor.construct_object(node))


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1


# -- the bounded pass before the round-trip load -----------------------------------------


def check_events(text: str, name: str) -> list[Diagnostic]:
    """One bounded pass over the parser events of ``text`` before the round-trip load.

    Raises InvalidDocument where the value or depth limit is crossed (an alias counts as
    the values of the node it names). Returns the keys, tags and dates the round-trip
    loader would silently convert, each located where it is written, from the first
    document (the round-trip path words anything else: several documents, undefined
    aliases, duplicate keys).

    libyaml's events make the pass fast. When libyaml cannot parse the text, or finds
    something to refuse, the pure parser's events decide, since the round-trip loader
    uses that parser (the two may place things differently around unusual characters);
    when neither parses it, nothing is returned and the round-trip path words the parse
    error, within the limits: its parser stops at the same point.
    """
    if _c_parser() is not None:
        try:
            if not _EventCheck(name).run(_events(text)):
                return []
        except InvalidDocument:
            raise
        except Exception:  # noqa: BLE001 - a parse error: the pure parser decides
            pass
    try:
        return _EventCheck(name).run(_events(text, pure=True))
    except InvalidDocument:
        raise
    except Exception:  # noqa: BLE001 - the round-trip path words the parse error
        return []


MAX_PROBLEMS = 100  # keys, dates and tags listed; a file with more is not a pool file


class _Enough(Exception):
    """MAX_PROBLEMS were found: stop reading."""


# A frame per open mapping or list: [is mapping, path, depth, count before it, anchor,
# height of its deepest child, expecting a key, current key, next index].
_IS_MAP, _PATH, _DEPTH, _START, _ANCHOR, _HEIGHT, _EXPECT_KEY, _KEY, _INDEX = range(9)


class _EventCheck:
    """Counts values (aliases expanded), measures depth, notes silent conversions."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.resolution = _Resolution()
        self.count = 0
        self.anchors: dict[str, tuple[int, int]] = {}  # name -> (values, height)
        self.problems: list[Diagnostic] = []
        self.documents = 0

    def run(self, events: Iterator[Any]) -> list[Diagnostic]:
        from ruamel.yaml import events as ev

        with suppress(_Enough):
            self._walk(events, [], ev)
        return self.problems

    def _walk(self, events: Iterator[Any], frames: list[list[Any]], ev: Any) -> None:
        scalar, alias = ev.ScalarEvent, ev.AliasEvent
        mapping_start, sequence_start = ev.MappingStartEvent, ev.SequenceStartEvent
        mapping_end, sequence_end = ev.MappingEndEvent, ev.SequenceEndEvent
        for event in events:
            kind = type(event)
            if kind is mapping_end or kind is sequence_end:
                self._close(frames)
                continue
            if kind is ev.DocumentStartEvent:
                self.documents += 1
                self.anchors = {}  # anchors are per document
                self.resolution.set_version(event.version)
                continue
            if kind is not scalar and kind is not alias and kind is not mapping_start \
                    and kind is not sequence_start:
                continue  # stream and document ends
            parent = frames[-1] if frames else None
            if parent is not None and parent[_IS_MAP] and parent[_EXPECT_KEY]:
                parent[_EXPECT_KEY] = False
                self._key(event, parent, frames)
                continue
            if parent is None:
                path: Path = ()
                depth = 0
            elif parent[_IS_MAP]:
                parent[_EXPECT_KEY] = True
                path, depth = (*parent[_PATH], parent[_KEY]), parent[_DEPTH] + 1
            else:
                path, depth = (*parent[_PATH], parent[_INDEX]), parent[_DEPTH] + 1
                parent[_INDEX] += 1
            if kind is alias:
                size, height = self.anchors.get(event.anchor, (1, 1))
            else:
                size, height = 1, 1
            self.count += size
            if self.count > MAX_NODES:
                expands = " (YAML aliases?); refusing to read it" if kind is alias else \
                    "; a node pool file has a few thousand at most"
                raise fail_at(self.name, *_mark(event),
                              f"document {'expands to' if kind is alias else 'has'} more"
                              f" than {MAX_NODES} values{expands}", rule="yaml/limits")
            if depth + height - 1 > MAX_DEPTH:
                raise fail_at(self.name, *_mark(event), f"document is nested more than"
                              f" {MAX_DEPTH} levels deep", rule="yaml/limits")
            if kind is scalar:
                self._value(event, path)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (1, 1)
            elif kind is not alias:
                self._tag_of_collection(event, path)
                frames.append([kind is mapping_start, path, depth, self.count - 1,
                               event.anchor, 0, True, None, 0])
                continue
            if parent is not None and parent[_HEIGHT] < height:
                parent[_HEIGHT] = height

    def _close(self, frames: list[list[Any]]) -> None:
        frame = frames.pop()
        height = frame[_HEIGHT] + 1
        if frame[_ANCHOR] is not None:
            self.anchors[frame[_ANCHOR]] = (self.count - frame[_START], height)
        if frames and frames[-1][_HEIGHT] < height:
            frames[-1][_HEIGHT] = height

    def _key(self, event: Any, parent: list[Any], frames: list[list[Any]]) -> None:
        kind = type(event).__name__
        if kind == "AliasEvent":
            parent[_KEY] = f"*{event.anchor}"
            return
        if kind != "ScalarEvent":  # a mapping or list as a key; its values still count
            is_map = kind == "MappingStartEvent"
            self._problem(event, parent[_PATH], key_problem("", "a mapping" if is_map
                                                            else "a list"), "yaml/key")
            frames.append([is_map, parent[_PATH], parent[_DEPTH] + 1, self.count,
                           event.anchor, 0, True, None, 0])
            parent[_KEY] = "?"
            return
        parent[_KEY] = event.value
        if event.anchor is not None:
            self.anchors[event.anchor] = (1, 1)
        tag = self._scalar_tag(event, parent[_PATH])
        if tag in _KEY_KINDS:
            self._problem(event, parent[_PATH], key_problem(event.value, _KEY_KINDS[tag]),
                          "yaml/key")

    def _value(self, event: Any, path: Path) -> None:
        if self._scalar_tag(event, path) == _TIMESTAMP:
            self._problem(event, path, f"{_shown(event.value)} is a date; quote it"
                          f" ({json.dumps(_shown(event.value))})")

    def _scalar_tag(self, event: Any, path: Path) -> str | None:
        """The scalar's tag as the loader would read it; None after a refused tag."""
        tag = event.tag
        if tag is None:
            return self.resolution.resolve(event.value, event.implicit)[0] \
                if event.implicit[0] else _PLAIN_STR
        tag = str(tag)
        if tag not in _SCALAR_TAGS:
            self._problem(event, path, _tag_problem(tag, "value"))
            return None
        implicit = self.resolution.resolve(event.value, (True, False))[0]
        if tag not in (_PLAIN_STR, _NULL) and implicit != tag:
            # !!int abc: the constructor would fail on it (or quote it in its error).
            self._problem(event, path, f"the {_short(tag)} tag does not fit this value;"
                          " remove the tag")
            return None
        return tag

    def _tag_of_collection(self, event: Any, path: Path) -> None:
        if event.tag is not None and str(event.tag) not in _COLLECTION_TAGS:
            self._problem(event, path, _tag_problem(str(event.tag), "list or mapping"))

    def _problem(self, event: Any, path: Path, message: str,
                 rule: str = "yaml/tagged-value") -> None:
        if self.documents > 1:  # a second document is refused as such
            return
        if len(self.problems) == MAX_PROBLEMS:
            message += f"; more follow (only the first {MAX_PROBLEMS + 1} are listed)"
        self.problems.append(Diagnostic(Location(self.name, *_mark(event)), path, message,
                                        rule=rule))
        if len(self.problems) > MAX_PROBLEMS:
            raise _Enough


def _tag_problem(tag: str, what: str) -> str:
    if tag in _KNOWN_TAGS:
        return f"the {_short(tag)} tag is not supported; write a plain {what}"
    return f"YAML tags like this one are not supported; write a plain {what}"


def _short(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _shown(written: str) -> str:
    return written if len(written) <= 40 else written[:40] + "..."

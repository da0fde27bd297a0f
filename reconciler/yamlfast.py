"""The fast path of document loading: plain data and positions from parser events.

ruamel's round-trip loader keeps comments and costs ~2 ms per pool; a 100-pool file
took longer to parse than everything else together. The fast path composes the same
plain data and positions straight from parser events (libyaml's C parser when
ruamel.yaml.clibz is installed, else ruamel's pure parser without comment handling),
resolving scalars as YAML 1.2 and constructing them with the round-trip constructor,
so values are identical. It gives up (None) on everything it does not need: parse
errors, several documents, directives, tags, anchors and aliases, merge keys, keys
that are not strings or are repeated, empty values, tabs and unusual characters (where
the parsers place or accept things differently), limits; the round-trip path then
handles the file. tests/test_performance_properties.py checks both paths agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

from reconciler.diagnostics import InvalidDocument, Path
from reconciler.document import MAX_DEPTH, MAX_NODES, LocatedDocument, fail_at, plain_scalar

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


def fast_document(text: str, name: str) -> LocatedDocument | None:
    """The document from parser events, or None when the round-trip path must decide."""
    if not _ORDINARY_TEXT.fullmatch(text):
        return None
    try:
        return _FastComposer(name).compose(_events(text))
    except InvalidDocument:
        raise  # a limit was crossed: say so now, without parsing the rest a second time
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
        if self.count > MAX_NODES:
            raise fail_at(self.doc.file, *_mark(event), f"document has more than {MAX_NODES}"
                          " values; a node pool file has a few thousand at most")
        if depth > MAX_DEPTH:
            raise fail_at(self.doc.file, *_mark(event), f"document is nested more than"
                          f" {MAX_DEPTH} levels deep")
        if event.anchor is not None or getattr(event, "tag", None) is not None:
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
        return plain_scalar(self.constructor.construct_object(node))

    def _resolve(self, value: str, implicit: Any) -> tuple[str, Any]:
        """The tag as a string (a ruamel Tag hashes unlike its string) and as a Tag."""
        cache_key = (value, implicit)
        if cache_key not in self.tags:
            resolved = self.resolver.resolve(self.scalar_node, value, implicit)
            self.tags[cache_key] = (str(resolved), resolved)
        return self.tags[cache_key]


def _mark(event: Any) -> tuple[int, int]:
    return event.start_mark.line + 1, event.start_mark.column + 1

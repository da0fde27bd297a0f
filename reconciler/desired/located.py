"""A YAML document as plain data with the position of every key and value, and the
limits and helpers both of its loaders share (``document``: the round-trip path;
``yamlfast``: the fast path), so neither imports the other."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.diagnostics import Diagnostic, InvalidDocument, Location, Path

MAX_FILE_BYTES = 1024 * 1024  # a 100-pool file is ~15 KB; far larger is a mistake or an attack
MAX_NODES = 100_000  # bounds alias expansion ("billion laughs")
MAX_DEPTH = 64
# Scalars the round-trip loader keeps tagged that are text all the same.
_TEXT_TAGS = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:merge",
                        "tag:yaml.org,2002:value"})


@dataclass
class LocatedDocument:
    """Plain data (dicts, lists, scalars) plus the 1-based position of each key and value."""

    file: str
    data: Any
    key_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    value_positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    digest: str = ""  # sha256 of the bytes read: a saved plan's "desired" fingerprint

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


def fail_at(file: str, line: int, column: int, message: str, *,
            rule: str = "yaml/syntax") -> InvalidDocument:
    """One located diagnostic as the error to raise (``rule``: its kind, see Diagnostic)."""
    return InvalidDocument([Diagnostic(Location(file, line, column), (), message, rule=rule)])


def key_problem(written: str, kind: str) -> str:
    """The message for a mapping key that is not a string, naming it as written."""
    if kind in ("a list", "a mapping"):
        return f"{kind} cannot be a key; keys must be plain strings"
    if not written:
        return "a key is empty (YAML reads it as null); write a name"
    shown = written if len(written) <= 40 else written[:40] + "..."
    return f"key {shown} is {kind}; quote it ({json.dumps(shown, ensure_ascii=False)})"


def plain_scalar(value: Any) -> Any:
    """ruamel's scalar subclasses as plain Python values.

    Anything else (a date, binary data, a tagged value) is returned as it is, never turned
    into text: an unquoted date is refused where it is written, not silently reformatted.
    """
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
    if type(value).__name__ == "TaggedScalar" and str(value.tag) in _TEXT_TAGS:
        return str(value.value)  # !!str 3, or a lone << or = as a value: text as written
    return value

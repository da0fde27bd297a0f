"""The published JSON Schema and its errors turned into located, readable diagnostics."""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from reconciler.diagnostics import Diagnostic, Path
from reconciler.document import LocatedDocument

_FORMATS = {
    "nodeTaints": "taint; expected key=value:Effect with Effect NoSchedule, PreferNoSchedule"
                  " or NoExecute",
    "orchestratorVersion": "Kubernetes version such as 1.30.0",
    "maxSurge": "count or percentage such as 1 or 33%",
    "maxUnavailable": "count or percentage such as 1 or 33%",
    "location": "region name such as japaneast (lowercase letters and digits)",
    "armEndpoint": "endpoint; it must start with https://",
}
_JSON_TYPES = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


def schema_text() -> str:
    """The schema exactly as published in schemas/nodepools.schema.json."""
    try:  # beside this module in any ordinary install; importlib.resources costs ~5 ms
        return (FsPath(__file__).parent / "schema" / "nodepools.schema.json").read_text(
            encoding="utf-8")
    except OSError:
        from importlib import resources

        return resources.files("reconciler").joinpath("schema/nodepools.schema.json").read_text()


@cache
def schema() -> dict[str, Any]:
    """The parsed schema."""
    return json.loads(schema_text())


def schema_diagnostics(doc: LocatedDocument) -> list[Diagnostic]:
    """Every schema violation in ``doc``, located and worded for people."""
    if accepts(schema(), doc.data):
        return []  # the common case, without loading jsonschema (a third of start-up)
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    found: list[Diagnostic] = []
    seen: set[Diagnostic] = set()  # a set, so a file with many errors is not quadratic
    for error in validator.iter_errors(doc.data):
        # A value checked by two schema branches (e.g. settings' own type and the provider's
        # settings schema) fails the same way twice; say it once.
        for diagnostic in _diagnostics_for(error, doc):
            if diagnostic not in seen:
                seen.add(diagnostic)
                found.append(diagnostic)
    return found


def _diagnostics_for(error: Any, doc: LocatedDocument) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return [Diagnostic(doc.location((*path, key), key=True), (*path, key),
                           _unknown_field(key, allowed))
                for key in error.instance if key not in allowed]
    if kind == "required":
        missing = error.message.split("'")[1]
        return [Diagnostic(doc.location(path, key=True), (*path, missing),
                           f"missing required field '{missing}'")]
    return [Diagnostic(doc.location(path), path, _message(error, path))]


def _unknown_field(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field '{key}' (did you mean '{close[0]}'?)"
    return f"unknown field '{key}' (expected one of: {', '.join(allowed)})"


def _message(error: Any, path: Path) -> str:
    value, kind, expected = error.instance, error.validator, error.validator_value
    shown = json.dumps(value) if not isinstance(value, dict | list) else _JSON_TYPES[type(value)]
    if kind == "type":
        wanted = " or ".join(_type_word(t) for t in _as_list(expected))
        hint = " (quote it to make it a string)" if "string" in wanted and \
            isinstance(value, int | float | bool) else ""
        got = shown if isinstance(value, dict | list) else \
            f"{_JSON_TYPES.get(type(value), 'value')} {shown}"
        return f"expected {wanted}, got {got}{hint}"
    if kind == "const":
        return f"must be {json.dumps(expected)}, got {shown}"
    if kind == "enum":
        return _enum_message(value, expected, shown)
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        return f"must be {word} {expected}, got {shown}"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"must be at most {expected} characters long"
    if kind == "pattern":
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        return f"{shown} is not a valid {_FORMATS.get(field, 'value for this field')}"
    if kind == "uniqueItems":
        return "must not list the same item twice"
    return error.message


def _enum_message(value: Any, expected: list[Any], shown: str) -> str:
    choices: dict[str, str] = {}  # lowercase -> the spelling shown (the first one listed)
    for option in expected:
        choices.setdefault(str(option).lower(), str(option))
    close = difflib.get_close_matches(str(value).lower(), list(choices), n=1)
    hint = f" (did you mean '{choices[close[0]]}'?)" if close else ""
    return f"{shown} is not one of: {', '.join(choices.values())}{hint}"


def _type_word(name: str) -> str:
    return {"object": "mapping", "array": "list"}.get(name, name)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the fast acceptance check ------------------------------------------------------------
#
# jsonschema stays the judge of every error and its wording; this only answers "valid?"
# for the keywords the published schema uses, each implemented as jsonschema implements
# it for draft 2020-12 without a format checker. Anything else raises _Unsupported, and
# jsonschema then decides, so a wrong "valid" is never given; an "invalid" is only a cue
# to ask jsonschema for the errors.

_ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description",
                          "examples", "default", "deprecated", "readOnly", "writeOnly"})
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
}


class _Unsupported(Exception):
    """A keyword or value the fast check does not judge; jsonschema will."""


def accepts(root: dict[str, Any], instance: Any) -> bool:
    """True only when jsonschema would find no error in ``instance`` against ``root``."""
    try:
        return _valid(root, instance, root)
    except _Unsupported:
        return False


def _valid(subschema: Any, instance: Any, root: dict[str, Any]) -> bool:
    if subschema is True or subschema is False:
        return subschema
    if not isinstance(subschema, dict) or ("$id" in subschema and subschema is not root):
        raise _Unsupported  # a nested $id moves the base of $ref
    for keyword, value in subschema.items():
        if keyword in _ANNOTATIONS:
            continue
        check = _KEYWORDS.get(keyword)
        if check is None:
            raise _Unsupported
        if not check(value, instance, subschema, root):
            return False
    return True


def _type(expected: Any, instance: Any, _schema: Any, _root: Any) -> bool:
    names = _as_list(expected)
    if any(name not in _TYPES for name in names):
        raise _Unsupported
    return any(_TYPES[name](instance) for name in names)


def _properties(properties: dict[str, Any], instance: Any, _schema: Any, root: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    return all(_valid(sub, instance[key], root) for key, sub in properties.items()
               if key in instance)


def _additional(extra: Any, instance: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    if "patternProperties" in schema:
        raise _Unsupported
    known = schema.get("properties", {})
    return all(_valid(extra, value, root) for key, value in instance.items()
               if key not in known)


def _required(names: list[str], instance: Any, _schema: Any, _root: Any) -> bool:
    return not isinstance(instance, dict) or all(name in instance for name in names)


def _items(items: Any, instance: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, list):
        return True
    if "prefixItems" in schema:
        raise _Unsupported
    return all(_valid(items, item, root) for item in instance)


def _unique(unique: bool, instance: Any, _schema: Any, _root: Any) -> bool:
    if not unique or not isinstance(instance, list):
        return True
    if not all(type(item) is str or type(item) is int for item in instance):
        raise _Unsupported  # jsonschema's own equality for floats, booleans, containers
    # A string never equals a number there; integers compare as Python compares them.
    return len({(type(item), item) for item in instance}) == len(instance)


def _ref(ref: str, instance: Any, _schema: Any, root: dict[str, Any]) -> bool:
    if not ref.startswith("#/") or "%" in ref:
        raise _Unsupported  # only plain pointers into this schema
    target: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            raise _Unsupported
        target = target[part]
    return _valid(target, instance, root)


def _if(condition: Any, instance: Any, schema: dict[str, Any], root: Any) -> bool:
    branch = "then" if _valid(condition, instance, root) else "else"
    return branch not in schema or _valid(schema[branch], instance, root)


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: booleans are not numbers, containers compare item by item."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(k in two and _equal(v, two[k]) for k, v in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # one is two was False, so two booleans differ, or one is a number
    if isinstance(one, list | dict) or isinstance(two, list | dict):
        return False
    return bool(one == two)


def _string(check: Any) -> Any:
    return lambda value, instance, _schema, _root: not isinstance(instance, str) or \
        check(value, instance)


def _number(check: Any) -> Any:
    return lambda value, instance, _schema, _root: not _TYPES["number"](instance) or \
        check(value, instance)


_KEYWORDS: dict[str, Any] = {
    "type": _type,
    "properties": _properties,
    "additionalProperties": _additional,
    "required": _required,
    "items": _items,
    "uniqueItems": _unique,
    "$ref": _ref,
    "if": _if,
    "then": lambda _value, _instance, _schema, _root: True,  # judged with "if"
    "else": lambda _value, _instance, _schema, _root: True,
    "allOf": lambda subs, instance, _schema, root: all(_valid(s, instance, root) for s in subs),
    "anyOf": lambda subs, instance, _schema, root: any(_valid(s, instance, root) for s in subs),
    "not": lambda sub, instance, _schema, root: not _valid(sub, instance, root),
    "const": lambda value, instance, _schema, _root: _equal(instance, value),
    "enum": lambda values, instance, _schema, _root: any(_equal(instance, v) for v in values),
    "minLength": _string(lambda bound, text: len(text) >= bound),
    "maxLength": _string(lambda bound, text: len(text) <= bound),
    "pattern": _string(lambda pattern, text: re.search(pattern, text) is not None),
    "minimum": _number(lambda bound, number: not number < bound),
    "maximum": _number(lambda bound, number: not number > bound),
    "exclusiveMinimum": _number(lambda bound, number: not number <= bound),
    "exclusiveMaximum": _number(lambda bound, number: not number >= bound),
    "minItems": lambda bound, instance, _s, _r: not isinstance(instance, list)
    or len(instance) >= bound,
    "maxItems": lambda bound, instance, _s, _r: not isinstance(instance, list)
    or len(instance) <= bound,
}

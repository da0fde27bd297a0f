"""A fast "is it valid?" check against the published schema.

jsonschema stays the judge of every error and its wording; this only answers "valid?"
for the keywords the published schema uses, each implemented as jsonschema implements
it for draft 2020-12 without a format checker. Anything else raises _Unsupported, and
jsonschema then decides, so a wrong "valid" is never given; an "invalid" is only a cue
to ask jsonschema for the errors.
"""

from __future__ import annotations

import re
from typing import Any

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
    names = expected if isinstance(expected, list) else [expected]
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

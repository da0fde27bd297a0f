"""The published JSON Schema and its errors turned into located, readable diagnostics."""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from reconciler.desired.document import LocatedDocument
from reconciler.diagnostics import Diagnostic, Path

_FORMATS = {
    "nodeTaints": "taint; expected key=value:Effect with Effect NoSchedule, PreferNoSchedule"
                  " or NoExecute",
    "orchestratorVersion": "Kubernetes version such as 1.30.0",
    "maxSurge": "count or percentage such as 1 or 33%",
    "maxUnavailable": "count or percentage such as 1 or 33%",
    "location": "region name such as japaneast (lowercase letters and digits)",
    "armEndpoint": "endpoint; it must start with https://",
    "name": "name; use letters, digits, '.', '_' and '-', starting with a letter or digit",
}
# YAML 1.1 booleans that YAML 1.2 (and so this tool) reads as strings.
_YAML11_BOOLEANS = {"yes": "true", "no": "false", "on": "true", "off": "false",
                    "y": "true", "n": "false"}
_JSON_TYPES = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


def schema_text() -> str:
    """The schema exactly as published in schemas/nodepools.schema.json."""
    try:  # beside this module in any ordinary install; importlib.resources costs ~5 ms
        return (FsPath(__file__).parent.parent / "schema" / "nodepools.schema.json").read_text(
            encoding="utf-8")
    except OSError:
        from importlib import resources

        return resources.files("reconciler").joinpath("schema/nodepools.schema.json").read_text()


@cache
def schema() -> dict[str, Any]:
    """The parsed schema."""
    return json.loads(schema_text())


@cache
def _compiled() -> Any:
    """The schema compiled by jsonschema-rs, once per process (import 20-45 ms, 2 ms)."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(schema())


def _surely_valid(data: Any) -> bool:
    """True only when the file is valid: jsonschema-rs's "is it valid?" (0.15 ms, 100 pools).

    It spares a valid file the import of jsonschema (~170 ms, a third of start-up).
    jsonschema stays the judge that words every error. jsonschema-rs could carry the
    wording (it reports the same keyword at the same path for every file in
    tests/invalid), but not as it stands: its errors have no ``validator_value`` or
    ``schema`` (the allowed names for an unknown field would be looked up by
    ``schema_path``; ``kind.name`` and ``kind.value`` only came in 0.40.1, a young API),
    and its messages, which the rarer keywords below fall back on, are worded otherwise.
    Where the two disagree (a pattern's ``$`` before a final newline, strings Rust
    cannot hold) jsonschema-rs says "invalid" and jsonschema decides;
    test_performance_properties checks it never says "valid" where jsonschema errs.
    """
    try:
        return bool(_compiled().is_valid(data))
    except ValueError:  # e.g. a lone surrogate in a string: no UTF-8 for Rust
        return False


def schema_diagnostics(doc: LocatedDocument) -> list[Diagnostic]:
    """Every schema violation in ``doc``, located and worded for people."""
    if _surely_valid(doc.data):
        return []  # the common case, without loading jsonschema
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
    return _without_pattern_twins(_without_typo_twins(found))


def _without_pattern_twins(found: list[Diagnostic]) -> list[Diagnostic]:
    """An empty or too long value is one error (its length), not also a pattern error."""
    sized = {d.path for d in found if d.rule in ("schema/minLength", "schema/maxLength")}
    return [d for d in found if not (d.rule == "schema/pattern" and d.path in sized)]


def _without_typo_twins(found: list[Diagnostic]) -> list[Diagnostic]:
    """A misspelt required key is one error ("did you mean"), not also "missing"."""
    suggested = {(*d.path[:-1], d.message.split("'")[3]) for d in found
                 if d.message.startswith("unknown field") and "did you mean" in d.message}
    return [d for d in found
            if not (d.message.startswith("missing required field") and d.path in suggested)]


def _diagnostics_for(error: Any, doc: LocatedDocument) -> list[Diagnostic]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return [Diagnostic(doc.location((*path, key), key=True), (*path, key),
                           _unknown_field(key, allowed), rule="schema/additionalProperties")
                for key in error.instance if key not in allowed]
    if kind == "required":
        missing = error.message.split("'")[1]
        # A conditional requirement says when (autoscaling: "is required when ... enabled").
        why = error.schema.get("errorMessage")
        message = f"'{missing}' {why}" if why else f"missing required field '{missing}'"
        return [Diagnostic(doc.location(path, key=True), (*path, missing), message,
                           rule="schema/required")]
    if "propertyNames" in error.relative_schema_path:  # a bad key: located at the key
        path = (*path, error.instance)
        return [Diagnostic(doc.location(path, key=True), path, _message(error, path),
                           rule=f"schema/{kind}")]
    return [Diagnostic(doc.location(path), path, _message(error, path), rule=f"schema/{kind}")]


def _unknown_field(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown field '{key}' (did you mean '{close[0]}'?)"
    return f"unknown field '{key}' (expected one of: {', '.join(allowed)})"


def _message(error: Any, path: Path) -> str:
    value, kind, expected = error.instance, error.validator, error.validator_value
    shown = json.dumps(value) if not isinstance(value, dict | list) else _JSON_TYPES[type(value)]
    worded = error.schema.get("patternErrorMessage")
    if worded and kind in ("pattern", "minimum"):
        return _worded(worded, value)
    if kind == "type":
        wanted = " or ".join(_type_word(t) for t in _as_list(expected))
        hint = " (quote it to make it a string)" if "string" in wanted and \
            isinstance(value, int | float | bool) else ""
        if wanted == "boolean" and str(value).lower() in _YAML11_BOOLEANS:
            hint = f" (write {_YAML11_BOOLEANS[str(value).lower()]}: YAML 1.2 reads {shown}" \
                " as a string)"
        got = shown if isinstance(value, dict | list) or value is None else \
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


def _worded(text: str, value: Any) -> str:
    """The schema's own words for a bad value, as editors show them ("invalid label key:
    the prefix must be..."), with the value put in: "invalid label key 'X': the prefix..."."""
    what, sep, why = text.partition(": ")
    shown = f"'{value}'" if isinstance(value, str) else json.dumps(value)
    return f"{what} {shown}{sep}{why}"


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

"""The agentPool properties as the Azure SDK's models describe them, turned into JSON Schema.

Run by hand after an SDK upgrade (it imports ``azure.mgmt.containerservice``; nothing at run
time imports this module)::

    python -m reconciler.providers.aks.sdkfacts --write

It adds to ``schema.json``'s ``extensions`` every writable agentPool property that the
neutral model does not carry, with the SDK's own description, type and enum values, and
leaves the entries already there as they are (hand-tuned ones keep their examples and
patterns), except that enum values and missing sub-properties always come from the SDK.
``tests/providers/test_aks_properties.py`` fails when an SDK property is missing, so the
property list is derived from the SDK, never retyped.
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).with_name("schema.json")
# Properties the neutral model carries (NodePool fields), or the server owns.
NEUTRAL = frozenset({"count", "vmSize", "osDiskSizeGB", "osDiskType", "minCount", "maxCount",
                     "enableAutoScaling", "mode", "availabilityZones", "scaleSetPriority",
                     "nodeLabels"})
SERVER_OWNED = frozenset({"eTag", "currentOrchestratorVersion", "provisioningState",
                          "nodeImageVersion", "status", "virtualMachineNodesStatus"})


def _models() -> Any:
    from azure.mgmt.containerservice import models

    return models


def rest_fields(model: type) -> dict[str, tuple[str, Any, bool]]:
    """attribute -> (REST name, annotation, read-only) for a generated SDK model."""
    hints = typing.get_type_hints(model, localns={"_models": _models()})
    out: dict[str, tuple[str, Any, bool]] = {}
    for attr, field in vars(model).items():
        if type(field).__name__ != "_RestField":
            continue
        rest = getattr(field, "_rest_name_input", None) or attr
        out[attr] = (rest, hints.get(attr), list(field._visibility or []) == ["read"])
    return out


def descriptions(model: type) -> dict[str, str]:
    """attribute -> its ``:ivar`` text in the model's docstring, one line."""
    doc = model.__doc__ or ""
    found = {}
    for match in re.finditer(r":ivar (\w+): (.*?)(?=\n\s*:vartype|\n\s*:ivar|\Z)", doc, re.S):
        text = re.sub(r"`([^`<]*?)\s*<([^>]*)>`_", r"\1 (\2)", match.group(2))
        found[match.group(1)] = " ".join(text.split())
    return found


def writable_properties() -> dict[str, dict[str, Any]]:
    """Every writable agentPool property outside the neutral model, as a JSON Schema."""
    model = _models().ManagedClusterAgentPoolProfileProperties
    texts = descriptions(model)
    out = {}
    for attr, (rest, hint, read_only) in rest_fields(model).items():
        if read_only or rest in NEUTRAL or rest in SERVER_OWNED:
            continue
        out[rest] = _schema(rest, hint, texts.get(attr, ""), depth=0)
    return out


def _schema(rest: str, hint: Any, text: str, depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"title": _title(rest)}
    if text:
        node["description"] = text
    node.update(_type(hint, depth))
    if node.get("type") == "array" and node["items"].get("type") == "object":
        node["items"] = {"title": f"{_title(rest)} entry", **node["items"]}
    return node


def _type(hint: Any, depth: int) -> dict[str, Any]:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        enums = [a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)]
        if enums:
            return {"type": "string", "enum": [member.value for member in enums[0]]}
        return _type(args[0], depth) if len(args) == 1 else {}
    if origin is list:
        return {"type": "array", "items": _type(args[0], depth)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(args[1], depth)}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if isinstance(hint, type) and depth < 4:
        texts = descriptions(hint)
        props = {rest: _schema(rest, sub, texts.get(attr, ""), depth + 1)
                 for attr, (rest, sub, read_only) in rest_fields(hint).items() if not read_only}
        return {"type": "object", "additionalProperties": False, "properties": props}
    return {}


def merged(current: dict[str, Any]) -> dict[str, Any]:
    """``current`` (schema.json) with each missing writable property added, in SDK order."""
    part = json.loads(json.dumps(current))
    properties = part["extensions"]["properties"]
    for rest, schema in writable_properties().items():
        if rest not in properties:
            properties[rest] = schema
        else:
            _complete(properties[rest], schema)
    return part


def _complete(entry: dict[str, Any], sdk: dict[str, Any]) -> None:
    """A hand-tuned entry keeps its words but takes the SDK's enum values and gains the
    sub-properties it lacks (upgradeSettings.undrainableNodeBehavior, say)."""
    if "enum" in sdk:
        entry["enum"] = sdk["enum"]
    wanted = sdk.get("properties", {})
    have = entry.get("properties")
    if isinstance(have, dict):
        for key, schema in wanted.items():
            if key not in have:
                have[key] = schema
            else:
                _complete(have[key], schema)


def _title(rest: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", rest)
    return words[0].upper() + words[1:]


def main(argv: list[str] | None = None) -> int:
    """Print or write the merged schema.json; exit 1 when it differs and --check is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite schema.json")
    args = parser.parse_args(argv)
    text = json.dumps(merged(json.loads(SCHEMA.read_text())), indent=2,
                      ensure_ascii=False) + "\n"
    if args.write:
        SCHEMA.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Builds the published desired-state schema from the core schema and each provider's part.

The core (``reconciler/schema/core.json``) says everything neutral; each provider package in
the registry ships ``schema.json``, which owns that provider's words:

``description``       one phrase for the ``provider`` enum's documentation;
``settings``          the JSON Schema of ``cluster.settings`` for that provider;
``settingsRequired``  whether ``cluster.settings`` must be present;
``extensions``        (optional) the JSON Schema of ``extensions.<namespace>``, the namespace
                      being the provider's ``Capabilities.extension_namespace``;
``nodePool``          (optional) further constraints on every pool of that provider;
``$defs``             (optional) definitions it refers to, each named after the provider.

The provider's ``Capabilities`` add what they already say, so it is said once: the pool-name
pattern (``name_pattern``/``name_rule``) and the reserved label prefixes. Every
``description`` gets a ``markdownDescription`` twin (editors render it; the descriptions
are written in Markdown), and the ``provider`` enum gets ``markdownEnumDescriptions``.

``reconciler docs schema --output schemas/nodepools.schema.json`` writes the result (the
package's copy is a link to that file; tests fail when it is stale), so reading the schema
at run time is one file read, and a new provider changes no core file.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from reconciler.desired.semantics import reserved_label_rule
from reconciler.model import DRIVER_LABELS
from reconciler.registry import PROVIDERS, capabilities_for

CORE = Path(__file__).parent.parent / "schema" / "core.json"


def provider_part(provider: str) -> dict[str, Any]:
    """The provider package's ``schema.json``, parsed."""
    module = PROVIDERS[provider][0]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"provider '{provider}' is not a package with a schema.json")
    folder = Path(next(iter(spec.submodule_search_locations)))
    part: dict[str, Any] = json.loads((folder / "schema.json").read_text(encoding="utf-8"))
    return part


def build() -> dict[str, Any]:
    """The whole schema: the core with every registered provider's part in its place."""
    schema: dict[str, Any] = json.loads(CORE.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    cluster = defs["cluster"]
    provider_field = cluster["properties"]["provider"]
    extensions = defs["nodePool"]["properties"]["extensions"]["properties"]
    phrases: list[str] = []
    enum_words: list[str] = []
    for name in PROVIDERS:
        part = copy.deepcopy(provider_part(name))
        provider_field["enum"].append(name)
        phrases.append(f"`{name}` ({part['description']})")
        enum_words.append(part["description"][:1].upper() + part["description"][1:] + ".")
        defs[f"{name}Settings"] = part["settings"]
        branch: dict[str, Any] = {"properties": {"settings": {"$ref": f"#/$defs/{name}Settings"}}}
        if part.get("settingsRequired"):
            branch["required"] = ["settings"]
        cluster["allOf"].append({"if": _provider_is(name), "then": branch})
        namespace = capabilities_for(name, {}).extension_namespace
        if "extensions" in part and namespace:
            defs[f"{namespace}Extensions"] = part["extensions"]
            extensions[namespace] = {"$ref": f"#/$defs/{namespace}Extensions"}
        pool_rules = _capability_rules(name, part.get("nodePool", {}))
        if pool_rules:
            schema.setdefault("allOf", []).append({
                "if": {"properties": {"cluster": _provider_is(name)}, "required": ["cluster"]},
                "then": {"properties": {"nodePools": {"items": pool_rules}}}})
        for key, value in part.get("$defs", {}).items():
            if not key.startswith(name) or key in defs:
                raise ValueError(f"provider '{name}': $defs name '{key}' must start with"
                                 f" '{name}' and be new")
            defs[key] = value
    provider_field["description"] = ("Provider driver: " + ", ".join(phrases[:-1])
                                     + f" or {phrases[-1]}." if len(phrases) > 1
                                     else f"Provider driver: {phrases[0]}.")
    provider_field["markdownEnumDescriptions"] = enum_words
    with_markdown(schema)
    return schema


def _capability_rules(name: str, pool: dict[str, Any]) -> dict[str, Any]:
    """The provider part's ``nodePool`` plus the pool-name and reserved-label rules of its
    Capabilities, worded as ``reconciler validate`` words them (``patternErrorMessage``
    is ``"<what>: <why>"``; see reconciler.desired.schema)."""
    caps = capabilities_for(name, {})
    rules = copy.deepcopy(pool)
    properties = rules.setdefault("properties", {})
    if caps.name_pattern:
        properties.setdefault("name", {}).update({
            "pattern": caps.name_pattern,
            "patternErrorMessage": f"invalid pool name: {caps.name_rule}"})
    if caps.reserved_label_prefixes:
        reserved = "|".join(re.escape(p) for p in caps.reserved_label_prefixes)
        allowed = "|".join(re.escape(label) for label in DRIVER_LABELS)
        properties.setdefault("labels", {})["propertyNames"] = {
            "if": {"pattern": f"^({reserved})"},
            "then": {"pattern": f"^({allowed})$",
                     "patternErrorMessage": "reserved label: "
                     + reserved_label_rule(caps.reserved_label_prefixes)}}
    return rules if properties or len(rules) > 1 else {}


def with_markdown(node: Any) -> Any:
    """``node`` (changed in place) with a ``markdownDescription`` beside every
    ``description`` that has none."""
    if isinstance(node, dict):
        if isinstance(node.get("description"), str) and "markdownDescription" not in node:
            node["markdownDescription"] = node["description"]
        for value in node.values():
            with_markdown(value)
    elif isinstance(node, list):
        for value in node:
            with_markdown(value)
    return node


def _provider_is(name: str) -> dict[str, Any]:
    return {"properties": {"provider": {"const": name}}, "required": ["provider"]}


def build_text() -> str:
    """The schema as published: two-space indents, UTF-8 text, a final newline."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"

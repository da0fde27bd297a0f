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

``reconciler docs schema --output schemas/nodepools.schema.json`` writes the result (the
package's copy is a link to that file; tests fail when it is stale), so reading the schema
at run time is one file read, and a new provider changes no core file.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

from reconciler.registry import PROVIDERS, capabilities_for

CORE = Path(__file__).parent / "schema" / "core.json"


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
    for name in PROVIDERS:
        part = copy.deepcopy(provider_part(name))
        provider_field["enum"].append(name)
        phrases.append(f"`{name}` ({part['description']})")
        defs[f"{name}Settings"] = part["settings"]
        branch: dict[str, Any] = {"properties": {"settings": {"$ref": f"#/$defs/{name}Settings"}}}
        if part.get("settingsRequired"):
            branch["required"] = ["settings"]
        cluster["allOf"].append({"if": _provider_is(name), "then": branch})
        namespace = capabilities_for(name, {}).extension_namespace
        if "extensions" in part and namespace:
            defs[f"{namespace}Extensions"] = part["extensions"]
            extensions[namespace] = {"$ref": f"#/$defs/{namespace}Extensions"}
        if "nodePool" in part:
            schema.setdefault("allOf", []).append({
                "if": {"properties": {"cluster": _provider_is(name)}, "required": ["cluster"]},
                "then": {"properties": {"nodePools": {"items": part["nodePool"]}}}})
        for key, value in part.get("$defs", {}).items():
            if not key.startswith(name) or key in defs:
                raise ValueError(f"provider '{name}': $defs name '{key}' must start with"
                                 f" '{name}' and be new")
            defs[key] = value
    provider_field["description"] = ("Provider driver: " + ", ".join(phrases[:-1])
                                     + f" or {phrases[-1]}." if len(phrases) > 1
                                     else f"Provider driver: {phrases[0]}.")
    return schema


def _provider_is(name: str) -> dict[str, Any]:
    return {"properties": {"provider": {"const": name}}, "required": ["provider"]}


def build_text() -> str:
    """The schema as published: two-space indents, UTF-8 text, a final newline."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"

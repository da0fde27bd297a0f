"""Every writable agentPool property is expressible, with the right mutability.

The property list comes from the Azure SDK's models (``sdkfacts``), the mutability from one
table with its evidence (``capabilities.MUTABILITY``, shown in docs/aks.md). For each
property a file can set, a create carries it, an in-place change is planned as an update,
and a change AKS cannot make is rejected at plan time, before any write; the simulated AKS
server (the emulator's store) refuses the same changes.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aks_examples import POOL_EXAMPLES, example

from reconciler.model import Cluster, DesiredState, NodePool
from reconciler.plan.planner import make_plan
from reconciler.providers.aks import sdkfacts
from reconciler.providers.aks.capabilities import MUTABILITY, NEUTRAL_FIELDS
from reconciler.providers.aks.mapping import AKS_EXTENSION_KEYS, arm_for_create, pool_from_arm
from reconciler.providers.local.checks import AksApiError
from reconciler.providers.local.store import AgentPoolStore
from reconciler.registry import capabilities_for

ROOT = Path(__file__).parents[2]
SCHEMA = json.loads((ROOT / "reconciler/providers/aks/schema.json").read_text())
EXTENSIONS = SCHEMA["extensions"]["properties"]
CAPS = capabilities_for("aks", {"location": "eastus"})
# Properties that need more than a sample value to be valid together (checked elsewhere).
SPECIAL = {"powerState", "orchestratorVersion", "osSKU", "osType", "tags", "nodeTaints",
           "upgradeSettings", "spotMaxPrice", "scaleSetEvictionPolicy"}


def test_every_writable_sdk_property_is_in_the_schema_as_the_sdk_describes_it() -> None:
    writable = sdkfacts.writable_properties()
    assert set(writable) == set(EXTENSIONS)
    assert sdkfacts.merged(SCHEMA) == SCHEMA, (
        "schema.json is behind the SDK: run python -m reconciler.providers.aks.sdkfacts --write")
    assert set(AKS_EXTENSION_KEYS) == set(EXTENSIONS)


def test_every_property_has_a_mutability_with_evidence() -> None:
    properties = set(EXTENSIONS) | set(NEUTRAL_FIELDS.values()) | {
        "mode", "nodeLabels", "enableAutoScaling", "minCount", "maxCount", "count"}
    assert set(MUTABILITY) == properties
    assert all(how in {"yes", "no", "family", "upgrade"} and evidence
               for how, evidence in MUTABILITY.values())


def test_docs_show_the_mutability_table() -> None:
    """docs/aks.md's table says for each property what the capabilities say."""
    text = (ROOT / "docs/aks.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (yes|no|family|upgrade) \|", text, re.M))
    assert rows == {prop: how for prop, (how, _) in MUTABILITY.items()}


def sample(schema: dict[str, Any], other: bool = False) -> Any:
    """A valid value for ``schema``; ``other`` gives a different one."""
    if "enum" in schema:
        return schema["enum"][1 if other and len(schema["enum"]) > 1 else 0]
    kind = schema.get("type")
    if kind == "boolean":
        return other
    if kind == "integer":
        return 7 if other else 5
    if kind == "number":
        return 2.5 if other else 1.5
    if kind == "string":
        return "/subscriptions/x/other" if other else "/subscriptions/x/first"
    if kind == "array":
        return [sample(schema["items"], other)]
    if kind == "object" and "properties" in schema:
        simple = [(k, v) for k, v in schema["properties"].items()
                  if v.get("type") in {"string", "integer", "boolean"} or "enum" in v]
        key, sub = (simple or list(schema["properties"].items()))[0]
        return {key: sample(sub, other)}
    return {"a": "b"} if not other else {"a": "c"}


GENERAL = sorted(set(EXTENSIONS) - SPECIAL)


def desired_state(pool: NodePool) -> DesiredState:
    system = NodePool(name="system", mode="system")
    return DesiredState(Cluster("c", "aks", {"location": "eastus"}), "owned", (),
                        (system, pool), "f.yaml", "")


def live_pool(extra: dict[str, Any]) -> NodePool:
    raw = {"name": "web", "properties": {"mode": "User", "count": 1, "vmSize": "Standard_D4s_v5",
                                         "tags": {"managed-by": "reconciler"},
                                         "nodeLabels": {"kompox.dev/node-pool": "web"},
                                         "provisioningState": "Succeeded", **extra}}
    return pool_from_arm(raw, "eastus")


SYSTEM_LIVE = pool_from_arm({"name": "system", "properties": {
    "mode": "System", "count": 1, "tags": {"managed-by": "reconciler"},
    "nodeLabels": {"kompox.dev/node-pool": "system"}, "provisioningState": "Succeeded"}},
    "eastus")


@pytest.mark.parametrize("prop", GENERAL)
def test_a_property_is_created_changed_in_place_or_rejected_as_aks_does(prop: str) -> None:
    first, second = sample(EXTENSIONS[prop]), sample(EXTENSIONS[prop], other=True)
    assert first != second
    wanted = NodePool(name="web", mode="user", extensions={"aks": {prop: first}})
    created = make_plan(desired_state(wanted), [SYSTEM_LIVE], CAPS)
    assert created.ok
    [create] = created.actions
    assert any(change.path[:3] == ("extensions", "aks", prop) for change in create.changes)
    assert arm_for_create(wanted)["properties"][prop] == first
    changed = make_plan(desired_state(wanted), [SYSTEM_LIVE, live_pool({prop: second})], CAPS)
    how = MUTABILITY[prop][0]
    if how == "no":
        assert not changed.ok and changed.errors[0].path[:3] == ("extensions", "aks", prop)
        assert "cannot change on an existing pool" in changed.errors[0].message
    else:
        assert changed.ok and [a.kind.value for a in changed.actions] == ["update"]


@pytest.mark.parametrize("prop", [p for p in GENERAL if MUTABILITY[p][0] == "no"])
def test_the_simulated_aks_refuses_the_same_changes(prop: str) -> None:
    store = AgentPoolStore()
    first, second = sample(EXTENSIONS[prop]), sample(EXTENSIONS[prop], other=True)
    store.put("web", {"properties": {"mode": "User", prop: first}})
    body = {"properties": {k: v for k, v in store.get("web")["properties"].items()
                           if k not in {"eTag", "provisioningState"}}}
    changed = copy.deepcopy(body)
    changed["properties"][prop] = second
    with pytest.raises(AksApiError) as refused:
        store.put("web", changed)
    assert refused.value.code == "PropertyChangeNotAllowed"
    store.put("web", body)  # the same body again is fine


@pytest.mark.parametrize("sku", EXTENSIONS["osSKU"]["enum"])
def test_every_os_sku_round_trips_through_export(sku: str) -> None:
    """A pool of any osSKU exports to a file entry that plans to no change."""
    windows = sku.startswith("Windows")
    raw = {"name": "win" if windows else "web", "properties": {
        "mode": "User", "count": 1, "osSKU": sku, "osType": "Windows" if windows else "Linux",
        "tags": {"managed-by": "reconciler"}, "provisioningState": "Succeeded",
        "nodeLabels": {"kompox.dev/node-pool": "win" if windows else "web"}}}
    assert_exports_to_no_change(raw)


@pytest.mark.parametrize("file_name", POOL_EXAMPLES)
def test_every_real_payload_round_trips_through_export(file_name: str) -> None:
    """Each example pool, once owned (adoption adds the marker and the pool label)."""
    raw = example(file_name)
    props = raw["properties"]
    props["provisioningState"] = "Succeeded"
    props["tags"] = {**(props.get("tags") or {}), "managed-by": "reconciler"}
    props["nodeLabels"] = {**(props.get("nodeLabels") or {}),
                           "kompox.dev/node-pool": raw["name"]}
    assert_exports_to_no_change(raw)


def assert_exports_to_no_change(raw: dict[str, Any]) -> None:
    from jsonschema import Draft202012Validator

    from reconciler.desired.schema import schema
    from reconciler.export import export_pool
    from reconciler.model import pool_from_dict

    live = pool_from_arm(raw, "eastus")
    entry = export_pool(live, CAPS)
    document = {"apiVersion": "reconciler/v1", "kind": "NodePoolSet",
                "cluster": {"name": "c", "provider": "aks", "settings": {
                    "subscriptionId": "s", "resourceGroup": "r", "clusterName": "c",
                    "location": "eastus"}},
                "nodePools": [{"name": "system", "mode": "system"}, entry]}
    errors = Draft202012Validator(schema()).iter_errors(json.loads(json.dumps(document)))
    assert [error.message for error in errors] == []
    pool = pool_from_dict(entry)
    plan = make_plan(desired_state(pool), [SYSTEM_LIVE, live], CAPS)
    assert plan.ok and [(a.pool, a.changes) for a in plan.actions] == []

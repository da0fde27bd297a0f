"""The published schema on its own (what an editor sees) catches what it can express, and
accepts what the tool accepts: each case is checked by jsonschema alone, no semantics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from reconciler.desired.schema import schema

ROOT = Path(__file__).parents[1]


def _errors(pool: dict[str, Any], provider: str = "aks") -> list[str]:
    settings = {"aks": {"subscriptionId": "s", "resourceGroup": "rg", "clusterName": "c",
                        "location": "japaneast"},
                "eks": {"region": "us-east-1", "clusterName": "c",
                        "nodeRoleArn": "arn:aws:iam::123456789012:role/nodes"}}[provider]
    doc = {"apiVersion": "reconciler/v1", "kind": "NodePoolSet",
           "cluster": {"name": "demo", "provider": provider, "settings": settings},
           "nodePools": [{"name": "apps", **pool}]}
    return [e.message for e in Draft202012Validator(schema()).iter_errors(doc)]


@pytest.mark.parametrize("pool", [
    {"autoscaling": {"enabled": True}},
    {"autoscaling": {"enabled": True, "min": 1}},
    {"labels": {"kubernetes.azure.com/mode": "user"}},
    {"labels": {"kompox.dev/owner": "me"}},
    {"labels": {"Example.com/team": "a"}},
    {"labels": {"team": "-a"}},
    {"name": "My-pool"},
    {"zones": ["01"]},
    {"zones": ["japan east-1"]},
], ids=repr)
def test_schema_alone_refuses(pool: dict[str, Any]) -> None:
    assert _errors(pool)


@pytest.mark.parametrize("pool", [
    {"autoscaling": {"enabled": False}},  # without desired: the live count is kept
    {"autoscaling": {"enabled": False, "desired": 2}},
    {"autoscaling": {"enabled": True, "min": 0, "max": 3}},
    {"labels": {"kompox.dev/node-pool": "apps", "kompox.dev/node-zone": "japaneast-1",
                "example.com/team": "a.b_c-d", "empty": ""}},
    {"zones": ["japaneast-1", 2, "3"]},
], ids=repr)
def test_schema_alone_accepts(pool: dict[str, Any]) -> None:
    assert _errors(pool) == []


def test_eks_names_and_zones_follow_eks_not_aks() -> None:
    # EKS node group names allow capitals and dashes; its zones are us-east-1a, not 1.
    assert _errors({"name": "Web-1", "labels": {"kompox.dev/node-pool": "x"}}, "eks") == []
    assert _errors({"labels": {"eks.amazonaws.com/nodegroup": "x"}}, "eks")


def test_every_example_is_valid_for_the_schema_alone() -> None:
    validator = Draft202012Validator(schema())
    files = sorted((ROOT / "examples").rglob("*.yaml"))
    checked = 0
    for file in files:
        data = yaml.safe_load(file.read_text())
        if isinstance(data, dict) and data.get("kind") == "NodePoolSet":
            assert [e.message for e in validator.iter_errors(data)] == [], file
            checked += 1
    assert checked


def test_status_is_hidden_from_completion_and_pools_have_a_snippet() -> None:
    pool = schema()["$defs"]["nodePool"]
    assert pool["properties"]["status"]["doNotSuggest"] is True
    assert any(s["body"].get("name") for s in pool["defaultSnippets"])

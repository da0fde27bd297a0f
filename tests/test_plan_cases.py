"""Golden plan cases: tests/cases/<name>/ holds desired.yaml, live.json and the expected plan.

live.json is what AKS's agentPools list returns (``{"value": [agentPool, ...]}``, REST
shape); it reaches the planner through the provider's real mapping, as a listed pool does.
Each case is planned by the pure engine; the plan must equal expected.json (the plan JSON)
and expected.txt (the terminal view, colour off). REGENERATE=1 rewrites the expected
files; review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired.load import load_desired
from reconciler.model import Capabilities, NodePool
from reconciler.plan.jsonplan import plan_from_json, plan_to_json
from reconciler.plan.planner import make_plan
from reconciler.providers.aks.mapping import pool_from_arm
from reconciler.registry import capabilities_for
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

CASES = Path(__file__).parent / "cases"
PLAN_SCHEMA = Path(__file__).parents[1] / "schemas" / "plan.schema.json"


def live_pools(file: Path, caps: Capabilities) -> list[NodePool]:
    """live.json, an agentPools list answer, read as the AKS and local drivers read it."""
    listed: dict[str, Any] = json.loads(file.read_text())
    return [pool_from_arm(raw, caps.location) for raw in listed["value"]]


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_plan_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = CASES / case
    monkeypatch.chdir(folder)
    desired = load_desired("desired.yaml")
    caps = capabilities_for(desired.cluster.provider, desired.cluster.settings)
    plan = make_plan(desired, live_pools(folder / "live.json", caps), caps)
    got_json = json.dumps(plan_to_json(plan), indent=2) + "\n"
    got_text = render_text(plan, color=False)
    if os.environ.get("REGENERATE"):
        (folder / "expected.json").write_text(got_json)
        (folder / "expected.txt").write_text(got_text)
    assert got_json == (folder / "expected.json").read_text()
    assert got_text == (folder / "expected.txt").read_text()


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_plan_json_is_lossless_and_valid(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`show` of a saved plan prints what `plan` printed: the JSON keeps everything the
    views use, and every plan document matches the published plan schema."""
    from jsonschema import Draft202012Validator

    folder = CASES / case
    monkeypatch.chdir(folder)
    desired = load_desired("desired.yaml")
    caps = capabilities_for(desired.cluster.provider, desired.cluster.settings)
    plan = make_plan(desired, live_pools(folder / "live.json", caps), caps)
    document = json.loads(json.dumps(plan_to_json(plan)))
    validator = Draft202012Validator(json.loads(PLAN_SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(document)] == []
    shown = plan_from_json(document)
    assert render_text(shown, color=False) == render_text(plan, color=False)
    assert render_markdown(shown) == render_markdown(plan)
    assert plan_to_json(shown) == plan_to_json(plan)

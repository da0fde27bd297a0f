"""Properties over random desired files and random live clusters on the local provider:
apply then plan yields zero changes, and no pool the plan did not delete ever disappears."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reconciler.app import plan_file
from reconciler.apply.executor import execute
from reconciler.plan import ActionKind
from reconciler.providers.local.store import AgentPoolStore

NAMES = ["sys", "sys2", "apps", "batch", "gpu", "web"]
LOCATION = "japaneast"


class QuietEvents:
    def started(self, action: object) -> None: ...
    def progress(self, action: object, message: str) -> None: ...
    def finished(self, result: object) -> None: ...


def instance_type(name: str) -> str:
    # Immutable fields follow the name so most random plans are applicable.
    return f"Standard_D{2 + len(name)}s_v5"


@st.composite
def pool_entry(draw: Any, name: str, mode: str) -> dict[str, Any]:
    spot = mode == "user" and draw(st.booleans()) and name == "batch"
    zones = [z for z in ("1", "2", "3") if (len(name) + int(z)) % 2 == 0]
    entry: dict[str, Any] = {"name": name, "mode": draw(st.sampled_from([mode, mode.title()])),
                             "instanceType": instance_type(name)}
    if spot:
        entry["priority"] = "spot"
    if zones and draw(st.booleans()):
        shown = [draw(st.sampled_from([z, f"{LOCATION}-{z}"])) for z in zones]
        entry["zones"] = draw(st.permutations(shown))
    if draw(st.booleans()):
        entry["labels"] = draw(st.dictionaries(st.sampled_from(["team", "tier", "app"]),
                                               st.sampled_from(["a", "b", "c1"]), max_size=3))
    low = 1 if mode == "system" else 0
    if draw(st.booleans()):
        minimum = draw(st.integers(low, 3))
        entry["autoscaling"] = {"enabled": True, "min": minimum,
                                "max": draw(st.integers(minimum, 5))}
    else:
        entry["autoscaling"] = {"enabled": False, "desired": draw(st.integers(low, 4))}
    if draw(st.booleans()):
        entry["extensions"] = {"aks": {"nodeTaints": draw(st.lists(
            st.sampled_from(["a=b:NoSchedule", "c=d:NoExecute"]), unique=True, max_size=2))}}
    return entry


@st.composite
def desired_file(draw: Any) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1, max_size=5))
    system = draw(st.sampled_from(names))
    pools = [draw(pool_entry(n, "system" if n == system or n.startswith("sys") else "user"))
             for n in names]
    return {"apiVersion": "reconciler/v1", "kind": "NodePoolSet",
            "cluster": {"name": "prop", "provider": "local",
                        "settings": {"stateFile": "state.json", "location": LOCATION}},
            "policy": {"prune": draw(st.sampled_from(["owned", "all", "none"]))},
            "nodePools": pools}


def write(folder: Path, name: str, document: dict[str, Any]) -> str:
    path = folder / name
    path.write_text(json.dumps(document))  # JSON is YAML
    return str(path)


def seed_unmanaged(folder: Path, names: list[str]) -> None:
    """Pools created outside the tool (no ownership marker) beside the owned ones."""
    state = folder / "state.json"
    current = json.loads(state.read_text())["agentPools"] if state.exists() else {}
    store = AgentPoolStore(current, location=LOCATION)
    for name in names:
        if store.get(name) is None:
            store.put(name, {"properties": {"vmSize": instance_type(name), "count": 1,
                                            "mode": "User"}})
    state.write_text(json.dumps({"formatVersion": 1, "agentPools": store.snapshot()}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=desired_file(), target=desired_file(),
       unmanaged=st.lists(st.sampled_from(["legacy", "np1", "apps"]), unique=True, max_size=2))
def test_apply_converges_and_deletes_only_what_the_plan_says(
        initial: dict[str, Any], target: dict[str, Any], unmanaged: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = plan_file(write(folder, "initial.yaml", initial))
        if first.plan.ok:
            assert execute(first.plan, first.driver, QuietEvents()).ok
        seed_unmanaged(folder, unmanaged)
        planned = plan_file(write(folder, "target.yaml", target))
        note(f"plan: {planned.plan}")
        before = {p.name for p in planned.live}
        if not planned.plan.ok:
            return  # a rejected plan is never applied (the CLI tests check that)
        report = execute(planned.plan, planned.driver, QuietEvents())
        assert report.ok, [r.error for r in report.results if r.error]
        after = {p.name for p in planned.driver.list()}
        deleted = {a.pool for a in planned.plan.actions if a.kind is ActionKind.DELETE}
        assert before - after == deleted
        again = plan_file(str(folder / "target.yaml"))
        assert again.plan.ok and not again.plan.actions, again.plan

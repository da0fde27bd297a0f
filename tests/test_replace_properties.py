"""Property: with ``immutableChanges: replace``, any sequence of edits (immutable fields
included) converges on the local provider, also when a replacement's delete fails on the
way, and no logical pool listed before and after an apply is ever without a provider pool,
at any point of the apply."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from reconciler.app import plan_file
from reconciler.apply.executor import execute
from reconciler.errors import ProviderError
from reconciler.model import NodePool
from reconciler.providers.local.driver import LocalDriver

NAMES = ["sys", "web", "batch"]


class QuietEvents:
    def started(self, action: object) -> None: ...
    def progress(self, action: object, message: str) -> None: ...
    def finished(self, result: object) -> None: ...


class WatchedDriver(LocalDriver):
    """The local driver checking, after every delete, that each watched logical pool still
    has a provider pool; it can fail the first delete it is asked for."""

    watched: set[str]
    fail_first_delete: bool
    gaps: list[str]

    def delete(self, name: str, etag: str | None = None, progress: Any = None) -> None:
        if self.fail_first_delete:
            self.fail_first_delete = False
            raise ProviderError("drain blocked by a PodDisruptionBudget")
        super().delete(name, etag, progress)
        left = {str(pool.name) for pool in self.list()}
        self.gaps += sorted(self.watched - left)

    def create(self, pool: NodePool, progress: Any = None) -> NodePool:
        return super().create(pool, progress)


@st.composite
def edit(draw: Any) -> dict[str, Any]:
    names = ["sys", *draw(st.lists(st.sampled_from(NAMES[1:]), unique=True))]
    pools = []
    for name in names:
        entry: dict[str, Any] = {
            "name": name, "mode": "system" if name == "sys" else "user",
            "instanceType": draw(st.sampled_from(["Standard_D4s_v5", "Standard_D8s_v5"])),
            "autoscaling": {"enabled": False, "desired": draw(st.integers(1, 3))}}
        if draw(st.booleans()):
            entry["osDiskSizeGiB"] = draw(st.sampled_from([128, 256]))
        if draw(st.booleans()):
            entry["zones"] = draw(st.sampled_from([["1"], ["1", "2"], ["3"]]))
        if draw(st.booleans()):
            entry["labels"] = {"team": draw(st.sampled_from(["a", "b"]))}
        pools.append(entry)
    return {"apiVersion": "reconciler/v1", "kind": "NodePoolSet",
            "cluster": {"name": "prop", "provider": "local",
                        "settings": {"stateFile": "state.json", "location": "japaneast"}},
            "policy": {"immutableChanges": "replace"}, "nodePools": pools}


def apply(path: str, watched: set[str], fail_first_delete: bool) -> list[str]:
    planned = plan_file(path)
    assert planned.plan.ok, planned.plan.errors
    driver = WatchedDriver(planned.desired.cluster)
    driver.watched, driver.fail_first_delete, driver.gaps = watched, fail_first_delete, []
    execute(planned.plan, driver, QuietEvents())
    return driver.gaps


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(edit(), st.booleans()), min_size=1, max_size=4))
def test_edits_with_replace_converge_and_never_empty_a_pool(
        edits: list[tuple[dict[str, Any], bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = str(folder / "pools.json")
        before: set[str] = set()
        for document, fail_a_delete in edits:
            note(json.dumps(document))
            Path(path).write_text(json.dumps(document))
            listed = {pool["name"] for pool in document["nodePools"]}
            watched = before & listed
            gaps = apply(path, watched, fail_a_delete)
            if fail_a_delete:
                gaps += apply(path, watched, False)  # the next apply finishes the job
            assert gaps == [], f"logical pools left without a provider pool: {gaps}"
            again = plan_file(path).plan
            assert again.actions == (), [(a.kind, a.pool) for a in again.actions]
            live = {str(pool.name) for pool in plan_file(path).live}
            assert live == listed
            before = listed

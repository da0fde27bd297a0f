"""Updates after a long create phase re-read their pool (one GET) instead of sending the
plan-time body: the autoscaler's count and the pool's eTag move while creates run. The
GET happens only when a write of this apply ended after the listing and the listing is
at least ``refreshAfterSeconds`` old; never in an apply that wrote nothing before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from emulator_session import EmulatorSession, arm_pool

from reconciler.app import plan_file
from reconciler.apply.executor import ActionResult, ApplyReport, Outcome, execute
from reconciler.emulator.requestlog import RequestLog
from reconciler.plan import Action, ActionKind

OWNED = {"managed-by": "reconciler"}
LIVE = [arm_pool("system", "System", enableAutoScaling=True, minCount=1, maxCount=5,
                 count=1, tags=OWNED),
        arm_pool("batch", count=2, tags=OWNED, nodeLabels={"team": "a"})]
UPDATES = """nodePools:
  - name: system
    mode: system
    labels: {tier: core}
    autoscaling: {enabled: true, min: 1, max: 5}
  - name: batch
    mode: user
    labels: {team: b}
    autoscaling: {enabled: false, desired: 2}
"""
CREATE = """  - name: extra
    mode: user
    autoscaling: {enabled: false, desired: 1}
"""


class AfterCreates:
    """ApplyEvents that run ``hook`` once every create has ended (before any update)."""

    def __init__(self, hook: Callable[[], None] = lambda: None) -> None:
        self.hook = hook

    def started(self, action: Action) -> None: ...
    def progress(self, action: Action, message: str) -> None: ...

    def finished(self, result: ActionResult) -> None:
        if result.action.kind is ActionKind.CREATE:
            self.hook()


def rereads(log: RequestLog) -> dict[str, int]:
    """GETs of each pool sent before its first write (the LRO's final GET comes after)."""
    counts: dict[str, int] = {}
    written: set[str] = set()
    for entry in log.entries:
        pool = entry.path.rsplit("/", 1)[1]
        if entry.is_write:
            written.add(pool)
        elif entry.is_pool_get and pool not in written:
            counts[pool] = counts.get(pool, 0) + 1
    return counts


def apply(session: EmulatorSession, tmp_path: Path, pools: str, refresh: float,
          hook: Callable[[], None] = lambda: None) -> ApplyReport:
    path = session.write_desired(tmp_path / "pools.yaml", pools, refreshAfterSeconds=refresh)
    planned = plan_file(str(path))
    session.request_log.clear()
    return execute(planned.plan, planned.driver, AfterCreates(hook))


def test_an_apply_that_wrote_nothing_before_sends_no_extra_read(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset(LIVE)
    report = apply(aks_emulator, tmp_path, UPDATES, refresh=0)
    assert report.ok
    assert rereads(aks_emulator.request_log) == {}
    assert len(aks_emulator.request_log.writes) == 2  # the floor: one write per action


@pytest.mark.parametrize(("refresh", "expected"), [(0, {"system": 1, "batch": 1}),
                                                   (3600, {})])
def test_updates_after_a_create_phase_read_their_pool_once_when_the_listing_is_old(
        aks_emulator: EmulatorSession, tmp_path: Path, refresh: float,
        expected: dict[str, int]) -> None:
    aks_emulator.reset(LIVE, lro_seconds=0.05)
    report = apply(aks_emulator, tmp_path, UPDATES + CREATE, refresh=refresh)
    assert report.ok
    assert rereads(aks_emulator.request_log) == expected
    assert len(aks_emulator.request_log.list_pages) == 0  # a GET of the pool, never a list


def autoscaler_scales(session: EmulatorSession, to: int) -> Callable[[], None]:
    """What the cluster autoscaler does while the creates run: a new count and eTag."""
    def scale() -> None:
        body = session.store.get("system")
        body["properties"]["count"] = to
        session.store.put("system", body)
    return scale


def test_an_update_after_the_autoscaler_moved_keeps_its_count_and_is_not_stale(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset(LIVE)
    report = apply(aks_emulator, tmp_path, UPDATES + CREATE, refresh=0,
                   hook=autoscaler_scales(aks_emulator, 4))
    assert report.ok, report.results
    system = aks_emulator.store.get("system")["properties"]
    assert system["nodeLabels"]["tier"] == "core"
    assert system["count"] == 4  # the autoscaler's count, not the plan-time 1
    [put] = aks_emulator.request_log.find("PUT", "/agentPools/system$")
    assert put.body["properties"]["count"] == 4


def test_without_the_read_the_same_update_fails_as_changed_since_the_plan(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    # The other side of the test above: the plan-time eTag no longer matches.
    aks_emulator.reset(LIVE)
    report = apply(aks_emulator, tmp_path, UPDATES + CREATE, refresh=3600,
                   hook=autoscaler_scales(aks_emulator, 4))
    outcome = {r.action.pool: r for r in report.results}["system"]
    assert outcome.outcome is Outcome.FAILED
    assert "changed since the plan; run plan again" in str(outcome.error)


def test_a_real_change_during_the_create_phase_is_still_refused_without_a_write(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset(LIVE)

    def someone_relabels() -> None:
        body = aks_emulator.store.get("batch")
        body["properties"]["nodeLabels"] = {"team": "someone"}
        aks_emulator.store.put("batch", body)

    report = apply(aks_emulator, tmp_path, UPDATES + CREATE, refresh=0, hook=someone_relabels)
    outcome = {r.action.pool: r for r in report.results}["batch"]
    assert outcome.outcome is Outcome.FAILED
    assert "pool 'batch' changed since the plan; run plan again" in str(outcome.error)
    assert aks_emulator.request_log.find("PUT", "/agentPools/batch$") == []
    assert aks_emulator.store.get("batch")["properties"]["nodeLabels"] == {"team": "someone"}

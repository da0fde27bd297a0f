"""The steps behind the commands: build a plan from a file, or reload a saved one."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.desired.load import load_desired
from reconciler.driver import Driver
from reconciler.model import DesiredState, NodePool
from reconciler.plan import Plan
from reconciler.plan.planner import make_plan
from reconciler.plan.savedplan import check_fresh, desired_file_for, read_saved_plan
from reconciler.registry import driver_for


@dataclass(frozen=True)
class Planned:
    """A plan together with what produced it."""

    desired: DesiredState
    driver: Driver
    live: tuple[NodePool, ...]
    plan: Plan


def plan_file(path: str) -> Planned:
    """Validate ``path``, list the live pools once, and plan."""
    desired = load_desired(path)
    driver = driver_for(desired.cluster)
    live = tuple(driver.list())
    return Planned(desired, driver, live, make_plan(desired, live, driver.capabilities))


def replan_saved(path: str, desired_file: str | None = None) -> Planned:
    """Recompute a saved plan from its desired file and the cluster; refuse it if either
    changed. ``desired_file`` is the operator's ``--file``; the plan never chooses one."""
    saved = read_saved_plan(path)
    planned = plan_file(desired_file_for(saved, path, desired_file))
    check_fresh(saved, planned.desired, planned.plan)
    return planned

"""Fault campaign: random clusters, random desired files and random ARM faults, through the
real CLI (``reconciler apply``) against the AKS emulator over HTTPS.

Each run is reproducible from its seed (``RELIABILITY_SEED`` + run index). The default
``pytest`` run does a few runs, chosen so that between them they reach every branch of the
checks below (``SMALL_OFFSETS``, ``COVERAGE``); ``pytest -m soak`` does SOAK_RUNS runs
(``RELIABILITY_RUNS`` sets the number of runs of either, ``RELIABILITY_BUDGET_SECONDS``
stops early, after at least MIN_RUNS). Before any fault is added the expected outcome of
every action is predicted from the fault rules alone (the oracle below), then the apply is
checked against it and against invariants that hold whatever happened:

- every planned action is reported exactly once: applied, failed or not started;
- the exit code is 0 when everything was applied and 1 otherwise; nothing starts after a
  failure; a pool whose action did not start received no write;
- an action fails only when a fault could not be retried away (the oracle said so);
- no pool disappears unless the plan deleted it; pools outside the plan are untouched
  (same eTag); nothing appears that the plan did not create;
- after the run, a fresh plan lists only pools whose action failed or did not start;
  apply again without faults exits 0 and the final plan has zero changes;
- every fault rule added fired, or the run explains why it could not (``why_not_fired``:
  the plan was rejected, the list failed, its action did not start or never sends that
  request, ...); a fault that was retried away fired exactly ``times`` times.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool
from reliability_support import parse_outcomes

from reconciler.app import plan_file
from reconciler.apply.executor import phases
from reconciler.cli import cli
from reconciler.emulator.faults import FaultRule
from reconciler.plan import ActionKind, Plan

DEFAULT_SEED = 20260301
SEED = int(os.environ.get("RELIABILITY_SEED", DEFAULT_SEED))
SOAK_RUNS = 100
# The default run: these runs (seeds SEED + offset), which between them reach every branch
# of COVERAGE with the default seed (the test fails if they stop doing so: choose others).
SMALL_OFFSETS = (0, 2, 4, 14, 61, 76)
# Set: this many runs (consecutive seeds) in the default run and in the soak alike.
RUNS_ASKED = os.environ.get("RELIABILITY_RUNS")
# Set: stop once this many seconds have passed, after at least MIN_RUNS runs.
BUDGET_SECONDS = float(os.environ.get("RELIABILITY_BUDGET_SECONDS", "inf"))
MIN_RUNS = 30
NAMES = ["sys", "sys2", "apps", "batch", "gpu", "web", "legacy"]
LABEL_KEYS = ["team", "tier", "app"]
LABEL_VALUES = ["a", "b", "c1"]
TAINTS = ["a=b:NoSchedule", "c=d:NoExecute"]
# Make 409s cheap to wait out; everything else is FAST_DRIVER_SETTINGS (retryTotal 3).
DRIVER_OVERRIDES = {"conflictTimeoutSeconds": 0.5}
# On a cluster that runs one agentpool operation at a time, an action may wait for all
# the others (up to ~5 x 0.2 s): a 409 rule of 50 still outlasts this (~9 tries).
SERIAL_DRIVER_OVERRIDES = {"conflictTimeoutSeconds": 5}


def instance_type(name: str) -> str:
    """Immutable fields follow the name, so most random plans are applicable."""
    return f"Standard_D{2 + len(name)}s_v5"


# -- random clusters and files ------------------------------------------------------------


def random_labels(rng: random.Random) -> dict[str, str]:
    """Up to three user labels."""
    keys = rng.sample(LABEL_KEYS, rng.randint(0, 3))
    return {key: rng.choice(LABEL_VALUES) for key in keys}


def random_live(rng: random.Random) -> list[dict[str, Any]]:
    """ARM agent pools: always a system pool, some user pools, some not owned."""
    names = ["sys", *rng.sample(NAMES[1:], rng.randint(0, 4))]
    pools = []
    for name in names:
        system = name == "sys" or (name == "sys2" and rng.random() < 0.5)
        props: dict[str, Any] = {"vmSize": instance_type(name),
                                 "nodeLabels": random_labels(rng)}
        if rng.random() < 0.75:
            props["tags"] = {"managed-by": "reconciler"}
        if rng.random() < 0.5:
            low = rng.randint(1 if system else 0, 3)
            props.update(enableAutoScaling=True, minCount=low, maxCount=rng.randint(low, 5),
                         count=max(low, 1))
        else:
            props["count"] = rng.randint(1 if system else 0, 4)
        if rng.random() < 0.3:
            props["nodeTaints"] = rng.sample(TAINTS, rng.randint(1, 2))
        pools.append(arm_pool(name, "System" if system else "User", **props))
    return pools


def random_entry(rng: random.Random, name: str) -> dict[str, Any]:
    """One desired pool: mutable fields random, immutable ones (nearly always) unchanged."""
    system = name.startswith("sys")
    entry: dict[str, Any] = {"name": name, "mode": "system" if system else "user"}
    if rng.random() < 0.8:
        entry["instanceType"] = instance_type(name)
    elif rng.random() < 0.2:
        entry["instanceType"] = "Standard_E4s_v5"  # an immutable change: a plan error
    if rng.random() < 0.7:
        entry["labels"] = random_labels(rng)
    low = 1 if system else 0
    if rng.random() < 0.5:
        minimum = rng.randint(low, 3)
        entry["autoscaling"] = {"enabled": True, "min": minimum,
                                "max": rng.randint(minimum, 5)}
    else:
        entry["autoscaling"] = {"enabled": False, "desired": rng.randint(low, 4)}
    if rng.random() < 0.3:
        entry["extensions"] = {"aks": {"nodeTaints": rng.sample(TAINTS, rng.randint(0, 2))}}
    return entry


def random_desired(rng: random.Random) -> tuple[list[dict[str, Any]], str]:
    """Desired pools and the prune policy."""
    names = rng.sample(NAMES, rng.randint(1, 5))
    if "sys" not in names and rng.random() < 0.85:
        names.append("sys")
    return [random_entry(rng, n) for n in names], rng.choice(["owned", "owned", "all", "none"])


# -- faults and the oracle ----------------------------------------------------------------

OK, FAIL, MAY_FAIL = "ok", "fail", "may fail"
SDK_ATTEMPTS = 4  # retryTotal 3: the fourth consecutive failure is final


@dataclass(frozen=True)
class FaultSpec:
    """One fault rule: ``target`` is list | polling | pool; ``kind`` a RULE_BODIES key."""

    target: str
    method: str
    pool: str
    kind: str
    times: int
    nth: int = 1


def retried_away(spec: FaultSpec) -> bool:
    """Whether the retries outlast the rule (409s: waited out for 0.5 s, or 5 s)."""
    if spec.kind == "lro_failed":
        return False
    if spec.kind == "409":
        return spec.times <= 2  # the other choice, 50, outlasts conflictTimeoutSeconds
    return spec.times < SDK_ATTEMPTS


def list_exhausted(specs: list[FaultSpec]) -> bool:
    """The apply's one list request cannot get through: nothing may be written."""
    return any(s.target == "list" and not retried_away(s) for s in specs)


def fatal_faults(specs: list[FaultSpec], kind: str, pool: str) -> list[FaultSpec]:
    """The rules that make an action fail, if it is started.

    A rule on the pool's write (or on the LRO's final GET of a created or updated pool)
    that cannot be retried away; and exhausted polling rules, which land on whichever
    action polls at the time (so they may or may not hit this one).
    """
    write = "DELETE" if kind == "delete" else "PUT"
    meets = {write} if kind == "delete" else {write, "GET"}
    own = [s for s in specs if s.target == "pool" and s.pool == pool and s.method in meets
           and not retried_away(s)]
    return own + [s for s in specs if s.target == "polling" and not retried_away(s)]


def expected_outcome(specs: list[FaultSpec], kind: str, pool: str) -> str:
    """OK, FAIL or MAY_FAIL for an action that is started (see ``fatal_faults``)."""
    targets = {spec.target for spec in fatal_faults(specs, kind, pool)}
    return FAIL if "pool" in targets else MAY_FAIL if targets else OK



def random_faults(rng: random.Random, plan: Plan) -> list[FaultSpec]:
    """Up to four fault rules, at most one per (target, method) so each is attributable."""
    targets: list[tuple[str, str, str]] = [("list", "GET", "")]
    targets.append(("polling", "GET", ""))
    for action in plan.actions:
        write = "DELETE" if action.kind is ActionKind.DELETE else "PUT"
        targets.append(("pool", write, action.pool))
        targets.append(("pool", "GET", action.pool))  # the LRO's final GET of the pool
        targets.append(("pool", "PUT" if write == "DELETE" else "DELETE", action.pool))
    chosen = rng.sample(targets, min(len(targets), rng.randint(0, 4)))
    specs = []
    for target, method, pool in chosen:
        kinds = ["429", "500", "503", "drop"]
        if target == "pool" and method != "GET":
            kinds += ["409", "lro_failed"]
        kind = rng.choice(kinds)
        if kind == "409":
            times = rng.choice([1, 2, 50])  # waited out, or never (50 outlasts the timeout)
        elif kind == "lro_failed":
            times = 1
        else:
            times = rng.choice([1, 2, 3, 4, 6])  # retryTotal 3: four failures exhaust it
        nth = rng.randint(1, 4) if target == "polling" else 1
        specs.append(FaultSpec(target, method, pool, kind, times, nth))
    return specs


# What the failure line must say for each fault kind: the provider's own words.
FAILURE_WORDS = {"429": "(Throttled)", "500": "(InternalServerError)",
                 "503": "(ServiceUnavailable)", "drop": "no answer from",
                 "409": "another operation is still in progress",
                 "lro_failed": "the operation ended Failed: VM has reported a failure"}
RULE_BODIES: dict[str, dict[str, Any]] = {
    "429": {"status": 429, "code": "Throttled", "retry_after": 0.05,
            "message": "The request was throttled. Retry after 0.05 seconds."},
    "500": {"status": 500, "code": "InternalServerError"},
    "503": {"status": 503, "code": "ServiceUnavailable",
            "message": "The service is temporarily unavailable."},
    "drop": {"action": "drop"},
    "409": {"status": 409, "code": "OperationNotAllowed",
            "message": "Another agentpool operation (Updating) is in progress, please wait"
                       " for it to finish before starting a new operation."},
    "lro_failed": {"action": "lro_failed", "code": "VMExtensionProvisioningError",
                   "message": "VM has reported a failure when processing extension"},
}


RULE_PATHS = {"list": r"/agentPools$", "polling": r"/locations/[^/]+/operation"}


def add_rule(session: EmulatorSession, spec: FaultSpec) -> FaultRule:
    """Install ``spec`` in the emulator."""
    path = RULE_PATHS.get(spec.target, rf"/agentPools/{spec.pool}$")
    return session.faults.add(method=spec.method, path=path, nth=spec.nth, times=spec.times,
                              **RULE_BODIES[spec.kind])


# The requests an action sends to its own pool: its write, and after a PUT's long-running
# operation the SDK's final GET of the pool (a DELETE's result is read from the operation).
SENDS = {"create": {"PUT", "GET"}, "update": {"PUT", "GET"}, "delete": {"DELETE"}}


def why_not_fired(spec: FaultSpec, stage: str, kinds: dict[str, str],
                  result: dict[str, str], polls: int) -> str | None:
    """Why the rule of ``spec`` could not fire in this run; None: it had to fire.

    ``stage``: "plan rejected", "list failed" (apply's list could not get
    through) or "applied" (the actions ran: ``result`` maps each pool to its outcome);
    ``kinds`` maps each planned pool to its action; ``polls``: operation polls logged.
    """
    if spec.target == "list":
        return None  # apply lists the pools first, whatever the plan turns out to be
    if stage != "applied":
        return stage  # nothing was written, so nothing was polled either
    if spec.target == "polling":
        # Which poll is the nth depends on timing: a run may poll fewer times than that.
        return "too few polls" if polls < spec.nth else None
    kind = kinds[spec.pool]
    if spec.method not in SENDS[kind]:
        return f"{kind} sends no {spec.method}"
    outcome = result.get(spec.pool)
    if outcome == "not started":
        return "action not started"
    if outcome == "failed" and spec.method == "GET":
        return "action failed before its final GET"  # the write or the operation failed
    return None


def check_rules(specs: list[FaultSpec], fired: list[int], stage: str, plan: Plan,
                result: dict[str, str], polls: int, campaign: Campaign,
                violation: Any) -> None:
    """Every rule fired, or ``why_not_fired`` explains why it could not; a rule that was
    retried away fired ``times`` times (each failure was retried, none was skipped)."""
    kinds = {a.pool: a.kind.value for a in plan.actions}
    for spec, times in zip(specs, fired, strict=True):
        if times:
            campaign.counts["faults that fired"] += 1
            if retried_away(spec) and (spec.target == "list" or spec.target == "pool"
                                       and result.get(spec.pool) == "applied"):
                campaign.reached.add("a fault retried away")
                if times != spec.times:
                    violation(f"{spec} was retried away but fired {times} times, "
                              f"not {spec.times}")
            continue
        reason = why_not_fired(spec, stage, kinds, result, polls)
        if reason is None:
            violation(f"{spec} never fired although it had to (outcomes {result}, "
                      f"{polls} polls)")
            continue
        campaign.counts["faults that could not fire"] += 1
        campaign.cannot_fire[reason] += 1
        campaign.reached.add("could not fire: " + (
            "its action never sends it" if " sends no " in reason else reason))


# -- one run -------------------------------------------------------------------------------


@dataclass
class Campaign:
    """Counts over every run, and every invariant violation with the seed to replay it."""

    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    cannot_fire: Counter[str] = field(default_factory=Counter)  # rules, by why_not_fired
    reached: set[str] = field(default_factory=set)  # branches of COVERAGE met by some run


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def run_once(session: EmulatorSession, folder: Path, seed: int, campaign: Campaign) -> None:
    """One random scenario; violations are appended to ``campaign`` with ``seed``."""
    rng = random.Random(seed)
    counts = campaign.counts

    def violation(message: str) -> None:
        campaign.violations.append(f"seed {seed}: {message}")

    live = random_live(rng)
    pools, prune = random_desired(rng)
    # Drawn apart, so each seed's cluster, file and faults stay what they were.
    serial = random.Random(f"serial {seed}").random() < 0.3
    session.reset(live, lro_seconds=rng.choice([0.02, 0.05, 0.2]),
                  cluster_busy="refuse" if serial else "off")
    path = str(session.write_desired(
        folder / f"run{seed}.yaml", "nodePools: " + json.dumps(pools) + "\n",
        policy_yaml=f"policy: {{prune: {prune}}}\n",
        **(SERIAL_DRIVER_OVERRIDES if serial else DRIVER_OVERRIDES)))
    plan = plan_file(path).plan  # computed before any fault: the plan apply will compute
    before = session.store.snapshot()
    specs = random_faults(rng, plan)
    rules = [add_rule(session, spec) for spec in specs]
    session.request_log.clear()
    parallelism = rng.randint(1, 4)
    applied = cli_run("apply", path, "--yes", "--parallelism", str(parallelism))
    session.emulator.wait_idle()
    fired = [rule.fired for rule in rules]  # by apply alone (the checks list once more)
    polls = session.request_log.count("GET", RULE_PATHS["polling"])
    counts["runs"] += 1
    counts["runs on a cluster that serialises operations"] += serial
    if "waiting for another operation on the cluster" in applied.stderr:
        campaign.reached.add("an action sent again after the cluster answered busy")
    counts["faults injected"] += len(rules)
    counts.update({"faults that fired": 0, "faults that could not fire": 0})  # this order
    counts["requests hit by a fault"] += sum(fired)
    counts["requests"] += len(session.request_log)
    output = applied.stdout + applied.stderr
    if "Traceback" in output or applied.exception and not isinstance(applied.exception,
                                                                     SystemExit):
        violation(f"traceback or exception: {applied.exception!r}\n{output}")
    after = session.store.snapshot()
    writes = session.request_log.writes

    if not plan.ok:
        counts["runs with a rejected plan"] += 1
        campaign.reached.add("a rejected plan")
        if applied.exit_code != 1 or writes or after != before:
            violation(f"rejected plan: exit {applied.exit_code}, {len(writes)} writes")
        check_rules(specs, fired, "plan rejected", plan, {}, polls, campaign, violation)
        return
    result: dict[str, str] = {}
    if list_exhausted(specs):
        counts["runs whose list failed"] += 1
        campaign.reached.add("a failed list")
        if applied.exit_code != 1 or writes or after != before or "error:" not in applied.stderr:
            violation(f"failed list: exit {applied.exit_code}, {len(writes)} writes")
        check_rules(specs, fired, "list failed", plan, result, polls, campaign, violation)
    else:
        result = check_apply(path, plan, specs, applied, before, after, writes, counts,
                             violation)
        check_rules(specs, fired, "applied", plan, result, polls, campaign, violation)
        campaign.reached.update(f"an action {outcome}" for outcome in result.values())
        campaign.reached.update(f"{a.kind.value} planned" for a in plan.actions)
    if converge(session, path, counts, violation) and set(result.values()) - {"applied"}:
        campaign.reached.add("converged after a failure")


def check_apply(path: str, plan: Plan, specs: list[FaultSpec], applied: Result,
                before: dict[str, Any], after: dict[str, Any], writes: list[Any],
                counts: Counter[str], violation: Any) -> dict[str, str]:
    """The report, the exit code and the cluster agree with each other and the oracle.

    Returns each pool's reported outcome (applied, failed or not started)."""
    actions = [(a.kind.value, a.pool) for a in plan.actions]
    outcomes = parse_outcomes(applied.stdout, applied.stderr, actions)
    result: dict[str, str] = {}
    for kind, pool in actions:
        reported = outcomes.of(pool)
        counts["actions"] += 1
        if len(reported) != 1:
            violation(f"{kind} {pool} reported {reported}, not exactly once:\n"
                      f"{applied.stdout}{applied.stderr}")
            continue
        result[pool] = reported[0]
        counts[f"actions {reported[0]}"] += 1
        expected = expected_outcome(specs, kind, pool)
        if reported[0] == "applied" and expected == FAIL:
            violation(f"{kind} {pool} applied although {specs} cannot be retried away")
        if reported[0] == "failed" and expected == OK:
            violation(f"{kind} {pool} failed although every fault on it is retryable: {specs}"
                      f"\n{applied.stdout}")
        if reported[0] == "failed" and expected == MAY_FAIL:
            counts["failures from exhausted polling"] += 1
        if reported[0] == "failed" and expected != OK:
            words = {FAILURE_WORDS[s.kind] for s in fatal_faults(specs, kind, pool)}
            line = next(x for x in applied.stdout.splitlines()
                        if x.startswith(f"  failed to {kind} {pool}: "))
            if not any(w in line for w in words):
                violation(f"failure of {kind} {pool} does not say {words}: {line}")
    values = set(result.values())
    want_exit = 0 if values <= {"applied"} else 1
    if applied.exit_code != want_exit:
        violation(f"exit {applied.exit_code} for outcomes {result}")
    if "not started" in values and "failed" not in values:
        violation(f"actions not started without a failure: {result}")
    phase_of = {a.pool: n for n, phase in enumerate(phases(plan)) for _, a in phase}
    failed_phases = [phase_of[p] for p, outcome in result.items() if outcome == "failed"]
    for pool, outcome in result.items():
        if failed_phases and phase_of[pool] > min(failed_phases) and outcome != "not started":
            violation(f"{pool} started in a phase after a failure: {result}")
    not_started = {pool for pool, outcome in result.items() if outcome == "not started"}
    written = {entry.path.rsplit("/", 1)[1] for entry in writes}
    if written & not_started:
        violation(f"writes sent for actions reported not started: {written & not_started}")
    in_plan = {pool for _, pool in actions}
    for name in set(before) | set(after):
        if (name not in in_plan or name in not_started) and before.get(name) != after.get(name):
            violation(f"pool {name} changed although the plan did not touch it")
    deletes = {a.pool for a in plan.actions if a.kind is ActionKind.DELETE}
    creates = {a.pool for a in plan.actions if a.kind is ActionKind.CREATE}
    if set(before) - set(after) - deletes:
        violation(f"pools disappeared that the plan did not delete: "
                  f"{set(before) - set(after) - deletes}")
    if set(after) - set(before) - creates:
        violation(f"pools appeared that the plan did not create: "
                  f"{set(after) - set(before) - creates}")
    for pool, outcome in result.items():
        if outcome == "applied" and pool in deletes and pool in after:
            violation(f"delete {pool} reported applied but the pool exists")
        if outcome == "applied" and pool in creates and pool not in after:
            violation(f"create {pool} reported applied but the pool does not exist")
    leftover = {a.pool for a in plan_file(path).plan.actions}
    unfinished = {pool for pool, outcome in result.items() if outcome != "applied"}
    if leftover - unfinished:
        violation(f"re-plan still changes pools reported applied: {leftover - unfinished}")
    return result


def converge(session: EmulatorSession, path: str, counts: Counter[str],
             violation: Any) -> bool:
    """Without faults, apply exits 0 and the final plan has zero changes (True: it did)."""
    session.faults.clear()
    again = cli_run("apply", path, "--yes")
    if again.exit_code != 0:
        violation(f"apply without faults exit {again.exit_code}:\n{again.output}")
        return False
    final = cli_run("plan", path, "--detailed-exitcode")
    if final.exit_code != 0 or "No changes." not in final.stdout:
        violation(f"final plan is not empty (exit {final.exit_code}):\n{final.stdout}")
        return False
    counts["runs converged"] += 1
    failed_state = [p["name"] for p in session.cluster.list_pools()
                    if p["properties"].get("provisioningState") == "Failed"]
    counts["pools left provisioningState Failed"] += len(failed_state)
    return True


# What the default run's few runs must reach between them (a soak reaches it by numbers;
# "too few polls" is left out: how often an apply polls depends on timing).
COVERAGE = frozenset({
    "a rejected plan", "a failed list", "create planned", "update planned", "delete planned",
    "an action applied", "an action failed", "an action not started",
    "a fault retried away", "converged after a failure",
    "an action sent again after the cluster answered busy",
    "could not fire: plan rejected", "could not fire: list failed",
    "could not fire: action not started", "could not fire: its action never sends it",
    "could not fire: action failed before its final GET"})


@pytest.mark.parametrize("size", ["small", pytest.param("soak", marks=pytest.mark.soak)])
def test_fault_campaign(size: str, aks_emulator: EmulatorSession, tmp_path: Path,
                        figures: dict[str, Counter[str]]) -> None:
    """Random scenarios x random faults: zero invariant violations."""
    if RUNS_ASKED:
        offsets: Sequence[int] = range(int(RUNS_ASKED))
    else:
        offsets = SMALL_OFFSETS if size == "small" else range(SOAK_RUNS)
    campaign = Campaign()
    started = time.monotonic()
    for done, offset in enumerate(offsets):
        if done >= MIN_RUNS and time.monotonic() - started > BUDGET_SECONDS:
            break
        run_once(aks_emulator, tmp_path, SEED + offset, campaign)
    campaign.counts["seconds"] = round(time.monotonic() - started)
    campaign.counts["violations"] = len(campaign.violations)
    section = "fault campaign" + ("" if size == "small" else " (soak)")
    figures[section] = campaign.counts
    figures[f"{section}, faults that could not fire"] = campaign.cannot_fire
    assert not campaign.violations, "\n\n".join(campaign.violations[:10])
    if offsets is SMALL_OFFSETS and SEED == DEFAULT_SEED:
        missing = sorted(COVERAGE - campaign.reached)
        assert not missing, f"the default runs no longer reach {missing}: pick SMALL_OFFSETS"

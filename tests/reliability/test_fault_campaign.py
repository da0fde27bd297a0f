"""Fault campaign: random clusters, random desired files and random ARM faults, through the
real CLI (``reconciler apply``) against the AKS emulator over HTTPS.

Each run is reproducible from its seed (``RELIABILITY_SEED`` + run index; set
``RELIABILITY_RUNS`` for a longer soak). Before any fault is added the expected outcome of
every action is predicted from the fault rules alone (the oracle below), then the apply is
checked against it and against invariants that hold whatever happened:

- every planned action is reported exactly once: applied, failed or not started;
- the exit code is 0 when everything was applied and 1 otherwise; nothing starts after a
  failure; a pool whose action did not start received no write;
- an action fails only when a fault could not be retried away (the oracle said so);
- no pool disappears unless the plan deleted it; pools outside the plan are untouched
  (same eTag); nothing appears that the plan did not create;
- after the run, a fresh plan lists only pools whose action failed or did not start;
  apply again without faults exits 0 and the final plan has zero changes.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from reliability_support import parse_outcomes

from reconciler.app import plan_file
from reconciler.cli import cli
from reconciler.emulator.faults import FaultRule
from reconciler.emulator.testing import EmulatorSession, arm_pool
from reconciler.executor import phases
from reconciler.plan import ActionKind, Plan

SEED = int(os.environ.get("RELIABILITY_SEED", "20260301"))
RUNS = int(os.environ.get("RELIABILITY_RUNS", "100"))
# A slow CI machine stops early rather than blowing the suite's time; at least MIN_RUNS.
TIME_BUDGET_SECONDS = float(os.environ.get("RELIABILITY_BUDGET_SECONDS", "40"))
MIN_RUNS = 30
NAMES = ["sys", "sys2", "apps", "batch", "gpu", "web", "legacy"]
LABEL_KEYS = ["team", "tier", "app"]
LABEL_VALUES = ["a", "b", "c1"]
TAINTS = ["a=b:NoSchedule", "c=d:NoExecute"]
# Make 409s cheap to wait out; everything else is FAST_DRIVER_SETTINGS (retryTotal 3).
DRIVER_OVERRIDES = {"conflictTimeoutSeconds": 0.5}


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
    """Whether the driver's retries outlast the rule (409s: waited out for 0.5 s)."""
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


def add_rule(session: EmulatorSession, spec: FaultSpec) -> FaultRule:
    """Install ``spec`` in the emulator."""
    path = {"list": r"/agentPools$", "polling": r"/locations/[^/]+/operation",
            "pool": rf"/agentPools/{spec.pool}$"}[spec.target]
    return session.faults.add(method=spec.method, path=path, nth=spec.nth, times=spec.times,
                              **RULE_BODIES[spec.kind])


# -- one run -------------------------------------------------------------------------------


@dataclass
class Campaign:
    """Counts over every run, and every invariant violation with the seed to replay it."""

    counts: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


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
    session.reset(live, lro_seconds=rng.choice([0.02, 0.05, 0.2]))
    path = str(session.write_desired(
        folder / f"run{seed}.yaml", "nodePools: " + json.dumps(pools) + "\n",
        policy_yaml=f"policy: {{prune: {prune}}}\n", **DRIVER_OVERRIDES))
    plan = plan_file(path).plan  # computed before any fault: the plan apply will compute
    before = session.store.snapshot()
    specs = random_faults(rng, plan)
    rules = [add_rule(session, spec) for spec in specs]
    session.request_log.clear()
    parallelism = rng.randint(1, 4)
    applied = cli_run("apply", path, "--yes", "--parallelism", str(parallelism))
    session.emulator.wait_idle()
    counts["runs"] += 1
    counts["faults injected"] += len(rules)
    counts["faults fired"] += sum(rule.fired for rule in rules)
    counts["requests"] += len(session.request_log)
    output = applied.stdout + applied.stderr
    if "Traceback" in output or applied.exception and not isinstance(applied.exception,
                                                                     SystemExit):
        violation(f"traceback or exception: {applied.exception!r}\n{output}")
    after = session.store.snapshot()
    writes = session.request_log.writes

    if not plan.ok:
        counts["runs with a rejected plan"] += 1
        if applied.exit_code != 1 or writes or after != before:
            violation(f"rejected plan: exit {applied.exit_code}, {len(writes)} writes")
        return
    if list_exhausted(specs):
        counts["runs whose list failed"] += 1
        if applied.exit_code != 1 or writes or after != before or "error:" not in applied.stderr:
            violation(f"failed list: exit {applied.exit_code}, {len(writes)} writes")
    else:
        check_apply(path, plan, specs, applied, before, after, writes, counts, violation)
    converge(session, path, counts, violation)


def check_apply(path: str, plan: Plan, specs: list[FaultSpec], applied: Result,
                before: dict[str, Any], after: dict[str, Any], writes: list[Any],
                counts: Counter[str], violation: Any) -> None:
    """The report, the exit code and the cluster agree with each other and the oracle."""
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


def converge(session: EmulatorSession, path: str, counts: Counter[str],
             violation: Any) -> None:
    """Without faults, apply exits 0 and the final plan has zero changes."""
    session.faults.clear()
    again = cli_run("apply", path, "--yes")
    if again.exit_code != 0:
        violation(f"apply without faults exit {again.exit_code}:\n{again.output}")
        return
    final = cli_run("plan", path, "--detailed-exitcode")
    if final.exit_code != 0 or "No changes." not in final.stdout:
        violation(f"final plan is not empty (exit {final.exit_code}):\n{final.stdout}")
        return
    counts["runs converged"] += 1
    failed_state = [p["name"] for p in session.cluster.list_pools()
                    if p["properties"].get("provisioningState") == "Failed"]
    counts["pools left provisioningState Failed"] += len(failed_state)


def test_fault_campaign(aks_emulator: EmulatorSession, tmp_path: Path,
                        figures: dict[str, Counter[str]]) -> None:
    """Random scenarios x random faults: zero invariant violations."""
    campaign = Campaign()
    started = time.monotonic()
    for index in range(RUNS):
        if index >= MIN_RUNS and time.monotonic() - started > TIME_BUDGET_SECONDS:
            break
        run_once(aks_emulator, tmp_path, SEED + index, campaign)
    campaign.counts["seconds"] = round(time.monotonic() - started)
    campaign.counts["violations"] = len(campaign.violations)
    figures["fault campaign"] = campaign.counts
    assert not campaign.violations, "\n\n".join(campaign.violations[:10])

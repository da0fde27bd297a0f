"""The reconciler benchmark suite: run by hand, never by pytest (see benchmarks/README.md).

    python benchmarks/run.py [--runs 15] [--lro-delay 1.0] [--output benchmarks/RESULTS.md]

Every figure is the median of several runs, all measured in one run on one machine:
start-up of the CLI against bare imports, plan against validate, the plan engine at
100 / 1,000 / 10,000 pools, requests per plan and apply against the ARM emulator, and
apply makespan at parallelism 1 and 10, and 20 creates against a cluster that runs one
agentpool operation at a time. Each target is printed with PASS or FAIL.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
POOLS = 100  # an AKS cluster holds at most 100 pools
CREATES = 20  # independent creates for the makespan figure
BUSY_LRO = 0.4  # seconds per operation on the busy cluster: 3 runs of ~8 s
# Fast paths that --without turns off, to re-judge whether each is still needed: each
# line makes the fast path decline, so the careful path (the library) does the work.
FAST_PATHS = {
    "yamlfast": "import reconciler.desired.yamlfast as m; m.fast_document = lambda *_: None",
    "diff": "import reconciler.plan.compare as m; m.changed_fields = lambda *_: None",
    # Not a fast path: the adaptive limit, off (a busy answer leaves the limit where it is).
    "adaptive": ("import reconciler.apply.concurrency as m;"
                 " m.AdaptiveLimit.busy = lambda self: None"),
}


@dataclass(frozen=True)
class Figure:
    """One measured value, and the target it is held to (if any)."""

    section: str
    name: str
    value: str
    target: str = ""
    passed: bool | None = None


# -- helpers -------------------------------------------------------------------------------


def median_seconds(work: Callable[[], object], runs: int, warmups: int = 1) -> float:
    """Median wall time of ``work`` over ``runs`` calls, after ``warmups`` unmeasured ones."""
    for _ in range(warmups):
        work()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def subprocess_env(work: Path, pure_yaml: bool) -> dict[str, str]:
    """Bytecode cached (as for an installed tool) in a private folder, not in the tree.

    ``pure_yaml`` hides ruamel.yaml.clibz from the processes (a sitecustomize module), to
    measure an install without it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["NO_COLOR"] = "1"
    if pure_yaml:
        hook = work / "hide-clibz"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(
            "import sys\nsys.modules['_ruamel_yaml_clibz'] = None\n", encoding="utf-8")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    return env


def commands_seconds(commands: dict[str, list[str]], env: dict[str, str], cwd: Path,
                     runs: int) -> dict[str, float]:
    """Median wall time of each command (output discarded; each must succeed).

    Commands take turns, run after run, so a busy moment on the machine weighs on all of
    them alike rather than on whichever was being measured.
    """
    def run(argv: list[str]) -> float:
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 2):
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode()}")
        return elapsed

    for argv in [*commands.values()] * 2:  # warm-up: bytecode cache, page cache
        run(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(run(argv))
    return {name: statistics.median(values) for name, values in times.items()}


def reconciler_argv(without: tuple[str, ...] = ()) -> list[str]:
    """The installed console script beside this Python, else ``python -m reconciler``;
    with fast paths turned off, ``python -c`` that turns them off and runs the CLI."""
    if without:
        return [PYTHON, "-c", "; ".join([*(FAST_PATHS[name] for name in without),
                                         "import sys; sys.argv[0] = 'reconciler'",
                                         "from reconciler.__main__ import main; main()"])]
    script = Path(PYTHON).with_name("reconciler")
    return [str(script)] if script.exists() else [PYTHON, "-m", "reconciler"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# -- inputs ----------------------------------------------------------------------------------


def pool_entries(count: int, max_nodes: int = 3, tier: str = "web") -> str:
    """``nodePools:`` with a system pool and ``count - 1`` user pools, all fields set."""
    lines = ["nodePools:"]
    for index in range(count):
        mode = "system" if index == 0 else "user"
        lines += [f"  - name: p{index:03d}", f"    mode: {mode}",
                  "    instanceType: Standard_D4s_v5", "    osDiskType: Managed",
                  "    osDiskSizeGiB: 128", "    priority: regular",
                  "    zones: [japaneast-1, japaneast-2]",
                  f"    labels: {{team: t{index % 7}, tier: {tier}}}",
                  f"    autoscaling: {{enabled: true, min: 1, max: {max_nodes}}}",
                  "    extensions:", "      aks:",
                  '        nodeTaints: ["workload=web:NoSchedule"]',
                  f"        tags: {{costCenter: cc{index % 3}}}", "        maxPods: 50"]
    return "\n".join(lines) + "\n"


def local_file(folder: Path, name: str, pools: str) -> Path:
    """A desired-state file on the local provider, its state file beside it."""
    path = folder / name
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: bench\n"
                    "  provider: local\n  settings:\n    stateFile: state.json\n"
                    "    location: japaneast\npolicy:\n  prune: owned\n  protect: [p000]\n"
                    + pools, encoding="utf-8")
    return path


class QuietEvents:
    """ApplyEvents that say nothing."""

    def started(self, action: object) -> None: ...
    def progress(self, action: object, message: str) -> None: ...
    def finished(self, result: object) -> None: ...


# -- (1) and (2): start-up, validate, plan -----------------------------------------------------


def startup_figures(work: Path, runs: int, pure_yaml: bool,
                    without: tuple[str, ...] = ()) -> list[Figure]:
    """CLI start-up against bare imports; plan on the local provider against validate."""
    from reconciler.app import plan_file
    from reconciler.apply.executor import execute

    env = subprocess_env(work, pure_yaml)
    cli = reconciler_argv()
    reading = reconciler_argv(tuple(name for name in without if name != "diff"))
    planning = reconciler_argv(without)
    same = local_file(work, "pools.yaml", pool_entries(POOLS))
    changed = local_file(work, "changed.yaml", pool_entries(POOLS, max_nodes=4, tier="api"))
    planned = plan_file(str(same))
    assert execute(planned.plan, planned.driver, QuietEvents(), parallelism=10).ok

    seconds = commands_seconds({
        "bare": [PYTHON, "-c", "pass"],
        "click": [PYTHON, "-c", "import click"],
        "three": [PYTHON, "-c", "import click, ruamel.yaml, jsonschema"],
        "azure": [PYTHON, "-c", "import azure.mgmt.containerservice, azure.identity"],
        "version": [*cli, "--version"],
        "validate": [*reading, "validate", same.name],
        "plan_same": [*planning, "plan", same.name],
        "plan_changed": [*planning, "plan", changed.name],
    }, env, work, runs)
    bare, click, three, azure = (seconds[k] for k in ("bare", "click", "three", "azure"))
    version, validate = seconds["version"], seconds["validate"]
    plan_same, plan_changed = seconds["plan_same"], seconds["plan_changed"]
    s1, s2 = "1 start-up", "2 plan vs validate"
    return [
        Figure(s1, "python -c pass", ms(bare)),
        Figure(s1, "python -c 'import click'", ms(click)),
        Figure(s1, "python -c 'import click, ruamel.yaml, jsonschema'", ms(three)),
        Figure(s1, "python -c 'import azure.mgmt.containerservice, azure.identity'", ms(azure)),
        Figure(s1, "reconciler --version", f"{ms(version)} ({version / click:.2f}x click)",
               "<= 1.3x import click", version <= 1.3 * click),
        Figure(s1, f"reconciler validate ({POOLS} pools)",
               f"{ms(validate)} ({validate / three:.2f}x the three imports)",
               "<= 1.3x import click, ruamel.yaml, jsonschema", validate <= 1.3 * three),
        Figure(s2, f"reconciler plan ({POOLS} pools, local, every pool changed)",
               f"{ms(plan_changed)} ({plan_changed / validate:.2f}x validate)",
               "<= 2x validate", plan_changed <= 2 * validate),
        Figure(s2, f"reconciler plan ({POOLS} pools, local, no changes)",
               f"{ms(plan_same)} ({plan_same / validate:.2f}x validate)",
               "<= 2x validate", plan_same <= 2 * validate),
    ]


def engine_inputs(count: int) -> tuple[Any, list[Any], Any]:
    """Desired state and live pools of ``count`` pools, every pool changed, and capabilities."""
    from reconciler.model import Autoscaling, Cluster, DesiredState, NodePool
    from reconciler.registry import capabilities_for

    desired, live = [], []
    for index in range(count):
        name = f"p{index:05d}"
        fixed: dict[str, Any] = {
            "name": name, "mode": "system" if index == 0 else "user",
            "instance_type": "Standard_D4s_v5", "os_disk_type": "Managed",
            "os_disk_size_gib": 128, "priority": "regular",
            "zones": ("japaneast-1", "japaneast-2")}
        aks = {"nodeTaints": ["workload=web:NoSchedule"], "tags": {"cc": "a"}, "maxPods": 50}
        desired.append(NodePool(**fixed, labels={"team": f"t{index % 7}", "tier": "web"},
                                autoscaling=Autoscaling(enabled=True, min=1, max=5),
                                extensions={"aks": aks}))
        live.append(NodePool(**fixed, provider_name=name,
                             labels={"team": f"t{index % 7}", "tier": "db",
                                     "kompox.dev/node-pool": name},
                             autoscaling=Autoscaling(enabled=True, min=1, max=3, desired=2),
                             extensions={"aks": dict(aks)}, managed=True, etag=f"e{index}"))
    cluster = Cluster("bench", "local", {"location": "japaneast"})
    state = DesiredState(cluster, "owned", (), tuple(desired), "bench.yaml", "")
    # AKS stops at 100 pools; the engine is measured past that, so the limit is lifted here.
    caps = replace(capabilities_for("local", {"location": "japaneast"}), max_pools=count)
    return state, live, caps


def engine_figures(runs: int) -> list[Figure]:
    """The plan engine in-process (desired + live -> plan), every pool changed (with the
    fast paths main() turned off, if any)."""
    from reconciler.plan.jsonplan import render_json
    from reconciler.plan.planner import make_plan
    from reconciler.render.text import render_text

    section = "2 plan engine (in-process)"
    counts = (100, 1_000, 10_000)
    inputs = {count: engine_inputs(count) for count in counts}
    times: dict[int, list[float]] = {count: [] for count in counts}
    for count in counts:  # warm-up, and a check that every pool is an update
        plan = make_plan(*inputs[count])
        assert len(plan.actions) == count and not plan.errors
    # Sizes take turns, so a busy moment on the machine does not land on one size only.
    for _ in range(max(5, runs // 2)):
        for count in counts:
            gc.collect()
            start = time.perf_counter()
            make_plan(*inputs[count])
            times[count].append(time.perf_counter() - start)
    engine = {count: statistics.median(times[count]) for count in counts}
    figures = []
    for count in counts:
        plan = make_plan(*inputs[count])
        render = median_seconds(lambda p=plan: (render_text(p), render_json(p)), 3)
        figures.append(Figure(section, f"engine, {count:,} pools all changed",
                              f"{ms(engine[count])} (+ {ms(render)} text and JSON)"))
    ratio = engine[10_000] / engine[1_000]
    figures.append(Figure(section, "engine 10k / 1k", f"{ratio:.1f}", "<= 12", ratio <= 12))
    figures.append(Figure(section, "engine, 10k pools all changed", ms(engine[10_000]),
                          "< 3 s", engine[10_000] < 3))
    return figures


# -- (3) and (4): the ARM emulator -----------------------------------------------------------


def emulator_pools_yaml(names: list[str], max_nodes: int = 3,
                        bounds: dict[str, int] | None = None) -> str:
    """nodePools for the emulator: the seeded system pool plus user pools (autoscaler
    maximum ``max_nodes``, or the pool's entry in ``bounds``)."""
    lines = ["nodePools:", "  - name: system", "    mode: system",
             "    autoscaling: {enabled: true, min: 1, max: 3}"]
    for name in names:
        high = (bounds or {}).get(name, max_nodes)
        lines += [f"  - name: {name}", "    mode: user", "    instanceType: Standard_D4s_v5",
                  f"    autoscaling: {{enabled: true, min: 1, max: {high}}}"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def emulated() -> Iterator[tuple[Any, dict[str, Any]]]:
    """A started emulator (its session and the seeded system pool), trusted by this
    process for as long as the block runs."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the tests' helpers
    from emulator_session import EmulatorSession, arm_pool, start_test_emulator

    emulator = start_test_emulator(page_size=POOLS + 1)
    session = EmulatorSession(emulator)
    saved = {k: os.environ.get(k) for k in session.env}
    os.environ.update(session.env)
    try:
        yield session, arm_pool("system", "System", enableAutoScaling=True, minCount=1,
                                maxCount=3, tags={"managed-by": "reconciler"})
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        emulator.stop()


def emulator_figures(work: Path, runs: int, delay: float) -> list[Figure]:
    """Requests per plan and apply at the floor; makespan at parallelism 1 and 10."""
    with emulated() as (session, system):
        return [*request_figures(session, work, system),
                *makespan_figures(session, work, system, runs, delay)]


def rereads(log: Any) -> int:
    """GETs of a pool sent before that pool's first write: an update's re-read (the SDK's
    final GET of a long-running operation comes after its write)."""
    written: set[str] = set()
    count = 0
    for entry in log.entries:
        pool = entry.path.rsplit("/", 1)[1]
        if entry.is_write:
            written.add(pool)
        elif entry.is_pool_get and pool not in written:
            count += 1
    return count


def request_figures(session: Any, work: Path, system: dict[str, Any]) -> list[Figure]:
    """Requests per plan and per apply (creates, updates, no change, deletes)."""
    from reconciler.app import plan_file
    from reconciler.apply.executor import execute

    names = [f"p{i:02d}" for i in range(CREATES)]
    half = CREATES // 2
    more = [f"q{i:02d}" for i in range(half)]
    most = [f"r{i:02d}" for i in range(half)]
    first_half = {name: 5 for name in names[:half]}
    session.reset([system], page_size=POOLS + 1, retry_after=0)
    # (label, pools, apply?, settings, re-reads wanted): updates re-read their pool only
    # after a write phase longer than refreshAfterSeconds (60 s by default).
    steps = [("plan (20 to create)", emulator_pools_yaml(names), False, {}, 0),
             ("apply 20 creates", emulator_pools_yaml(names), True, {}, 0),
             ("apply 20 updates", emulator_pools_yaml(names, max_nodes=4), True, {}, 0),
             ("apply with no changes", emulator_pools_yaml(names, max_nodes=4), True, {}, 0),
             (f"apply {half} creates, then {half} updates",
              emulator_pools_yaml(names + more, 4, first_half), True, {}, 0),
             ("the same, refreshAfterSeconds 0 (each update re-reads its pool)",
              emulator_pools_yaml(names + more + most, 4, dict.fromkeys(names[:half], 6)),
              True, {"refreshAfterSeconds": 0}, half),
             (f"apply {CREATES + 2 * half} deletes", emulator_pools_yaml([]), True, {}, 0)]
    figures, extra = [], 0
    for label, pools, apply, settings, want_rereads in steps:
        session.request_log.clear()
        path = session.write_desired(work / "emulated.yaml", pools, **settings)
        planned = plan_file(str(path))
        actions = len(planned.plan.actions)
        if apply:
            assert execute(planned.plan, planned.driver, QuietEvents(), parallelism=10).ok
        log = session.request_log
        lists, writes, reads = len(log.list_pages), len(log.writes), rereads(log)
        want_writes = actions if apply else 0
        extra += max(0, lists - 1) + max(0, writes - want_writes) + max(0, reads - want_rereads)
        figures.append(Figure("3 requests (emulator)", label,
                              f"{lists} list, {writes} writes, {reads} re-reads ({len(log)}"
                              " requests with polls)",
                              f"1 list, {want_writes} writes, {want_rereads} re-reads",
                              (lists, writes, reads) == (1, want_writes, want_rereads)))
    figures.append(Figure("3 requests (emulator)", "requests above the floor", str(extra),
                          "0", extra == 0))
    return figures


def makespan_figures(session: Any, work: Path, system: dict[str, Any], runs: int,
                     delay: float) -> list[Figure]:
    """20 independent creates with a fixed LRO delay, at parallelism 1 and 10."""
    from reconciler.app import plan_file
    from reconciler.apply.executor import execute

    names = [f"p{i:02d}" for i in range(CREATES)]
    path = session.write_desired(work / "makespan.yaml", emulator_pools_yaml(names),
                                 pollingIntervalSeconds=0.05)
    section = f"4 apply makespan ({CREATES} creates, LRO {delay:g} s)"
    makespan = {}
    for parallelism in (1, 10):
        times = []
        for _ in range(max(3, runs // 5)):
            session.reset([system], page_size=POOLS + 1, lro_seconds=delay, retry_after=0)
            planned = plan_file(str(path))
            start = time.perf_counter()
            report = execute(planned.plan, planned.driver, QuietEvents(), parallelism=parallelism)
            times.append(time.perf_counter() - start)
            assert report.ok
        makespan[parallelism] = statistics.median(times)
    ideal = {p: math.ceil(CREATES / p) * delay for p in makespan}
    return [
        Figure(section, "parallelism 1", f"{makespan[1]:.2f} s (ideal {ideal[1]:.1f} s)"),
        Figure(section, "parallelism 10",
               f"{makespan[10]:.2f} s (ideal {ideal[10]:.1f} s, {makespan[10] / ideal[10]:.2f}x)",
               "<= 1.3x ideal", makespan[10] <= 1.3 * ideal[10]),
        Figure(section, "speed-up 10 vs 1", f"{makespan[1] / makespan[10]:.1f}x", ">= 5x",
               makespan[1] / makespan[10] >= 5),
    ]


# -- (5): a cluster that runs one agentpool operation at a time -------------------------------


def busy_figures(work: Path, delay: float) -> list[Figure]:
    """20 creates against a cluster that serialises agentpool operations (emulator mode
    ``refuse``: 409 to every write while another pool's operation runs) and one that
    cancels the earlier of two (``cancel``): makespan against the ideal serial time, PUT
    attempts per action, pools left not Succeeded."""
    from reconciler.app import plan_file
    from reconciler.apply.executor import execute

    names = [f"p{i:02d}" for i in range(CREATES)]
    ideal = CREATES * delay
    section = f"5 busy cluster ({CREATES} creates, LRO {delay:g} s, ideal serial {ideal:g} s)"
    figures = []
    # The AKS defaults for waiting (first retry after 5 s, up to 600 s): a retry is sent
    # as soon as one of our own operations ends, the timer is for other people's.
    timing = {"pollingIntervalSeconds": 0.05, "conflictBackoffSeconds": 5,
              "conflictTimeoutSeconds": 600}
    with emulated() as (session, system):
        path = session.write_desired(work / "busy.yaml", emulator_pools_yaml(names), **timing)
        for mode, parallelism in (("refuse", 1), ("refuse", 10), ("cancel", 10)):
            session.reset([system], page_size=POOLS + 1, lro_seconds=delay, retry_after=0,
                          cluster_busy=mode)
            planned = plan_file(str(path))
            start = time.perf_counter()
            report = execute(planned.plan, planned.driver, QuietEvents(),
                             parallelism=parallelism)
            took = time.perf_counter() - start
            session.emulator.wait_idle()
            puts = session.request_log.find("PUT")
            refused = sum(e.status == 409 for e in puts)
            canceled = sum(op.canceled for op in session.cluster.operations.values())
            left = [p["name"] for p in session.cluster.list_pools()
                    if p["properties"].get("provisioningState") != "Succeeded"]
            what = "serialising (409)" if mode == "refuse" else "cancelling (Canceled)"
            label = f"{what}, parallelism {parallelism}"
            lowest = report.lowered_parallelism or parallelism
            figures += [
                Figure(section, f"{label}: makespan",
                       f"{took:.2f} s ({took / ideal:.2f}x ideal)", "<= 1.3x ideal serial",
                       report.ok and took <= 1.3 * ideal),
                Figure(section, f"{label}: PUT attempts per action",
                       f"{len(puts) / CREATES:.2f} ({len(puts)} PUTs: {refused} refused,"
                       f" {canceled} canceled; lowest parallelism {lowest})", "<= 2",
                       len(puts) <= 2 * CREATES),
                Figure(section, f"{label}: pools not Succeeded after apply", str(len(left)),
                       "0", not left)]
    return figures


# -- report ----------------------------------------------------------------------------------


def machine(pure_yaml: bool, without: tuple[str, ...] = ()) -> list[str]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    try:
        import _ruamel_yaml_clibz  # noqa: F401

        parser = "libyaml (ruamel.yaml.clibz)" if not pure_yaml else \
            "pure Python (ruamel.yaml.clibz hidden by --pure-yaml)"
    except ImportError:
        parser = "pure Python (ruamel.yaml.clibz not installed)"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    return [f"- date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            f"- machine: {os.cpu_count()} CPUs (nproc), {model}",
            f"- Python {platform.python_version()} ({platform.python_implementation()}),"
            f" {platform.system()} {platform.release()}",
            f"- YAML parser events: {parser}", f"- commit: {commit or 'unknown'}",
            *([f"- fast paths turned off (--without): {', '.join(without)}"] if without else [])]


def table(figures: list[Figure]) -> list[str]:
    """A markdown table, one row per figure."""
    rows = ["| section | figure | value | target | result |", "|---|---|---|---|---|"]
    for f in figures:
        result = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        rows.append(f"| {f.section} | {f.name} | {f.value} | {f.target} | {result} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure everything, print the table; exit 1 when a target fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per start-up figure")
    parser.add_argument("--lro-delay", type=float, default=1.0,
                        help="seconds each emulated operation takes (makespan)")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--pure-yaml", action="store_true",
                        help="run the CLI as if ruamel.yaml.clibz were not installed")
    parser.add_argument("--without", choices=sorted(FAST_PATHS), action="append", default=[],
                        help="turn this fast path off (repeatable): yamlfast, the YAML reader's"
                        " event path; diff, compare's plain diff (DeepDiff per pool);"
                        " adaptive, the concurrency that falls while a cluster is busy")
    parser.add_argument("--only", choices=["startup", "engine", "emulator", "busy"],
                        action="append", help="measure only these sections (repeatable)")
    parser.add_argument("--busy-lro", type=float, default=BUSY_LRO,
                        help="seconds each emulated operation takes (busy cluster)")
    args = parser.parse_args(argv)
    sections = set(args.only or ["startup", "engine", "emulator", "busy"])
    without = tuple(dict.fromkeys(args.without))
    for name in without:  # in this process too (the engine, the emulator's plans)
        exec(FAST_PATHS[name], {})
    work = Path(tempfile.mkdtemp(prefix="reconciler-bench-"))
    try:
        figures = startup_figures(work, args.runs, args.pure_yaml, without) \
            if "startup" in sections else []
        figures += engine_figures(args.runs) if "engine" in sections else []
        figures += emulator_figures(work, args.runs, args.lro_delay) \
            if "emulator" in sections else []
        figures += busy_figures(work, args.busy_lro) if "busy" in sections else []
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [f for f in figures if f.passed is False]
    runs = (f"- runs: start-up commands {args.runs} each (median, taking turns, after 2"
            f" warm-ups); engine sizes {max(5, args.runs // 2)} each; makespan 3 each;"
            " busy cluster 1 each")
    lines = ["# Benchmark results", "", *machine(args.pure_yaml, without), runs, "",
             *table(figures), "",
             f"{len(failed)} target(s) failed." if failed else "Every target passed."]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

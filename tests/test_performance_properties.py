"""Performance as behaviour, never as wall-clock thresholds.

- parallel apply: against the ARM emulator with a fixed LRO delay, independent actions
  overlap (at most --parallelism at once), deletes start only after every create and
  update has succeeded, and a 409 is waited out;
- fast start: which heavy modules a command imports (checked in a subprocess);
- linear planning: how many Python calls planning and rendering make for n and 4n pools;
- the fast paths give exactly what the careful paths give: YAML events vs round-trip
  parsing, jsonschema-rs's "valid?" vs jsonschema, the plain diff vs DeepDiff.

Timings live in benchmarks/run.py, which is run by hand.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_session import EmulatorSession, arm_pool
from hypothesis import strategies as st
from sizing import explore, sized

from reconciler.app import plan_file
from reconciler.apply.executor import ActionResult, Outcome, execute
from reconciler.desired import document, yamlfast
from reconciler.desired.schema import _surely_valid as fast_accepts
from reconciler.desired.schema import schema
from reconciler.diagnostics import InvalidDocument
from reconciler.model import Autoscaling, Cluster, DesiredState, NodePool
from reconciler.plan import Action
from reconciler.plan.compare import changed_fields, deepdiff_fields
from reconciler.plan.jsonplan import render_json
from reconciler.plan.planner import make_plan
from reconciler.registry import capabilities_for
from reconciler.render.text import render_text

TESTS = Path(__file__).parent
OWNED = {"managed-by": "reconciler"}
SYSTEM = {"enableAutoScaling": True, "minCount": 1, "maxCount": 3, "tags": OWNED}
LRO_SECONDS = 0.4  # long enough that actions started together are in flight together


class RecordingEvents:
    """ApplyEvents that keep progress messages per pool."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}

    def started(self, action: Action) -> None:
        self.messages.setdefault(action.pool, [])

    def progress(self, action: Action, message: str) -> None:
        self.messages.setdefault(action.pool, []).append(message)

    def finished(self, result: ActionResult) -> None: ...


def pools_yaml(names: list[str], system: str = "system") -> str:
    """nodePools: one system pool plus a user pool per name."""
    lines = ["nodePools:", f"  - name: {system}", "    mode: system",
             "    autoscaling: {enabled: true, min: 1, max: 3}"]
    for name in names:
        lines += [f"  - name: {name}", "    mode: user", "    instanceType: Standard_D4s_v5",
                  "    autoscaling: {enabled: false, desired: 1}"]
    return "\n".join(lines) + "\n"


def max_in_flight(emulator: EmulatorSession, state: str) -> int:
    """The most operations of ``state`` the emulator had running at one instant."""
    edges = sorted(edge for op in emulator.cluster.operations.values() if op.state == state
                   for edge in ((op.started, 1), (op.done_at, -1)))
    running = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


# -- parallel apply against the emulator -------------------------------------------------


@pytest.mark.parametrize("parallelism", [1, 3])
def test_independent_creates_overlap_up_to_parallelism(aks_emulator: EmulatorSession,
                                                       tmp_path: Path, parallelism: int) -> None:
    aks_emulator.reset([arm_pool("system", "System", **SYSTEM)], lro_seconds=LRO_SECONDS)
    names = [f"p{i}" for i in range(6)]
    planned = plan_file(str(aks_emulator.write_desired(tmp_path / "pools.yaml",
                                                       pools_yaml(names))))
    report = execute(planned.plan, planned.driver, RecordingEvents(), parallelism=parallelism)
    assert report.ok
    assert max_in_flight(aks_emulator, "Creating") == parallelism
    assert len(aks_emulator.request_log.writes) == len(names)  # one write per action


def test_deletes_start_after_every_create_and_update_succeeded(aks_emulator: EmulatorSession,
                                                               tmp_path: Path) -> None:
    old = [arm_pool(f"old{i}", tags=OWNED) for i in range(3)]
    aks_emulator.reset([arm_pool("system", "System", **SYSTEM), *old],
                       lro_seconds=LRO_SECONDS)
    path = aks_emulator.write_desired(tmp_path / "pools.yaml",
                                      pools_yaml(["new0", "new1", "new2"])
                                      .replace("max: 3", "max: 4"))
    planned = plan_file(str(path))
    assert planned.plan.summary == {"create": 3, "update": 1, "delete": 3,
                                    "destroy": 3, "noop": 0}
    assert execute(planned.plan, planned.driver, RecordingEvents(), parallelism=10).ok
    ops = list(aks_emulator.cluster.operations.values())
    deletes = [op for op in ops if op.state == "Deleting"]
    before = [op for op in ops if op.state in ("Creating", "Updating")]
    assert len(deletes) == 3 and len(before) == 4
    assert min(op.started for op in deletes) >= max(op.done_at for op in before)
    assert max_in_flight(aks_emulator, "Creating") == 3  # and the creates overlapped
    assert max_in_flight(aks_emulator, "Deleting") == 3


def test_no_delete_is_sent_when_a_create_fails(aks_emulator: EmulatorSession,
                                               tmp_path: Path) -> None:
    aks_emulator.reset([arm_pool("system", "System", **SYSTEM), arm_pool("old", tags=OWNED)])
    aks_emulator.faults.add(method="PUT", path="/agentPools/new1$", action="lro_failed",
                            code="AllocationFailed", message="no capacity")
    planned = plan_file(str(aks_emulator.write_desired(tmp_path / "pools.yaml",
                                                       pools_yaml(["new0", "new1"]))))
    report = execute(planned.plan, planned.driver, RecordingEvents(), parallelism=10)
    assert [r.outcome for r in report.results] == [Outcome.APPLIED, Outcome.FAILED,
                                                   Outcome.NOT_STARTED]
    assert [e.method for e in aks_emulator.request_log.writes] == ["PUT", "PUT"]
    assert aks_emulator.store.get("old") is not None


def test_apply_waits_out_another_operation_on_the_pool(aks_emulator: EmulatorSession,
                                                       tmp_path: Path) -> None:
    aks_emulator.reset([arm_pool("system", "System", **SYSTEM),
                        arm_pool("batch", tags=OWNED)], lro_seconds=LRO_SECONDS)
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(["batch"]) +
                                      "    labels: {team: b}\n")
    # Someone else's operation (an upgrade, the portal) is running on the pool.
    body = aks_emulator.store.get("batch")
    body["properties"]["count"] = 1
    aks_emulator.cluster.put_pool("batch", body)
    planned = plan_file(str(path))  # sees the pool's new eTag, Updating
    aks_emulator.request_log.clear()
    events = RecordingEvents()
    assert execute(planned.plan, planned.driver, events).ok
    statuses = [e.status for e in aks_emulator.request_log.writes]
    assert statuses[0] == 409 and statuses[-1] == 200 and set(statuses[1:-1]) <= {409}
    assert any(m.startswith("waiting for another operation on the pool to finish")
               for m in events.messages["batch"])
    assert aks_emulator.store.get("batch")["properties"]["nodeLabels"]["team"] == "b"


# -- fast start: what each command imports -----------------------------------------------

HEAVY = ("azure", "deepdiff", "rich", "jsonschema")
PROBE = """\
import atexit, json, runpy, sys
watched, report_path, args = set(sys.argv[1].split(",")), sys.argv[2], sys.argv[3:]
def report():
    with open(report_path, "w") as out:
        json.dump(sorted({m.split(".")[0] for m in sys.modules} & watched), out)
atexit.register(report)
sys.argv = ["reconciler", *args]
runpy.run_module("reconciler", run_name="__main__")
"""


def imported(tmp_path: Path, *args: str, watched: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``watched`` top-level packages ``reconciler ARGS`` imported, from a fresh process."""
    report = tmp_path / "imported.json"
    subprocess.run([sys.executable, "-c", PROBE, ",".join(watched), str(report), *args],
                   cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, check=False,
                   timeout=120)
    return list(json.loads(report.read_text()))


@pytest.fixture
def local_file(tmp_path: Path) -> str:
    """A valid local-provider file of three pools, its state file beside it."""
    header = ("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: fast\n"
              "  provider: local\n  settings: {stateFile: state.json, location: japaneast}\n")
    (tmp_path / "pools.yaml").write_text(header + pools_yaml(["apps", "batch"]))
    return "pools.yaml"


def test_version_imports_nothing_heavy(tmp_path: Path) -> None:
    assert imported(tmp_path, "--version", watched=(*HEAVY, "jsonschema_rs")) == []


def test_a_valid_file_is_checked_by_jsonschema_rs_alone(tmp_path: Path, local_file: str) -> None:
    assert imported(tmp_path, "validate", local_file,
                    watched=("jsonschema", "jsonschema_rs")) == ["jsonschema_rs"]


def test_validate_imports_nothing_heavy(tmp_path: Path, local_file: str) -> None:
    assert imported(tmp_path, "validate", local_file) == []


def test_validate_of_an_aks_file_does_not_import_the_sdk(tmp_path: Path) -> None:
    settings = ("{subscriptionId: s, resourceGroup: rg, clusterName: c, location: eastus,"
                " auth: token}")
    (tmp_path / "aks.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: a\n  provider: aks\n"
        f"  settings: {settings}\n" + pools_yaml(["apps"]))
    assert imported(tmp_path, "validate", "aks.yaml") == []


def test_invalid_file_loads_jsonschema_for_its_messages(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\n"
                                       "cluster: {name: x, provider: local}\nnodePools: 3\n")
    assert imported(tmp_path, "validate", "bad.yaml") == ["jsonschema"]


def test_plans_on_the_local_provider_import_nothing_heavy(tmp_path: Path,
                                                          local_file: str) -> None:
    assert imported(tmp_path, "plan", local_file) == []  # every pool to create
    assert imported(tmp_path, "apply", local_file, "--yes") == []  # not a terminal: no rich
    assert imported(tmp_path, "plan", local_file) == []  # no changes
    changed = (tmp_path / local_file).read_text().replace("max: 3", "max: 4")
    (tmp_path / local_file).write_text(changed.replace("desired: 1", "desired: 2"))
    assert imported(tmp_path, "plan", local_file, "--format", "json") == []  # updates


# -- linear planning: call counts, not seconds -------------------------------------------


def engine_inputs(count: int) -> tuple[DesiredState, list[NodePool]]:
    """``count`` desired pools, each differing from its live pool in a label and a bound."""
    desired, live = [], []
    for index in range(count):
        name = f"p{index}"
        mode = "system" if index == 0 else "user"
        common: dict[str, Any] = {"name": name, "mode": mode, "instance_type": "Standard_D4s_v5",
                                  "zones": ("japaneast-1", "japaneast-2")}
        desired.append(NodePool(**common, labels={"team": "a", "tier": "web"},
                                autoscaling=Autoscaling(enabled=True, min=1, max=5),
                                extensions={"aks": {"maxPods": 50, "tags": {"cc": "1"}}}))
        live.append(NodePool(**common, labels={"team": "a", "tier": "db",
                                               "kompox.dev/node-pool": name},
                             autoscaling=Autoscaling(enabled=True, min=1, max=3, desired=2),
                             extensions={"aks": {"maxPods": 50, "tags": {"cc": "1"}}},
                             managed=True, etag=f"e{index}"))
    cluster = Cluster("bench", "local", {"location": "japaneast"})
    return DesiredState(cluster, "owned", ("p0",), tuple(desired), "bench.yaml", ""), live


def count_calls(work: Callable[[], object]) -> int:
    """Python function calls made while ``work`` runs."""
    calls = 0

    def profile(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def test_planning_and_rendering_grow_linearly() -> None:
    caps = capabilities_for("local", {"location": "japaneast"})

    def plan_and_render(count: int) -> Callable[[], object]:
        desired, live = engine_inputs(count)
        return lambda: (render_text(plan := make_plan(desired, live, caps)), render_json(plan))

    plan_and_render(10)()  # first-use imports are not part of the growth
    small, large = count_calls(plan_and_render(250)), count_calls(plan_and_render(1000))
    assert large / small < 4.4, (small, large)  # 4x the pools: about 4x the work


def test_changed_pools_are_diffed_without_deepdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.plan.compare as compare

    def forbidden(*_args: object) -> set[tuple[str, ...]]:
        raise AssertionError("DeepDiff was used for plain views")

    monkeypatch.setattr(compare, "deepdiff_fields", forbidden)
    desired, live = engine_inputs(50)
    plan = make_plan(desired, live, capabilities_for("local", {"location": "japaneast"}))
    assert [c.field for c in plan.actions[0].changes] == ["labels.tier", "autoscaling.max"]


# -- the fast diff agrees with DeepDiff --------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["a", "b"]),
                    st.sampled_from([0.0, 1.0, 1.5, float("nan")]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "z"]), inner,
                                                 max_size=3)), max_leaves=8)
VIEWS = st.dictionaries(st.sampled_from(["mode", "labels", "zones", "autoscaling",
                                         "extensions"]), VALUES, max_size=5)


@sized(100, 400)
def test_fast_diff_reports_what_deepdiff_reports(examples: int) -> None:
    def check(have: dict[str, Any], want: dict[str, Any]) -> None:
        fast = changed_fields(have, want)
        if fast is not None:
            assert fast == deepdiff_fields(have, want)

    explore(examples, check, VIEWS, VIEWS)


def test_fast_diff_decides_plain_views() -> None:
    have = {"labels": {"a": "1", "b": "2"}, "zones": ["1"], "autoscaling": {"max": 3}}
    want = {"labels": {"a": "1", "b": "3"}, "zones": ["1", "2"], "autoscaling": {"max": 4}}
    assert changed_fields(have, want) == deepdiff_fields(have, want) == {
        ("labels", "b"), ("zones",), ("autoscaling", "max")}


# -- the fast YAML path gives what the round-trip parser gives ---------------------------


@pytest.fixture(params=["libyaml", "pure"])
def event_source(request: pytest.FixtureRequest,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the C parser events (when installed) and with the pure ones."""
    if request.param == "libyaml":
        pytest.importorskip("_ruamel_yaml_clibz")
    else:
        monkeypatch.setitem(sys.modules, "_ruamel_yaml_clibz", None)  # import fails
    yield request.param


def round_trip(text: str, name: str = "f.yaml") -> document.LocatedDocument | None:
    """What load_document builds on its careful path, or None when that path rejects it."""
    try:
        tree = document._parse(text, name)
    except InvalidDocument:
        return None
    doc = document.LocatedDocument(name, None)
    try:
        doc.data = document._convert(tree, (), doc, [0], 0)
    except InvalidDocument:
        return None
    doc.value_positions.setdefault((), (1, 1))
    return doc


def assert_same_or_declined(text: str, name: str = "f.yaml") -> bool:
    """The fast path either declines or equals the round-trip path; True when it answered."""
    fast = yamlfast.fast_document(text, name)
    if fast is None:
        return False
    slow = round_trip(text, name)
    assert slow is not None, "fast path accepted what the round-trip parser rejects"
    assert repr(fast.data) == repr(slow.data)
    assert fast.key_positions == slow.key_positions
    assert fast.value_positions == slow.value_positions
    return True


def test_fast_yaml_equals_round_trip_on_every_test_file(event_source: str) -> None:
    files = sorted([*TESTS.glob("cases/*/desired.yaml"), *TESTS.glob("invalid/*/*"),
                    *(TESTS.parent / "examples").glob("*.yaml")])
    answered = 0
    for file in files:
        try:
            text = document._decode(file.read_bytes(), str(file))
        except InvalidDocument:
            continue
        answered += assert_same_or_declined(text, str(file))
    assert answered > len(files) / 2  # the fast path is the common path


YAML_TEXT = st.lists(st.sampled_from([
    "a: 1\n", "b: [x, 'y', 2.5]\n", "c:\n  - d: true\n    e: ~\n", "f: {g: 0o17, h: 1_000}\n",
    "i: 2001-12-14\n", "j: |\n  text\n", "k: &x 1\n", "l: *x\n", '"m": "é"\n', "n: yes\n",
    "- item\n", "? complex\n", "o: 1\no: 2\n", "%YAML 1.1\n---\n", "---\n", "p: !!str 3\n",
    "  q: bad indent\n", "r: [unclosed\n", "\t s: tab\n", "<<: {t: 1}\n", "u: 1e3\n", "# c\n",
    "v: .inf\n", "w:\n", "1: int key\n", "true: bool key\n", "x: 'a\n  b'\n",
    '"1": quoted key\n', "~: null key\n", "y: 2001-12-14 21:59:43\n", "z: !!binary aGk=\n",
    "s: !!set {a}\n", "t: !local x\n", "!!str 2: tagged key\n", "u: !!int x\n", "a: b\r\n",
]), min_size=1, max_size=6).map("".join)


def assert_same_on_both_parsers(text: str) -> None:
    """The fast path agrees with the round trip on libyaml events (when installed) and on
    ruamel's pure-Python events."""
    for blocked in (False, True):
        saved = sys.modules.get("_ruamel_yaml_clibz")
        if blocked:
            sys.modules["_ruamel_yaml_clibz"] = None  # type: ignore[assignment]
        try:
            assert_same_or_declined(text)
        finally:
            if blocked:
                if saved is None:
                    sys.modules.pop("_ruamel_yaml_clibz", None)
                else:
                    sys.modules["_ruamel_yaml_clibz"] = saved


@sized(75, 300)
def test_fast_yaml_never_differs_from_round_trip(examples: int) -> None:
    explore(examples, assert_same_on_both_parsers, YAML_TEXT)


def loaded(text: str, tmp: Path) -> tuple[str, Any]:
    """What load_document makes of ``text``: its data, or its diagnostics."""
    path = tmp / "f.yaml"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        doc = document.load_document(path)
    except InvalidDocument as exc:
        return "refused", [d.format() for d in exc.diagnostics]
    return "read", repr(doc.data)


def assert_reads_alike_on_both_parsers(text: str) -> None:
    """The bounded event pass before the round-trip load (limits, keys, dates, tags)
    decides alike whether its events come from libyaml or from the pure parser."""
    pytest.importorskip("_ruamel_yaml_clibz")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with_c = loaded(text, Path(folder))
        saved = sys.modules.get("_ruamel_yaml_clibz")
        sys.modules["_ruamel_yaml_clibz"] = None  # type: ignore[assignment]
        try:
            pure = loaded(text, Path(folder))
        finally:
            sys.modules["_ruamel_yaml_clibz"] = saved  # type: ignore[assignment]
    assert with_c == pure


@sized(50, 200)
def test_careful_path_reads_alike_on_both_parsers(examples: int) -> None:
    explore(examples, assert_reads_alike_on_both_parsers, YAML_TEXT)


def test_values_the_loader_would_convert_are_refused_on_every_path() -> None:
    """Dates, keys that are not strings and non-plain tags: the fast path declines them
    and the round-trip path refuses them; neither turns them into text."""
    for text in ["a: 2024-01-01\n", "1: a\n", "~: a\n", "a: !!binary aGk=\n",
                 "a: !!set {b}\n", "a: !x y\n", "2024-01-01: a\n", "a: [2024-01-01]\n"]:
        for crlf in (False, True):
            source = text.replace("\n", "\r\n") if crlf else text
            assert yamlfast.fast_document(source, "f.yaml") is None, source
            assert round_trip(source) is None, source  # _convert refuses what slips past
            problems = yamlfast.check_events(source, "f.yaml")
            assert len(problems) == 1, (source, problems)


GOLDEN_TEXTS = [path.read_text() for path in sorted(TESTS.glob("cases/*/desired.yaml"))]
EDITS = st.sampled_from([*":-[]{}#&*!|>'\"%@`,? \t\n\\", "  ", "\n  ", "a", "1", "\u00e9",
                         "\ufeff", "\r\n", "\x85", "\u2028"])


@sized(75, 300)
def test_fast_yaml_never_differs_on_damaged_files(examples: int) -> None:
    def check(text: str, edits: list[tuple[float, bool, str]]) -> None:
        for where, insert, piece in edits:
            at = int(where * len(text))
            text = text[:at] + piece + text[at + (0 if insert else 1):]
        assert_same_on_both_parsers(text)

    explore(examples, check, st.sampled_from(GOLDEN_TEXTS),
            st.lists(st.tuples(st.floats(0, 1), st.booleans(), EDITS), min_size=1, max_size=3))


@sized(40, 150)
def test_careful_path_reads_damaged_files_alike_on_both_parsers(examples: int) -> None:
    """Unusual characters (tabs, NEL, LS, BOM, CR) send a file to the careful path, where
    libyaml and the pure parser may place things differently: the outcome must not
    depend on which parser is installed."""
    def check(text: str, edits: list[tuple[float, str]], problem: str) -> None:
        text = text.replace("cluster:\n", "cluster:\n" + problem, 1)
        for where, piece in edits:
            at = int(where * len(text))
            text = text[:at] + piece + text[at:]
        assert_reads_alike_on_both_parsers(text)

    explore(examples, check, st.sampled_from(GOLDEN_TEXTS),
            st.lists(st.tuples(st.floats(0, 1), EDITS), max_size=3),
            st.sampled_from(["  x-when: 2024-01-01\n", "  1: int key\n",
                             "  x-bin: !!binary aGk=\n", "  x-ok: 1\n"]))


# -- jsonschema-rs never calls valid what jsonschema rejects ----------------------------


@functools.cache
def jsonschema_validator() -> Any:
    """jsonschema's validator for the published schema (the judge of every error)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


@functools.cache
def valid_documents() -> list[Any]:
    return [document.load_document(path).data for path in
            sorted(TESTS.glob("cases/*/desired.yaml"))]


def test_fast_check_accepts_the_valid_cases() -> None:
    """Every valid file is settled without importing jsonschema (else validate slows down)."""
    validator = jsonschema_validator()
    documents = valid_documents()
    for data in documents:
        assert not list(validator.iter_errors(data))
    assert all(fast_accepts(data) for data in documents)


def test_fast_check_is_sound_on_the_invalid_cases() -> None:
    validator = jsonschema_validator()
    for path in sorted(TESTS.glob("invalid/*/*.yaml")):
        try:
            data = document.load_document(path).data
        except InvalidDocument:
            continue
        if fast_accepts(data):
            assert not list(validator.iter_errors(data)), path


def test_fast_check_leaves_what_rust_cannot_hold_to_jsonschema() -> None:
    data = json.loads(json.dumps(valid_documents()[0]))
    data["cluster"]["name"] = "\ud800"  # a lone surrogate: not UTF-8, so not a Rust string
    assert not fast_accepts(data)


MUTANTS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2000), st.floats(-1, 3),
                    st.sampled_from([2**64, 1.0, float("inf"), float("nan")]),
                    st.sampled_from(["", "x", "system", "User", "spot", "Managed", "1",
                                     "japaneast-1", "a=b:NoSchedule", "Standard_D4s_v5",
                                     "japaneast\n", "a=b:NoSchedule\n", "1.30\n", "33%\n"]),
                    st.just([]), st.just({}), st.just(["1", "1"]), st.just({"enabled": True}))


def mutate(data: Any, path: list[Any], value: Any, drop: bool) -> Any:
    """A copy of ``data`` with the node at ``path`` replaced (or its key dropped)."""
    if not path:
        return value
    copy = json.loads(json.dumps(data))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if drop and isinstance(parent, dict):
        parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return copy


def node_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[list[Any]]:
    """Every path into ``data``."""
    found = [list(prefix)]
    items = data.items() if isinstance(data, dict) else \
        enumerate(data) if isinstance(data, list) else ()
    for key, child in items:
        found += node_paths(child, (*prefix, key))
    return found


@sized(75, 300)
def test_fast_check_never_accepts_what_jsonschema_rejects(examples: int) -> None:
    def check(data: st.DataObject) -> None:
        base = data.draw(st.sampled_from(valid_documents()))
        mutant = base
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from(node_paths(mutant)[1:]))
            mutant = mutate(mutant, path, data.draw(MUTANTS), data.draw(st.booleans()))
        if fast_accepts(mutant):
            assert not list(jsonschema_validator().iter_errors(mutant))

    explore(examples, check, st.data())

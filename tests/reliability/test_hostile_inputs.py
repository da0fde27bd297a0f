"""Hostile and broken desired-state files: every one is refused cleanly, cheaply and before
any provider call.

Each file of ``tests/hostile/`` (plus huge ones generated here: 10 MiB, 10,000-level
nesting, a 3 MB scalar, 1 MiB floods of values that leave the fast YAML path: a tab, an
anchor, CRLF line ends) is given to the real CLI, ``python -m reconciler plan FILE``, one
process per file. Most files aim at the AKS emulator through ``${HOSTILE_*}`` settings, so
a provider call would show in its request log; one aims at a local state file that must
stay untouched. For every file:

- exit code 1, nothing on stdout, and every stderr line is one ``FILE:LINE:COL: message``
  whose line number lies inside the file (no "Traceback", no unlocated line);
- bounded time: the process is killed after TIME_BOUND_SECONDS (it fails the test);
- bounded memory: the process runs under RLIMIT_AS = MEMORY_BOUND_BYTES, and its peak
  resident size is measured;
- no control character from the file reaches the terminal;
- zero provider calls: the emulator logged no request, and the local state file is
  byte-identical with no lock file created. A valid control file run the same way
  afterwards does reach the emulator, so the harness can see a call when one happens.

``pytest -m soak`` runs every file; the default run a sample (``sample``): a few files of
each category of the corpus (a category: the name up to its first "-"), every file a test
below names, and the generated files of SMALL_GENERATED, the same checks on each.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from emulator_session import EmulatorSession
from reliability_support import bounded_process

from reconciler.desired.document import MAX_FILE_BYTES
from reconciler.emulator import Emulator

CORPUS = Path(__file__).resolve().parents[1] / "hostile"
# Per process, on a loaded 2-core machine. Measured: every committed file well under 1 s;
# 10,000-level flow nesting ~4.5 s alone (the YAML scanner until Python's recursion limit).
# The soaks run one at a time (`-m soak -n 0`) and hold that bound; the default run shares
# the two cores with three other xdist workers, so it only checks that nothing runs away.
TIME_BOUND_SECONDS = 45.0 if os.environ.get("PYTEST_XDIST_WORKER") else 15.0
MEMORY_BOUND_BYTES = 1024 ** 3  # 1 GiB of address space per process
WORKERS = max(1, os.cpu_count() or 1)  # one per core: more would only stretch each file's time
# The default run's sample: every SPREAD-th file of each category (from its first), the
# files the tests below name, and these generated files (the cheaper of each kind: size,
# nesting, a long scalar, floods on the careful and on the fast path, floods of refusals).
SPREAD = 8
NAMED = ("env-not-expanded-in-pool-name.yaml", "env-not-expanded-in-api-version.yaml",
         "env-unset-variable.yaml", "env-shell-substitution-not-run.yaml",
         "local-state-file-untouched.yaml")
SMALL_GENERATED = ("generated-10-mib.yaml", "generated-nesting-10000-lists.yaml",
                   "generated-nesting-2500-block-mappings.yaml",
                   "generated-3-mb-pool-name.yaml", "generated-1-mib-flood-tab.yaml",
                   "generated-1-mib-flood-crlf.yaml", "generated-1-mib-of-dates.yaml",
                   "generated-1-mib-of-number-keys.yaml")
STATE = '{"formatVersion": 1, "agentPools": {}}\n'
# Bytes no message should carry to a terminal: C0 controls but newline, DEL, C1 controls.
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
@dataclass(frozen=True)
class Refusal:
    """How one ``reconciler plan FILE`` process ended."""

    file: str
    code: int | None  # None: killed at the time bound
    stdout: str
    stderr: str
    seconds: float
    max_rss_kib: int
    lines_in_file: int


def generate_huge_files(folder: Path, only: Collection[str] | None = None) -> list[str]:
    """Inputs too big to commit (those of ``only``, if given), written into ``folder``;
    returns their names."""
    header = (CORPUS / "kind-wrong.yaml").read_text().split("nodePools:")[0]
    header = header.replace("Deployment", "NodePoolSet")
    files = {
        "generated-10-mib.yaml": header + "nodePools: []\n" + ("#" * 1023 + "\n") * 10240,
        "generated-nesting-10000-lists.yaml": "nodePools: " + "[" * 10_000 + "]" * 10_000,
        "generated-nesting-10000-mappings.yaml": "nodePools: " + "{a: " * 10_000,
        "generated-nesting-2500-block-mappings.yaml": header + "nodePools:\n"
        + "".join(" " * (depth + 1) + "k:\n" for depth in range(2500)),
        "generated-3-mb-pool-name.yaml": header + "nodePools:\n  - name: " + "a" * 3_000_000,
        "generated-5000-errors.yaml": header + "nodePools:\n" + "".join(
            f"  - name: p{i}\n" + "".join(f"    bogus{j}: 1\n" for j in range(50))
            for i in range(100)),
    }
    lines, size = [], len(header) + 12
    while size < MAX_FILE_BYTES - 64:
        lines.append(f"  - {{name: p{len(lines)}, mode: user}}\n")
        size += len(lines[-1])
    files["generated-just-under-the-size-limit.yaml"] = header + "nodePools:\n" + "".join(lines)
    # The same many-pools file with CRLF line ends: legitimate line ends, refused for its
    # pool count (it took ~30 s and 180 MB when CRLF sent it to the round-trip parser).
    crlf = files["generated-just-under-the-size-limit.yaml"].replace("\n", "\r\n")
    files["generated-1-mib-pools-crlf.yaml"] = crlf[:MAX_FILE_BYTES - 64].rsplit("\r\n", 1)[0]
    # ~400,000 values in 1 MiB, with what sends a file to the careful path: every one is
    # refused at the value limit while it is parsed (each took 65-95 s and 460-560 MB when
    # the round-trip loader built the whole file before counting).
    for name, before in {"tab": "#\ta tab in a comment\n", "anchor": "anchored: &a 1\n",
                         "crlf": ""}.items():
        files[f"generated-1-mib-flood-{name}.yaml"] = flood_of_values(header, before,
                                                                      crlf=name == "crlf")
    # ~90,000 things the loader refuses (dates; keys that are numbers), under the value
    # limit: the first 100 are listed, then reading stops.
    files["generated-1-mib-of-dates.yaml"] = flood_of_values(header).replace(
        "1,", "2024-01-01,")[:MAX_FILE_BYTES - 64].rsplit("\n", 1)[0] + "\n"
    keys = "".join(f"  {index}: a\n" for index in range(100_000))
    files["generated-1-mib-of-number-keys.yaml"] = (header + "nodePools: []\nkeys:\n"
                                                   + keys)[:MAX_FILE_BYTES - 64].rsplit(
                                                       "\n", 1)[0] + "\n"
    chosen = [name for name in files if only is None or name in only]
    for name in chosen:
        (folder / name).write_text(files[name], encoding="utf-8", newline="")
    return chosen


def flood_of_values(header: str, before: str = "", *, crlf: bool = False) -> str:
    """Just under MAX_FILE_BYTES: ``header``, ``before``, then a flow list of 1s."""
    line = "1," * 40 + "\n"
    start = header + before + "nodePools: []\nflood: [\n"
    count = (MAX_FILE_BYTES - 200 - len(start)) // (len(line) + crlf)
    text = start + line * count + "1]\n"
    return text.replace("\n", "\r\n") if crlf else text


def valid_crlf_file(pools: int = 100) -> str:
    """A valid local-provider file of ``pools`` pools with ~200 labels each, just under
    MAX_FILE_BYTES, with CRLF line ends."""
    parts = ["apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: big\n"
             "  provider: local\n  settings: {stateFile: state.json, location: japaneast}\n"
             "nodePools:\n"]
    per_pool = (MAX_FILE_BYTES - 4096) // pools
    for index in range(pools):
        mode = "system" if index == 0 else "user"
        pool = [f"  - name: {'system' if index == 0 else f'pool{index}'}\n    mode: {mode}\n"
                "    instanceType: Standard_D4s_v5\n"
                "    autoscaling: {enabled: true, min: 1, max: 3}\n    labels:\n"]
        size = len(pool[0]) + pool[0].count("\n")  # each line end becomes two bytes
        while size + 48 < per_pool:
            label = len(pool) - 1
            pool.append(f"      team-{label:04d}.example.com/tier: value-{label:04d}\n")
            size += len(pool[-1]) + 1
        parts += pool
    return "".join(parts).replace("\n", "\r\n")


def run_bounded(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[
        int | None, str, str, float, int]:
    """Run ``args`` under the memory bound, killed at the time bound.

    Returns (exit code or None if killed, stdout, stderr, seconds, peak RSS in KiB);
    the peak comes from wait4, so it is this process's own.
    """
    run = bounded_process(args, cwd, env, seconds=TIME_BOUND_SECONDS,
                          memory_bytes=MEMORY_BOUND_BYTES)
    return run.code, run.stdout, run.stderr, run.seconds, run.max_rss_kib


def category(name: str) -> str:
    """A corpus file's category: its name up to the first "-" (``empty.yaml``: empty)."""
    return name.split("-")[0].removesuffix(".yaml")


def corpus_files() -> list[str]:
    """The committed hostile files, sorted."""
    return sorted(p.name for p in CORPUS.iterdir() if p.name != "README.md")


def sample(names: list[str]) -> list[str]:
    """The default run's share of the committed ``names`` (sorted): every SPREAD-th file
    of each category, and NAMED."""
    chosen = {name for _, files in itertools.groupby(names, category)
              for name in list(files)[::SPREAD]}
    return sorted(chosen | set(NAMED))


@pytest.fixture(scope="module",
                params=["small", pytest.param("soak", marks=pytest.mark.soak)])
def size(request: pytest.FixtureRequest) -> str:
    """small: the default run's sample of the files; soak: every file."""
    return str(request.param)


@pytest.fixture(scope="module")
def refusals(size: str, _aks_emulator_server: Emulator,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Refusal]]:
    """The hostile files through ``reconciler plan``, run once for the module's tests."""
    session = EmulatorSession(_aks_emulator_server)
    session.reset()
    folder = tmp_path_factory.mktemp("hostile")
    committed = corpus_files() if size == "soak" else sample(corpus_files())
    for name in committed:
        shutil.copyfile(CORPUS / name, folder / name)
    generated = generate_huge_files(folder, None if size == "soak" else SMALL_GENERATED)
    (folder / "state.json").write_text(STATE)
    config = session.config
    env = {**os.environ, **session.env, "NO_COLOR": "1",
           "HOSTILE_SUBSCRIPTION_ID": config.subscription_id,
           "HOSTILE_RESOURCE_GROUP": config.resource_group,
           "HOSTILE_CLUSTER_NAME": config.cluster_name, "HOSTILE_ARM_ENDPOINT": session.url,
           # Set, to prove they are not expanded outside cluster.settings:
           "HOSTILE_POOL_NAME": "system", "HOSTILE_API_VERSION": "reconciler/v1",
           "HOSTILE_LOCATION": "eastus"}
    env.pop("HOSTILE_UNSET_VARIABLE", None)
    # Slowest first, so the pool is not left waiting on one straggler.
    names = sorted(generated) + committed

    def refuse(name: str) -> Refusal:
        code, stdout, stderr, seconds, rss = run_bounded(
            [sys.executable, "-m", "reconciler", "plan", name], folder, env)
        lines = len((folder / name).read_bytes().splitlines()) + 1  # \r, \n and \r\n
        return Refusal(name, code, stdout, stderr, seconds, rss, lines)

    with ThreadPoolExecutor(WORKERS) as pool:
        results = {r.file: r for r in pool.map(refuse, names)}
    results["<provider calls>"] = Refusal("<provider calls>", len(session.request_log), "",
                                          "", 0, 0, 0)
    results["<state file>"] = Refusal("<state file>", 0, (folder / "state.json").read_text(),
                                      str(sorted(p.name for p in folder.iterdir()
                                                 if p.name.startswith("state"))), 0, 0, 0)
    # The control: a valid file, run the same way, must reach the emulator.
    valid = (CORPUS / "kind-wrong.yaml").read_text().replace("Deployment", "NodePoolSet")
    (folder / "control-valid.yaml").write_text(valid)
    results["control-valid.yaml"] = refuse("control-valid.yaml")
    results["<control provider calls>"] = Refusal("<control provider calls>",
                                                  len(session.request_log), "", "", 0, 0, 0)
    yield results
    session.reset()


def problems_of(refusal: Refusal) -> list[str]:
    """What is wrong with how one file was refused (empty: refused cleanly)."""
    if refusal.code is None:
        return [f"still running after {TIME_BOUND_SECONDS:g} s; killed"]
    found = []
    if refusal.code != 1:
        found.append(f"exit {refusal.code}")
    if refusal.stdout:
        found.append(f"stdout not empty: {refusal.stdout[:200]!r}")
    lines = refusal.stderr.splitlines()
    located = re.compile(rf"^{re.escape(refusal.file)}:(\d+):(\d+): \S")
    if not lines:
        found.append("no message")
    for line in lines:
        match = located.match(line)
        if not match:
            found.append(f"unlocated line: {line[:200]!r}")
        elif not 1 <= int(match[1]) <= refusal.lines_in_file or int(match[2]) < 1:
            found.append(f"location outside the file: {line[:120]!r}")
    if "Traceback" in refusal.stderr:
        found.append("traceback")
    if CONTROL.search(refusal.stderr):
        found.append(f"control character in the output: {refusal.stderr[:200]!r}")
    return found


def hostile_files(refusals: dict[str, Refusal]) -> list[Refusal]:
    """The refusals of the corpus and the generated files (not the bookkeeping entries)."""
    return [r for name, r in refusals.items() if not name.startswith(("<", "control-valid"))]


def test_every_hostile_file_is_refused_cleanly_in_bounded_time_and_memory(
        size: str, refusals: dict[str, Refusal], figures: dict[str, Counter[str]]) -> None:
    files = hostile_files(refusals)
    committed = [r for r in files if not r.file.startswith("generated-")]
    if size == "soak":
        assert len(committed) == len(corpus_files()) >= 60
    else:  # a sample: no category left out
        assert {category(r.file) for r in committed} == set(map(category, corpus_files()))
        assert len(committed) < len(corpus_files())
    failures = {r.file: found for r in files if (found := problems_of(r))}
    figures["hostile inputs" + ("" if size == "small" else " (soak)")] = Counter({
        "files": len(files), "committed": len(committed),
        "refused cleanly": len(files) - len(failures),
        "slowest s": round(max(r.seconds for r in files), 1),
        "slowest committed s": round(max(r.seconds for r in committed), 1),
        "peak RSS MiB": max(r.max_rss_kib for r in files) // 1024,
        "provider calls": refusals["<provider calls>"].code or 0})
    assert not failures, "\n".join(f"{name}: {found}" for name, found in failures.items())


def test_the_1_mib_floods_are_refused_at_the_value_limit(
        refusals: dict[str, Refusal]) -> None:
    """Each flood is refused where the limit is crossed, not after parsing all of it."""
    floods = [name for name in ("tab", "anchor", "crlf")
              if f"generated-1-mib-flood-{name}.yaml" in refusals]
    assert {"tab", "crlf"} <= set(floods)  # the careful path and the fast one, at least
    for name in floods:
        refusal = refusals[f"generated-1-mib-flood-{name}.yaml"]
        assert "more than 100000 values" in refusal.stderr, refusal.stderr[:300]
        assert len(refusal.stderr.splitlines()) == 1
    for name, says in (("dates", "is a date; quote it"), ("number-keys", "is a number")):
        lines = refusals[f"generated-1-mib-of-{name}.yaml"].stderr.splitlines()
        assert len(lines) == 101 and all(says in line for line in lines), lines[:3]
        assert lines[-1].endswith("; more follow (only the first 101 are listed)")


def test_a_valid_1_mib_crlf_file_validates_within_the_bound(tmp_path: Path) -> None:
    """Legitimate CRLF line ends keep a file on the fast YAML path."""
    text = valid_crlf_file()
    assert MAX_FILE_BYTES - 64 * 1024 < len(text.encode()) <= MAX_FILE_BYTES
    (tmp_path / "big.yaml").write_bytes(text.encode())
    code, stdout, stderr, seconds, _ = run_bounded(
        [sys.executable, "-m", "reconciler", "validate", "big.yaml"], tmp_path,
        {**os.environ, "NO_COLOR": "1"})
    assert code == 0, (stderr[:500], seconds)
    assert stdout == "big.yaml: valid (100 node pools)\n"


def test_no_hostile_file_reaches_the_provider(refusals: dict[str, Refusal]) -> None:
    assert refusals["<provider calls>"].code == 0  # not one request logged by the emulator
    assert refusals["<state file>"].stdout == STATE  # the local state file is untouched
    assert refusals["<state file>"].stderr == "['state.json']"  # and no lock was taken
    control = refusals["control-valid.yaml"]
    assert control.code == 0, control.stderr
    assert (refusals["<control provider calls>"].code or 0) >= 1  # a call is visible


def test_environment_variables_expand_only_in_cluster_settings(
        refusals: dict[str, Refusal]) -> None:
    pool_name = refusals["env-not-expanded-in-pool-name.yaml"].stderr
    assert "'${HOSTILE_POOL_NAME}'" in pool_name
    api_version = refusals["env-not-expanded-in-api-version.yaml"].stderr
    assert '"${HOSTILE_API_VERSION}"' in api_version
    unset = refusals["env-unset-variable.yaml"].stderr
    assert "environment variable 'HOSTILE_UNSET_VARIABLE' is not set" in unset
    assert not Path("/tmp/hostile-pwned").exists()  # $(...) is text, never a command


"""Two applies against the same cluster at once, as two real processes.

Each apply first creates a pool of its own (slow, so both have planned before either
touches the shared pool), then sets the shared pool's labels its own way. Whoever writes
the shared pool second planned against a version that no longer exists: it must fail
with "changed since the plan" rather than overwrite (no lost update), the other must
succeed, nothing may interleave into a corrupt or mixed state, and re-running the loser
converges. On the local provider the state-file lock also makes a writer wait for
whoever holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from emulator_session import EmulatorSession, arm_pool
from reliability_support import parse_outcomes, reconciler_process

SLOW_SECONDS = 1.2  # how long each write of the race takes: both plan well within it
EXIT_BOUND_SECONDS = 60


def pools_yaml(who: str) -> str:
    """The shared pool labelled for ``who``, plus a pool only ``who`` creates."""
    return ("policy: {prune: none}\nnodePools:\n"
            f"  - {{name: system, mode: system, labels: {{owner: {who}}}}}\n"
            f"  - {{name: own{who}, mode: user}}\n")


def local_file(folder: Path, who: str, seconds: float = SLOW_SECONDS) -> Path:
    """``who``'s desired file on a local cluster whose writes take ``seconds``."""
    path = folder / f"{who}.yaml"
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: demo\n"
                    "  provider: local\n  settings: {stateFile: state.json, location: eastus,"
                    f" operationSeconds: {seconds}}}\n" + pools_yaml(who))
    return path


def start_apply(folder: Path, path: Path, env: dict[str, str] | None = None,
                ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "reconciler", "apply", path.name, "--yes"],
                            cwd=folder, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env={**os.environ, "NO_COLOR": "1", **(env or {})})


def race(folder: Path, paths: dict[str, Path], env: dict[str, str] | None = None,
         ) -> dict[str, tuple[int, str, str]]:
    """Start both applies at once; exit code, stdout and stderr of each."""
    running = {who: start_apply(folder, path, env) for who, path in paths.items()}
    ended = {}
    for who, process in running.items():
        stdout, stderr = process.communicate(timeout=EXIT_BOUND_SECONDS)
        ended[who] = (process.returncode, stdout, stderr)
    return ended


def check_race(ended: dict[str, tuple[int, str, str]]) -> tuple[str, str]:
    """Exactly one winner; the loser applied its own create and failed the shared update
    with "changed since the plan". Returns (winner, loser)."""
    codes = {who: result[0] for who, result in ended.items()}
    assert sorted(codes.values()) == [0, 1], ended
    winner = next(who for who, code in codes.items() if code == 0)
    loser = next(who for who, code in codes.items() if code == 1)
    code, stdout, stderr = ended[loser]
    assert "Traceback" not in stdout + stderr
    outcomes = parse_outcomes(stdout, stderr, [("create", f"own{loser}"),
                                               ("update", "system")])
    assert outcomes.of(f"own{loser}") == ["applied"], stdout + stderr
    assert outcomes.of("system") == ["failed"], stdout + stderr
    assert "pool 'system' changed since the plan; run plan again" in stdout
    return winner, loser


def test_local_applies_at_once_never_lose_an_update(tmp_path: Path) -> None:
    seed = local_file(tmp_path, "seed", seconds=0)
    assert reconciler_process(["apply", seed.name, "--yes"], tmp_path).returncode == 0
    winner, loser = check_race(race(tmp_path, {w: local_file(tmp_path, w) for w in "ab"}))
    state = json.loads((tmp_path / "state.json").read_text())["agentPools"]
    assert set(state) == {"system", "ownseed", "owna", "ownb"}
    assert state["system"]["properties"]["nodeLabels"]["owner"] == winner  # not overwritten
    # The loser, run again (same pools, instant writes), plans against what is there now
    # and converges.
    local_file(tmp_path, loser, seconds=0)
    again = reconciler_process(["apply", f"{loser}.yaml", "--yes"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    final = reconciler_process(["plan", f"{loser}.yaml", "--detailed-exitcode"], tmp_path)
    assert final.returncode == 0 and "No changes." in final.stdout


def test_local_writer_waits_for_the_lock_holder(tmp_path: Path) -> None:
    path = local_file(tmp_path, "a", seconds=0)
    lock = tmp_path / "state.json.lock"
    with open(lock, "a+") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another apply is writing
        apply = start_apply(tmp_path, path)
        assert apply.stderr is not None
        first = apply.stderr.readline()  # "creating system ...": it is at its first write
        assert first.strip() == "creating system ...", first
        time.sleep(0.5)  # generous: an unlocked write takes milliseconds
        assert apply.poll() is None and not (tmp_path / "state.json").exists()
        fcntl.flock(holder, fcntl.LOCK_UN)
        stdout, stderr = apply.communicate(timeout=EXIT_BOUND_SECONDS)
    assert apply.returncode == 0, stdout + stderr
    state = json.loads((tmp_path / "state.json").read_text())["agentPools"]
    assert set(state) == {"system", "owna"}


def test_aks_applies_at_once_fail_the_loser_with_changed_since_the_plan(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset([arm_pool("system", "System", tags={"managed-by": "reconciler"},
                                 nodeLabels={"owner": "seed"})], lro_seconds=SLOW_SECONDS)
    paths = {who: aks_emulator.write_desired(tmp_path / f"{who}.yaml", pools_yaml(who),
                                             conflictTimeoutSeconds=20)
             for who in "ab"}
    winner, loser = check_race(race(tmp_path, paths, aks_emulator.env))
    aks_emulator.emulator.wait_idle()
    system = aks_emulator.store.get("system")["properties"]
    assert system["nodeLabels"]["owner"] == winner  # the loser did not overwrite it
    assert {"owna", "ownb"} <= {p["name"] for p in aks_emulator.store.list()}
    assert aks_emulator.request_log.count("PUT", r"/agentPools/system$", status=412) == 1
    aks_emulator.config.lro_seconds = 0.05  # the rerun need not be slow
    again = reconciler_process(["apply", paths[loser].name, "--yes"], tmp_path,
                               env=aks_emulator.env)
    assert again.returncode == 0, again.stdout + again.stderr
    final = reconciler_process(["plan", paths[loser].name, "--detailed-exitcode"], tmp_path,
                               env=aks_emulator.env)
    assert final.returncode == 0 and "No changes." in final.stdout

"""The local state file survives kill -9 at any moment: it always parses and every pool in it
is either as it was before the killed apply or as that apply meant to leave it.

A loop of real ``reconciler apply`` processes, each relabelling every pool of a local
cluster (one write per pool, operationSeconds 0), each killed with SIGKILL after a random
delay spread over the apply's own duration. Meanwhile a reader polls the file, which must
parse every time (writes are replaced by rename, never rewritten in place).

``pytest -m soak`` does SOAK_ROUNDS rounds; the default run SMALL_ROUNDS, and more (up to
SOAK_ROUNDS) until one kill has landed among the writes. ``RELIABILITY_KILL_ROUNDS`` sets
the number of rounds of either.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from reliability_support import reconciler_process

POOLS = [f"p{index}" for index in range(30)]
ROUNDS_ASKED = os.environ.get("RELIABILITY_KILL_ROUNDS")
SOAK_ROUNDS = int(ROUNDS_ASKED or 20)
SMALL_ROUNDS = int(ROUNDS_ASKED or 2)
SEED = int(os.environ.get("RELIABILITY_SEED", "20260301"))


def write_desired(folder: Path, generation: int) -> Path:
    """Every pool labelled ``gen: <generation>``."""
    pools = "".join(f"  - {{name: {name}, mode: {'system' if name == 'p0' else 'user'},"
                    f" labels: {{gen: g{generation}}}}}\n" for name in POOLS)
    path = folder / "pools.yaml"
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: demo\n"
                    "  provider: local\n  settings: {stateFile: state.json, location: eastus,"
                    " operationSeconds: 0}\nnodePools:\n" + pools)
    return path


def read_state(folder: Path) -> dict[str, Any]:
    """The agent pools in the state file; raises if it does not parse or is misshapen."""
    pools = json.loads((folder / "state.json").read_text(encoding="utf-8"))["agentPools"]
    assert isinstance(pools, dict) and all(isinstance(p, dict) for p in pools.values())
    return pools


def without_label(pool: dict[str, Any]) -> dict[str, Any]:
    """A pool record minus what a relabel changes (its labels and eTag)."""
    props = {k: v for k, v in pool["properties"].items() if k not in ("nodeLabels", "eTag")}
    return {**pool, "properties": props}


class Reader(threading.Thread):
    """Reads the state file in a loop; counts reads and any that did not parse."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.folder = folder
        self.stop = threading.Event()
        self.reads = 0
        self.broken: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                read_state(self.folder)
            except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
                self.broken.append(repr(exc))
            self.reads += 1
            time.sleep(0.0005)  # leave the CPU to the applies being killed


@pytest.mark.parametrize("size", ["small", pytest.param("soak", marks=pytest.mark.soak)])
def test_kill_9_never_leaves_a_corrupt_or_mixed_pool(size: str, tmp_path: Path,
                                                      figures: dict[str, Counter[str]]) -> None:
    rounds = SOAK_ROUNDS if size == "soak" else SMALL_ROUNDS
    rng = random.Random(SEED)
    assert reconciler_process(["apply", write_desired(tmp_path, 0).name, "--yes"],
                              tmp_path).returncode == 0
    started = time.monotonic()  # one unkilled relabel: how long an apply takes here
    assert reconciler_process(["apply", write_desired(tmp_path, 1).name, "--yes"],
                              tmp_path).returncode == 0
    duration = time.monotonic() - started
    counts: Counter[str] = Counter()
    reader = Reader(tmp_path)
    reader.start()
    for generation in range(2, max(rounds, SOAK_ROUNDS) + 2):
        if generation - 2 >= rounds and counts["killed mid-apply"]:
            break  # the default run: a few rounds, and one kill among the writes
        before = read_state(tmp_path)
        write_desired(tmp_path, generation)
        apply = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "pools.yaml", "--yes",
             "--parallelism", str(rng.randint(1, 4))], cwd=tmp_path,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 0.9) * duration)
        apply.send_signal(signal.SIGKILL)
        apply.wait(30)
        after = read_state(tmp_path)  # parses, or the test fails here
        assert set(after) == set(before)
        relabelled = 0
        for name in POOLS:
            label = after[name]["properties"]["nodeLabels"]["gen"]
            assert label in (before[name]["properties"]["nodeLabels"]["gen"], f"g{generation}")
            assert without_label(after[name]) == without_label(before[name])
            relabelled += label == f"g{generation}" != before[name]["properties"][
                "nodeLabels"]["gen"]
        changing = sum(1 for name in POOLS
                       if before[name]["properties"]["nodeLabels"]["gen"] != f"g{generation}")
        counts["killed before any write" if relabelled == 0 else
               "killed mid-apply" if relabelled < changing else "killed after every write"] += 1
    reader.stop.set()
    reader.join(5)
    assert reader.broken == []
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # Apply once more, unkilled: it converges over whatever the kills left.
    assert reconciler_process(["apply", "pools.yaml", "--yes"], tmp_path).returncode == 0
    final = reconciler_process(["plan", "pools.yaml", "--detailed-exitcode"], tmp_path)
    assert final.returncode == 0 and "No changes." in final.stdout
    figures["kill -9 during apply" + ("" if size == "small" else " (soak)")] = Counter(
        {"rounds": counts.total(), **counts, "concurrent reads": reader.reads,
         "unparsable reads": 0, "corrupt states": 0, "temp files left": len(leftovers)})
    assert counts["killed mid-apply"] >= 1  # the kills did land among the writes

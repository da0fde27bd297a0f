"""`apply --format json` (JSON Lines events, each checked against its schema), heartbeats
and N of M in CI logs, and colour: through real `reconciler` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emulator_session import EmulatorSession
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).parents[1]
ANSI = "\x1b["
DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {{stateFile: state.json, location: japaneast, operationSeconds: {seconds}}}
nodePools:
  - name: system
    mode: system
    autoscaling: {{enabled: true, min: 1, max: 3}}
  - name: batch
    mode: user
    autoscaling: {{enabled: false, desired: 2}}
"""


def reconciler(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items()
            if key not in ("NO_COLOR", "FORCE_COLOR", "RECONCILER_LOG")}
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=folder, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=120,
                          env={**base, **env})


def validator() -> Draft202012Validator:
    schemas = {name: json.loads((ROOT / "schemas" / name).read_text())
               for name in ("apply-events.schema.json", "plan.schema.json")}
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    return Draft202012Validator(schemas["apply-events.schema.json"], registry=registry)


def events_of(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """Every line of standard output as an event, each one valid against the schema."""
    check = validator()
    events = []
    for line in done.stdout.splitlines():
        event = json.loads(line)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in check.iter_errors(event)]
        assert errors == [], (line, errors)
        events.append(event)
    return events


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "pools.yaml").write_text(DESIRED.format(seconds=1.5))
    return tmp_path


def test_json_apply_streams_valid_events_ending_with_the_summary(folder: Path) -> None:
    done = reconciler(folder, "apply", "pools.yaml", "--yes", "--format", "json",
                      RECONCILER_HEARTBEAT_SECONDS="0.2")
    assert done.returncode == 0, done.stderr
    events = events_of(done)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "plan" and kinds[-1] == "summary" and kinds.count("summary") == 1
    assert events[0]["plan"]["summary"]["create"] == 2
    for pool in ("system", "batch"):
        mine = [e for e in events if e.get("pool") == pool]
        assert mine[0]["type"] == "action_started" and mine[-1]["type"] == "action_finished"
        assert [e["type"] for e in mine].count("action_finished") == 1
        assert mine[-1]["outcome"] == "applied" and mine[-1]["error"] is None
        beats = [e for e in mine if e["type"] == "progress" and e["heartbeat"]]
        assert beats and beats[0]["message"].startswith(f"still creating {pool}, ")
    assert events[-1] == {**events[-1], "exitCode": 0, "outcome": "applied", "applied": 2,
                          "failed": 0, "notStarted": 0, "error": None}
    assert sorted(e["done"] for e in events if e["type"] == "action_finished") == [1, 2]
    # Nothing else on standard output: every line was an event.
    again = reconciler(folder, "apply", "pools.yaml", "--yes", "--format", "json")
    assert [e["type"] for e in events_of(again)] == ["plan", "summary"]
    assert events_of(again)[-1]["outcome"] == "no-changes"


def test_json_apply_reports_errors_as_a_summary_too(folder: Path) -> None:
    (folder / "broken.yaml").write_text("apiVersion: [unclosed\n")
    broken = reconciler(folder, "apply", "broken.yaml", "--yes", "--format", "json")
    assert broken.returncode == 1 and broken.stderr.startswith("broken.yaml:1:")
    [summary] = events_of(broken)
    assert (summary["type"], summary["exitCode"], summary["outcome"]) == ("summary", 1, "error")
    assert "broken.yaml:1:" in summary["error"]
    assert reconciler(folder, "apply", "pools.yaml", "--yes").returncode == 0
    path = folder / "pools.yaml"
    path.write_text(path.read_text().replace("  - name: system\n    mode: system\n",
                                             "  - name: system\n    mode: user\n"))
    rejected = reconciler(folder, "apply", "pools.yaml", "--yes", "--format", "json")
    assert rejected.returncode == 1
    plan, summary = events_of(rejected)
    assert plan["plan"]["errors"] and summary["outcome"] == "rejected"
    # There is no prompt in a stream of events.
    assert reconciler(folder, "apply", "pools.yaml", "--format", "json").returncode == 64


def test_json_apply_reports_a_failed_action_and_those_never_started(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    aks_emulator.reset()
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", """\
nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 3}
  - name: batch
    mode: user
    autoscaling: {enabled: false, desired: 2}
""")
    aks_emulator.faults.add(method="PUT", path="/agentPools/system$", action="lro_failed",
                            code="VMExtensionProvisioningError", message="VM extension failed")
    done = reconciler(tmp_path, "apply", str(path), "--yes", "--format", "json",
                      "--parallelism", "1", **aks_emulator.env)
    assert done.returncode == 1, done.stderr
    events = events_of(done)
    finished = {e["pool"]: e for e in events if e["type"] == "action_finished"}
    assert finished["system"]["outcome"] == "failed"
    assert "VM extension failed" in finished["system"]["error"]
    assert finished["batch"]["outcome"] == "not started" and finished["batch"]["error"] is None
    assert events[-1]["type"] == "summary"
    assert (events[-1]["exitCode"], events[-1]["outcome"], events[-1]["failed"],
            events[-1]["notStarted"]) == (1, "failed", 1, 1)


def test_ci_logs_get_heartbeats_and_n_of_m(folder: Path) -> None:
    done = reconciler(folder, "apply", "pools.yaml", "--yes",
                      RECONCILER_HEARTBEAT_SECONDS="0.2")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    for pool in ("system", "batch"):
        assert any(line.startswith(f"  still creating {pool}, ") and
                   line.endswith(" of 2 done)") for line in lines), done.stderr
    assert "  1 of 2 actions done" in lines and "  2 of 2 actions done" in lines


def test_without_the_variable_a_short_apply_has_no_heartbeat(folder: Path) -> None:
    """The default interval is 30 s: an apply of a second and a half says nothing more."""
    (folder / "pools.yaml").write_text(DESIRED.format(seconds=0.2))
    done = reconciler(folder, "apply", "pools.yaml", "--yes")
    assert done.returncode == 0 and "still creating" not in done.stderr


def test_colour_follows_the_flag_then_no_color_then_force_color(folder: Path) -> None:
    def plan_and_apply(*args: str, **env: str) -> str:
        (folder / "state.json").unlink(missing_ok=True)
        plan = reconciler(folder, "plan", "pools.yaml", *args, **env)
        apply = reconciler(folder, "apply", "pools.yaml", "--yes", *args, **env)
        return plan.stdout + apply.stdout + apply.stderr

    def plan(*args: str, **env: str) -> str:
        """One choice is made for the whole run (plan, progress, report alike), so the
        rules below are checked on plan alone once apply is seen to follow it."""
        (folder / "state.json").unlink(missing_ok=True)
        return reconciler(folder, "plan", "pools.yaml", *args, **env).stdout

    (folder / "pools.yaml").write_text(DESIRED.format(seconds=0))
    assert ANSI not in plan_and_apply()  # not a terminal
    coloured = plan_and_apply(FORCE_COLOR="1")
    assert f"{ANSI}32m{ANSI}1m  + create system" in coloured  # the plan
    assert f"{ANSI}32m  created system" in coloured  # the progress
    assert f"{ANSI}32m{ANSI}1mApply complete" in coloured  # the report
    assert ANSI not in plan_and_apply("--color", "never", FORCE_COLOR="1")
    assert ANSI not in plan(NO_COLOR="1", FORCE_COLOR="1")
    assert ANSI in plan(NO_COLOR="", FORCE_COLOR="1")  # an empty NO_COLOR: unset
    assert ANSI not in plan(FORCE_COLOR="0")
    assert ANSI in plan("--color", "always", NO_COLOR="1")


def test_debug_logs_every_driver_call_with_its_duration(folder: Path) -> None:
    for args, env in ((("--debug", "plan", "pools.yaml"), {}),
                      (("plan", "pools.yaml", "--debug"), {}),
                      (("plan", "pools.yaml"), {"RECONCILER_LOG": "debug"})):
        done = reconciler(folder, *args, **env)
        assert done.returncode == 0
        assert "DEBUG reconciler.provider: local list: started" in done.stderr
        assert "DEBUG reconciler.provider: local list: done in " in done.stderr
    quiet = reconciler(folder, "plan", "pools.yaml")
    assert "DEBUG" not in quiet.stderr and quiet.stderr == ""

"""Conflicts shaped like AKS: a cluster that runs one agentpool operation at a time (409
"Another agentpool operation (p0 - Creating) is in progress") or cancels the earlier of
two ("overriden and canceled by a later operation"), 409s that are not "busy", and
long-running operations that fail with nested details. Real CLI processes and the real
SDK, over HTTPS to the emulator (``cluster_busy`` mode)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool

from reconciler.app import plan_file
from reconciler.apply.executor import ActionResult, Outcome, execute
from reconciler.cli import cli
from reconciler.emulator.requestlog import LoggedRequest
from reconciler.plan import Action

OWNED = {"managed-by": "reconciler"}
SYSTEM = arm_pool("system", "System", enableAutoScaling=True, minCount=1, maxCount=3,
                  tags=OWNED)
CREATES = 8
# Retries are woken by our own operations ending; the timer is only the fallback.
SLOW_TIMER = {"conflictBackoffSeconds": 2, "conflictTimeoutSeconds": 60}


def pools_yaml(names: list[str]) -> str:
    """The seeded system pool plus one user pool per name."""
    lines = ["nodePools:", "  - name: system", "    mode: system",
             "    autoscaling: {enabled: true, min: 1, max: 3}"]
    for name in names:
        lines += [f"  - name: {name}", "    mode: user", "    instanceType: Standard_D4s_v5",
                  "    autoscaling: {enabled: false, desired: 1}"]
    return "\n".join(lines) + "\n"


def apply_process(session: EmulatorSession, path: Path, *args: str
                  ) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler apply PATH --yes`` in its own process."""
    return subprocess.run([sys.executable, "-m", "reconciler", "apply", str(path), "--yes",
                           *args], cwd=path.parent, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", **session.env})


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def writes_during_operations(session: EmulatorSession) -> list[int]:
    """For each accepted operation, in start order: the writes refused while it was the
    latest one started (what the apply threw at a cluster busy with it)."""
    ops = sorted(session.cluster.operations.values(), key=lambda op: op.started)
    refused: list[LoggedRequest] = [e for e in session.request_log.writes if e.status == 409]
    counts = [0] * len(ops)
    for entry in refused:
        owners = [i for i, op in enumerate(ops) if op.started <= entry.at]
        counts[owners[-1] if owners else 0] += 1
    return counts


def failed_pools(session: EmulatorSession) -> list[str]:
    return [p["name"] for p in session.cluster.list_pools()
            if p["properties"].get("provisioningState") != "Succeeded"]


# -- a cluster that runs one agentpool operation at a time --------------------------------


def apply_creates(aks_emulator: EmulatorSession, tmp_path: Path, busy: str,
                  ) -> tuple[list[str], Path, subprocess.CompletedProcess[str]]:
    """CREATES pools applied at once (a real process) on a cluster in ``busy`` mode; the
    apply must succeed. Returns the pool names, the file and the finished process."""
    aks_emulator.reset([SYSTEM], lro_seconds=0.1, cluster_busy=busy)
    names = [f"p{i}" for i in range(CREATES)]
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(names),
                                      **SLOW_TIMER)
    done = apply_process(aks_emulator, path, "--parallelism", str(CREATES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Apply complete: {CREATES} applied." in done.stdout
    return names, path, done


def test_parallel_creates_on_a_serialising_cluster_converge_with_fewer_writes(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    names, path, done = apply_creates(aks_emulator, tmp_path, "refuse")
    assert "The cluster answered busy: actions were sent again, as few as 1 at a time." \
        in done.stdout
    assert "Traceback" not in done.stderr
    assert "waiting for another operation on the cluster to finish" in done.stderr
    assert failed_pools(aks_emulator) == []
    assert {p["name"] for p in aks_emulator.store.list()} == {"system", *names}
    # The first round met refusals (how many were sent before the first operation ended
    # depends on the machine's load); from then on the apply sent writes one at a time:
    # while each later operation ran, at most one write (a probe) was refused. At a fixed
    # parallelism of 8, each would have met up to 7.
    during = writes_during_operations(aks_emulator)
    assert during[0] <= CREATES - 1
    assert max(during[1:]) <= 1
    puts = aks_emulator.request_log.writes
    assert len(puts) <= 2 * CREATES
    assert sum(e.status == 201 for e in puts) == CREATES
    final = cli_run("plan", str(path), "--detailed-exitcode")
    assert final.exit_code == 0 and "No changes." in final.stdout


def test_creates_canceled_by_a_later_operation_are_sent_again_and_none_stays_failed(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    names, path, done = apply_creates(aks_emulator, tmp_path, "cancel")
    canceled = [op for op in aks_emulator.cluster.operations.values() if op.canceled]
    assert len(canceled) >= CREATES - 1  # the first round: the later one won each time
    assert failed_pools(aks_emulator) == []
    # A canceled create left its pool Failed; it was sent again over it (If-Match).
    for op in canceled:
        resent = [e for e in aks_emulator.request_log.writes
                  if e.path.endswith(f"/{op.pool}") and e.header("If-Match")]
        assert resent, op.pool
    final = cli_run("plan", str(path), "--detailed-exitcode")
    assert final.exit_code == 0 and "No changes." in final.stdout


def test_a_preempted_operation_is_sent_again(aks_emulator: EmulatorSession,
                                             tmp_path: Path) -> None:
    aks_emulator.reset([SYSTEM])
    aks_emulator.faults.add(method="PUT", path="/agentPools/p0$", action="lro_failed",
                            code="AKSOperationPreempted",
                            message="This operation has been preempted by another operation"
                                    " with ID 00000000-0000-0000-0000-000000000001")
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(["p0"]))
    result = cli_run("apply", str(path), "--yes")
    assert result.exit_code == 0, result.output
    assert "waiting for another operation on the cluster to finish" in result.stderr
    assert [e.status for e in aks_emulator.request_log.writes] == [201, 200]
    assert failed_pools(aks_emulator) == []


# -- 409s that are not "busy", and failures with details ----------------------------------


@pytest.mark.parametrize(("status", "code", "message"), [
    # A 409 with the very code AKS uses for "busy", but nothing waiting will fix.
    (409, "OperationNotAllowed", "Operation is not allowed: Cluster in a failed state"),
    (409, "ScopeLocked", "The scope '/subscriptions/0/resourceGroups/rg1' cannot perform"
                         " write operation because following scope(s) are locked: 'rg1'."),
    # How AKS refuses agent pool writes while the cluster is stopped (a 400, not a 409).
    (400, "OperationNotAllowed", "Managed Cluster is in stopped state, no operations except"
                                 " for start are allowed."),
], ids=["failed-cluster-409", "lock-409", "stopped-cluster-400"])
def test_a_refusal_that_waiting_cannot_fix_fails_at_once_with_aks_words(
        aks_emulator: EmulatorSession, tmp_path: Path, status: int, code: str,
        message: str) -> None:
    aks_emulator.reset([SYSTEM])
    aks_emulator.faults.add(method="PUT", path="/agentPools/p0$", times=100, status=status,
                            code=code, message=message)
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(["p0", "p1"]))
    result = cli_run("apply", str(path), "--yes", "--parallelism", "1")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    [line] = [x for x in result.stdout.splitlines() if x.startswith("  failed to create p0")]
    assert f"{message} ({code})" in line
    assert "waiting for another operation" not in result.stderr
    assert len(aks_emulator.request_log.find("PUT", "/agentPools/p0$")) == 1
    assert "not started: create p1" in result.stdout


def test_a_failed_operation_is_reported_with_aks_nested_details_on_one_line(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    # The shape AKS answers when another tool deletes the pool under an update
    # (kaito-project/kaito#2075): preempted by a delete is not "busy", it is reported.
    aks_emulator.reset([SYSTEM])
    aks_emulator.faults.add(
        method="PUT", path="/agentPools/p0$", action="lro_failed",
        code="ResourceOperationFailure",
        message="The resource operation completed with terminal provisioning state 'Failed'.",
        details=[{"code": "OriginalEtagNotExpect",
                  "message": "Failed to save agent pool p0.\nThis operation has been"
                             " preempted by Deleting operation.",
                  "details": [{"message": "rpc error: code = FailedPrecondition desc ="
                                          " Original etag not expected"}]}])
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(["p0"]))
    result = cli_run("apply", str(path), "--yes")
    assert result.exit_code == 1
    [line] = [x for x in result.stdout.splitlines() if x.startswith("  failed to create p0")]
    assert line.endswith(
        "the operation ended Failed: The resource operation completed with terminal"
        " provisioning state 'Failed'. (ResourceOperationFailure) [details: Failed to save"
        " agent pool p0.\\x0aThis operation has been preempted by Deleting operation."
        " (OriginalEtagNotExpect) [details: rpc error: code = FailedPrecondition desc ="
        " Original etag not expected]]")
    assert len(aks_emulator.request_log.writes) == 1  # not sent again


# -- the executor's side: interrupts while waiting ----------------------------------------


class InterruptWhenWaiting:
    """ApplyEvents that press Ctrl-C (set the flag) at the first "waiting" message."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag
        self.finished_results: list[ActionResult] = []

    def started(self, action: Action) -> None: ...

    def progress(self, action: Action, message: str) -> None:
        if message.startswith("waiting for another operation"):
            self.flag.set()

    def finished(self, result: ActionResult) -> None:
        self.finished_results.append(result)


def test_an_interrupt_stops_sending_refused_actions_again(aks_emulator: EmulatorSession,
                                                          tmp_path: Path) -> None:
    aks_emulator.reset([SYSTEM], lro_seconds=0.3, cluster_busy="refuse")
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools_yaml(["p0", "p1", "p2"]),
                                      **SLOW_TIMER)
    planned = plan_file(str(path))
    flag = threading.Event()
    events = InterruptWhenWaiting(flag)
    report = execute(planned.plan, planned.driver, events, parallelism=3, interrupt=flag)
    assert report.interrupted
    [applied] = [r.action.pool for r in report.results if r.outcome is Outcome.APPLIED]
    refused = [r for r in report.results if r.action.pool != applied]
    for result in refused:  # refused while the accepted one ran, then not sent again
        assert result.outcome is Outcome.FAILED
        assert str(result.error).endswith("; not retried: interrupted")
        assert f"Another agentpool operation ({applied} - Creating) is in progress" in \
            str(result.error)
    assert len(events.finished_results) == 3  # each reported once
    assert len(aks_emulator.request_log.writes) == 3
    assert {p["name"] for p in aks_emulator.store.list()} == {"system", applied}


def test_the_emulator_mode_is_on_the_command_line(tmp_path: Path) -> None:
    from reconciler.emulator.__main__ import parse_args

    assert parse_args(["--cluster-busy", "refuse"]).cluster_busy == "refuse"
    with pytest.raises(SystemExit):
        parse_args(["--cluster-busy", "sometimes"])

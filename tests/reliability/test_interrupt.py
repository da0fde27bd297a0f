"""Ctrl-C during apply: no new action starts, in-flight actions are waited for, every action
is reported (applied / failed / not started), the exit code is 130, the state file stays
valid, and apply again converges.

The real thing is a subprocess (``python -m reconciler apply FILE --yes``) on the local
provider with ``operationSeconds`` so that actions take a while, sent real SIGINTs. The
in-process tests raise SIGINT at the awkward moments a person cannot aim at: inside the
progress callbacks, while planning, and while the final report is printed.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from reliability_support import parse_outcomes, reconciler_process

from reconciler.app import plan_file
from reconciler.apply.executor import Outcome, execute
from reconciler.cli import cli

POOLS = ["system", "apps", "batch", "web"]
OPERATION_SECONDS = 1.0
# Generous bound for an interrupted apply to exit after SIGINT: the in-flight action's
# remaining operationSeconds plus process overhead on a loaded 2-core CI machine.
EXIT_BOUND_SECONDS = 10.0


def desired_file(folder: Path, operation_seconds: float = OPERATION_SECONDS) -> Path:
    """Four pools to create on a local cluster whose writes take ``operation_seconds``."""
    pools = "\n".join(f"  - {{name: {n}, mode: {'system' if n == 'system' else 'user'}}}"
                      for n in POOLS)
    path = folder / "pools.yaml"
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: demo\n"
                    "  provider: local\n  settings: {stateFile: state.json, location: japaneast,"
                    f" operationSeconds: {operation_seconds}}}\nnodePools:\n{pools}\n")
    return path


class Apply:
    """A running ``reconciler apply`` whose stderr lines are collected as they come."""

    def __init__(self, folder: Path, *args: str, stdin: Any = subprocess.DEVNULL) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "pools.yaml", *args], cwd=folder,
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "NO_COLOR": "1"})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        """Block until ``predicate(lines)`` holds (fails the test after ``timeout``)."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.lines), timeout):
                self.process.kill()
                pytest.fail(f"timed out waiting; stderr so far: {self.lines}")

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Exit code, stdout and stderr once the process ends (within ``timeout``)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()  # returns when the process closes it
        self.process.wait(timeout)
        self._reader.join(5)
        return self.process.returncode, stdout, "\n".join(self.lines) + "\n"


def state_pools(folder: Path) -> set[str]:
    """Pools in the local state file, which must parse."""
    return set(json.loads((folder / "state.json").read_text())["agentPools"])


@pytest.mark.parametrize(("parallelism", "signals"), [(1, 1), (2, 1), (1, 3)])
def test_sigint_stops_new_actions_waits_for_running_ones_and_exits_130(
        tmp_path: Path, parallelism: int, signals: int) -> None:
    desired_file(tmp_path)
    apply = Apply(tmp_path, "--yes", "--parallelism", str(parallelism))
    apply.wait_for(lambda lines: sum(x.endswith(" ...") for x in lines) == parallelism)
    sent = time.monotonic()
    for _ in range(signals):  # pressing Ctrl-C again must not abandon the in-flight ones
        apply.process.send_signal(signal.SIGINT)
        time.sleep(0.1)
    code, stdout, stderr = apply.finish(EXIT_BOUND_SECONDS)
    assert time.monotonic() - sent < EXIT_BOUND_SECONDS
    assert code == 130, stdout + stderr
    assert "Traceback" not in stdout + stderr
    running, waiting = POOLS[:parallelism], POOLS[parallelism:]
    assert (f"Apply interrupted: {parallelism} applied, {len(waiting)} not started."
            in stdout), stdout
    outcomes = parse_outcomes(stdout, stderr, [("create", pool) for pool in POOLS])
    assert {pool: outcomes.of(pool) for pool in POOLS} == {
        **{pool: ["applied"] for pool in running}, **{pool: ["not started"] for pool in waiting}}
    for pool in running:  # the person is told what is being waited for
        assert f"  creating {pool}: interrupted; waiting for it to finish" in stderr
    assert not any(f"creating {pool} ..." in stderr for pool in waiting)
    assert state_pools(tmp_path) == set(running)
    again = reconciler_process(["apply", "pools.yaml", "--yes"], tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert state_pools(tmp_path) == set(POOLS)
    final = reconciler_process(["plan", "pools.yaml", "--detailed-exitcode"], tmp_path)
    assert final.returncode == 0 and "No changes." in final.stdout


def test_sigint_at_the_confirmation_prompt_changes_nothing(tmp_path: Path) -> None:
    desired_file(tmp_path)
    controller, terminal = pty.openpty()  # apply asks only when stdin is a terminal
    try:
        apply = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "pools.yaml"], cwd=tmp_path,
            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"})
        assert apply.stdout is not None
        seen = b""
        deadline = time.monotonic() + 30
        while b"Apply 4 action(s)" not in seen and time.monotonic() < deadline:
            seen += os.read(apply.stdout.fileno(), 4096)
        assert b"Apply 4 action(s) to cluster 'demo'?" in seen
        # A SIGINT landing between input() writing the prompt and blocking in read() is
        # only seen when read() returns (a CPython window no person can hit): press again.
        for _ in range(int(EXIT_BOUND_SECONDS / 0.5)):
            apply.send_signal(signal.SIGINT)
            try:
                apply.wait(0.5)
                break
            except subprocess.TimeoutExpired:
                continue
        stdout, stderr = apply.communicate(timeout=EXIT_BOUND_SECONDS)
    finally:
        os.close(controller)
        os.close(terminal)
    assert apply.returncode == 130
    assert b"Traceback" not in seen + stdout + stderr
    assert stderr.decode().strip() == "Aborted."
    assert not (tmp_path / "state.json").exists()


# -- in-process: SIGINT where no person could aim it -------------------------------------


class SignallingEvents:
    """Apply events that send this process SIGINT from inside one callback, once."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.sent = False

    def _maybe(self, where: str) -> None:
        if where == self.where and not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGINT)

    def started(self, action: object) -> None:
        self._maybe("started")

    def progress(self, action: object, message: str) -> None:
        self._maybe("progress")  # called from a worker thread: the signal still lands

    def finished(self, result: object) -> None:
        self._maybe("finished")


@pytest.fixture
def quick_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A desired file of four pools on a local cluster with instant writes, as cwd."""
    monkeypatch.chdir(tmp_path)
    yield desired_file(tmp_path, operation_seconds=0)


@pytest.mark.parametrize("where", ["started", "progress", "finished"])
def test_sigint_inside_a_progress_callback_is_an_orderly_stop(quick_file: Path,
                                                              where: str) -> None:
    planned = plan_file(str(quick_file))
    handler = signal.getsignal(signal.SIGINT)
    report = execute(planned.plan, planned.driver, SignallingEvents(where), parallelism=1)
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    assert report.interrupted and report.result.exit_code == 130
    outcomes = [result.outcome for result in report.results]
    # The first action had started when the signal came; nothing started after it.
    assert outcomes == [Outcome.APPLIED] + [Outcome.NOT_STARTED] * 3
    assert state_pools(quick_file.parent) == {"system"}


def test_sigint_while_planning_exits_130_without_a_write(quick_file: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from reconciler.providers.local.driver import LocalDriver

    def interrupted_list(self: LocalDriver, name: str | None = None) -> list[Any]:
        signal.raise_signal(signal.SIGINT)
        return []

    monkeypatch.setattr(LocalDriver, "list", interrupted_list)
    result = CliRunner().invoke(cli, ["apply", "pools.yaml", "--yes"])
    assert result.exit_code == 130
    assert result.stderr.strip() in ("Aborted.", "Interrupted.")  # click says Aborted.
    assert not (quick_file.parent / "state.json").exists()


def test_sigint_while_the_report_prints_keeps_the_report_and_its_exit_code(
        quick_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reconciler.apply.progress

    real = reconciler.apply.progress.report_text

    def interrupted_report(report: Any, **options: Any) -> str:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C just as the work is done
        return real(report, **options)

    monkeypatch.setattr(reconciler.apply.progress, "report_text", interrupted_report)
    result = CliRunner().invoke(cli, ["apply", "pools.yaml", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Apply complete: 4 applied." in result.stdout
    assert state_pools(quick_file.parent) == set(POOLS)


def test_an_interrupt_before_the_first_action_starts_nothing(quick_file: Path) -> None:
    planned = plan_file(str(quick_file))
    interrupt = threading.Event()
    interrupt.set()  # Ctrl-C between the confirmation and the first write
    report = execute(planned.plan, planned.driver, SignallingEvents("never"),
                     interrupt=interrupt)
    assert report.interrupted and report.result.exit_code == 130
    assert [r.outcome for r in report.results] == [Outcome.NOT_STARTED] * 4
    assert not (quick_file.parent / "state.json").exists()

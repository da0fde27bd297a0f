"""The bearer token never leaves the process: not in output, logs, errors or files.

A whole AKS session through the CLI against the emulator (plan, plan --out, show, apply
with a failing operation, list, export, a 403, a 500 and a rejected token), with a
distinctive token, everything captured: stdout and stderr of every command, every log
record at DEBUG (formatted, with its traceback if any), the saved plan and the exported
file. Then the same in real processes with ``AZURE_LOG_LEVEL=debug`` and the root logger
at DEBUG writing to stderr. The token must appear nowhere; the captures are checked to be
non-trivial (the SDK's own debug records are among them) so that "nowhere" means something.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from emulator_session import STANDARD_POOLS, EmulatorSession

from reconciler.cli import cli

TOKEN = f"rcTOKEN-{secrets.token_hex(16)}-do-not-leak"
WRONG_TOKEN = f"rcWRONG-{secrets.token_hex(16)}-do-not-leak"
# Runs the real CLI with every logger at DEBUG writing to stderr.
VERBOSE_CLI = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr);"
               " sys.argv[0] = 'reconciler'; from reconciler.cli import main; main()")
POOLS = """\
nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 4}
  - name: batch
    mode: user
    autoscaling: {enabled: false, desired: 3}
  - name: extra
    mode: user
"""


class Everything(logging.Handler):
    """Keeps every record, formatted with its traceback, from every logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name)


@pytest.fixture
def captured_logs() -> Iterator[Everything]:
    """The root logger at DEBUG into an Everything handler, for one test."""
    root = logging.getLogger()
    handler, level = Everything(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def cluster(aks_emulator: EmulatorSession, monkeypatch: pytest.MonkeyPatch) -> EmulatorSession:
    """The emulator expecting TOKEN, and AZURE_ACCESS_TOKEN set to it."""
    aks_emulator.reset(STANDARD_POOLS, token=TOKEN)
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("AZURE_LOG_LEVEL", "debug")
    return aks_emulator


def test_the_token_appears_in_no_output_log_or_file(
        cluster: EmulatorSession, tmp_path: Path, captured_logs: Everything,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(cluster.write_desired(tmp_path / "pools.yaml", POOLS))
    plan_path, exported = str(tmp_path / "plan.json"), str(tmp_path / "exported.yaml")
    outputs: list[str] = []

    def run(*args: str, expect: int) -> None:
        result = CliRunner().invoke(cli, list(args))
        outputs.extend([result.stdout, result.stderr, repr(result.exception)])
        assert result.exit_code == expect, (args, result.output)

    run("plan", path, expect=0)
    run("plan", path, "--format", "json", expect=0)
    run("plan", path, "--format", "markdown", "--out", plan_path, expect=0)
    run("show", plan_path, expect=0)
    cluster.faults.add(method="PUT", path="/agentPools/extra$", action="lro_failed",
                       code="VMExtensionProvisioningError", message="VM extension failed")
    run("apply", plan_path, "--file", path, "--yes", expect=1)  # a failing operation
    run("list", path, "--format", "json", expect=0)
    run("export", path, "--output", exported, expect=0)
    cluster.faults.add(method="GET", path="/agentPools$", status=403, code="AuthorizationFailed",
                       message="The client does not have authorization to perform action")
    run("plan", path, expect=1)
    cluster.faults.add(method="GET", path="/agentPools$", status=500, times=10)
    run("list", path, expect=1)  # an outage past the retries
    cluster.faults.clear()
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", WRONG_TOKEN)
    run("plan", path, expect=1)  # 401: the rejected token is a secret too
    run("apply", path, "--yes", expect=1)

    files = [Path(plan_path).read_text(), Path(exported).read_text()]
    everything = "\n".join(outputs + captured_logs.lines + files)
    assert TOKEN not in everything and WRONG_TOKEN not in everything
    # The captures are real: the commands ran against the emulator, which checked TOKEN,
    # and the SDK's own HTTP logging was captured at DEBUG.
    assert "VM extension failed" in everything and "HTTP 403" in everything
    assert "(HTTP 401)" in everything
    assert cluster.request_log.count(status=200) >= 5
    assert any(name.startswith("azure.core") for name in captured_logs.names)
    assert any("Authorization" in line for line in captured_logs.lines)  # shown redacted


def test_verbose_real_processes_never_print_the_token(cluster: EmulatorSession,
                                                      tmp_path: Path) -> None:
    path = str(cluster.write_desired(tmp_path / "pools.yaml", POOLS))
    env = {**os.environ, **cluster.env, "AZURE_LOG_LEVEL": "debug", "NO_COLOR": "1"}

    def verbose(*args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", VERBOSE_CLI, *args], cwd=tmp_path,
                              text=True, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=60, env={**env, "AZURE_ACCESS_TOKEN": token})

    runs = [verbose("plan", path), verbose("apply", path, "--yes"),
            verbose("plan", path, token=WRONG_TOKEN)]
    assert [r.returncode for r in runs] == [0, 0, 1]
    text = "".join(r.stdout + r.stderr for r in runs)
    assert TOKEN not in text and WRONG_TOKEN not in text
    assert "DEBUG:azure.core" in text or "DEBUG:urllib3" in text  # verbose really was on
    assert "INFO:azure.core.pipeline.policies.http_logging_policy" in text

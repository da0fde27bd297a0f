"""Finding 3: no string from a file or the cloud drives a terminal or writes a CI command.

Live pool names, label and tag keys and values (the local provider's state file stands
in for a hostile cloud) and AKS error messages (the ARM emulator's fault injection) go
through ``plan`` (text and JSON), ``list`` (text and JSON), ``apply`` (line progress and
report; on a pseudo-terminal, the rich live display and the confirmation prompt),
``show`` and ``validate``, each in a real ``python -m reconciler`` process. No output may
carry a raw control, separator or bidi character, and no output line may start a GitHub
workflow command (``::add-mask::``, ``::stop-commands::``, ``##[error]``).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from emulator_session import EmulatorSession, arm_pool
from security_support import (
    BIDI,
    DESIRED,
    HOSTILE,
    RICH,
    STOP,
    TERMINAL,
    WORKFLOW,
    arm,
    cli_env,
    output_problems,
    run,
    write_cluster,
)


def test_plan_and_list_show_hostile_live_values_as_inert_text(tmp_path: Path) -> None:
    write_cluster(tmp_path)
    outputs = {" ".join(args): run(tmp_path, *args) for args in (
        ("plan", "pools.yaml"), ("plan", "pools.yaml", "--format", "json"),
        ("list", "pools.yaml"), ("list", "pools.yaml", "--format", "json"))}
    for name, result in outputs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert output_problems(result.stdout + result.stderr) == [], name
    plan_text = outputs["plan pools.yaml"].stdout
    assert "  - delete \\x1b]0;pwned\\x07\\x1b[2K\\x0dx\\x1b[31m\\x9b31m  (owned" in plan_text
    assert "  - delete \\x3a:add-mask::hunter2  (owned" in plan_text
    assert "  - delete \\u202etxt.exe\\u2066\\u2069\\u200e\\u200f\\u061c  (owned" in plan_text
    assert "      labels.k7a\\u2028b\\u2029c\\x85d\\x0ae  " in plan_text
    # JSON keeps every value exactly (a machine reads it), but escaped for `cat`.
    plan = json.loads(outputs["plan pools.yaml --format json"].stdout)
    assert {a["pool"] for a in plan["actions"]} == {"system", *HOSTILE}
    listed = json.loads(outputs["list pools.yaml --format json"].stdout)
    assert {p["name"] for p in listed} >= set(HOSTILE)
    assert "\\u202e" in outputs["list pools.yaml --format json"].stdout
    # `list`: a name starts each line, and the columns line up on the escaped text.
    lines = outputs["list pools.yaml"].stdout.splitlines()
    mode_column = lines[0].index("MODE")
    assert len(lines) == 1 + 1 + 2 * len(HOSTILE)
    for line in lines[1:]:
        assert line[mode_column - 2:mode_column] == "  " and line[mode_column] != " ", line
        assert line[mode_column:].split()[0] in ("user", "system"), line
    assert "\\x3a:add-mask::hunter2 " in outputs["list pools.yaml"].stdout
    assert "\\x3a:stop-commands::tok " in outputs["list pools.yaml"].stdout


def test_apply_progress_and_report_are_inert(tmp_path: Path) -> None:
    write_cluster(tmp_path)
    applied = run(tmp_path, "apply", "pools.yaml", "--yes")
    assert applied.returncode == 0, applied.stderr
    assert output_problems(applied.stdout + applied.stderr) == []
    assert "  deleting \\x3a:stop-commands::tok ..." in applied.stderr
    assert re.search(r"(?m)^  deleted \\u202etxt\.exe\\u2066\\u2069\\u200e\\u200f\\u061c "
                     r"\(\d+\.\ds\)$", applied.stderr)
    assert "Apply complete: 11 applied." in applied.stdout
    state = json.loads((tmp_path / "state.json").read_text())["agentPools"]
    assert set(HOSTILE).isdisjoint(state)  # the deletes really ran, names intact


def test_heartbeats_and_json_events_are_inert(tmp_path: Path) -> None:
    """The heartbeat lines of a CI log and the JSON Lines of `apply --format json` carry
    the same hostile names, escaped."""
    write_cluster(tmp_path, desired=DESIRED.replace(
        "location: japaneast", "location: japaneast, operationSeconds: 0.6"))
    env = cli_env(RECONCILER_HEARTBEAT_SECONDS="0.2")
    applied = run(tmp_path, "apply", "pools.yaml", "--yes", "--parallelism", "20", env=env)
    assert applied.returncode == 0, applied.stderr
    assert output_problems(applied.stdout + applied.stderr) == []
    assert "  still deleting \\x3a:stop-commands::tok, " in applied.stderr
    write_cluster(tmp_path, desired=DESIRED.replace(
        "location: japaneast", "location: japaneast, operationSeconds: 0.6"))
    streamed = run(tmp_path, "apply", "pools.yaml", "--yes", "--format", "json",
                   "--parallelism", "20", env=env)
    assert streamed.returncode == 0, streamed.stderr
    assert output_problems(streamed.stdout + streamed.stderr) == []
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    pools = {e["pool"] for e in events if e["type"] == "action_finished"}
    assert set(HOSTILE) <= pools  # escaped in the text, intact in the data
    assert any(e["type"] == "progress" and e["heartbeat"] and e["pool"] == TERMINAL
               for e in events)


def test_a_saved_plan_shown_as_text_is_inert(tmp_path: Path) -> None:
    errors = [{"pool": s, "path": [s], "field": s, "before": s, "after": None, "message": s}
              for s in HOSTILE]
    plan = {"formatVersion": "2", "reconcilerVersion": "0",
            "cluster": {"name": TERMINAL, "provider": WORKFLOW},
            "summary": {"create": 0, "update": 0, "delete": len(HOSTILE), "noop": 0},
            "actions": [{"action": "delete", "pool": s, "reason": "no-longer-listed",
                         "changes": []} for s in HOSTILE],
            "unmanaged": [STOP], "kept": [STOP], "errors": errors, "desiredFile": "pools.yaml",
            "fingerprint": {"live": "x", "desired": "x", "target": "x"}}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    for fmt in ("text", "json"):
        shown = run(tmp_path, "show", "plan.json", "--format", fmt)
        assert shown.returncode == 1, shown.stderr
        assert output_problems(shown.stdout + shown.stderr) == [], fmt
    assert shown.stdout and json.loads(shown.stdout)["cluster"]["name"] == TERMINAL


def test_validate_and_errors_with_hostile_file_names(tmp_path: Path) -> None:
    """A glob such as ``clusters/*.yaml`` hands the CLI file names a fork chose."""
    names = ["::warning::forged.yaml", f"x{TERMINAL}.yaml", "##[error]legacy.yaml"]
    for name in names:
        (tmp_path / name).write_text(DESIRED, encoding="utf-8")
    valid = run(tmp_path, "validate", *names)
    assert valid.returncode == 0, valid.stderr
    assert output_problems(valid.stdout + valid.stderr) == []
    assert valid.stdout.splitlines() == [
        "\\x3a:warning::forged.yaml: valid (1 node pool)",
        "x\\x1b]0;pwned\\x07\\x1b[2K\\x0dx\\x1b[31m\\x9b31m.yaml: valid (1 node pool)",
        "\\x23#[error]legacy.yaml: valid (1 node pool)"]
    (tmp_path / "dir\x1b[2J").mkdir()
    for args in (("validate", "::error::missing.yaml"), ("plan", f"{STOP}.yaml"),
                 ("validate", "dir\x1b[2J"), ("show", f"{BIDI}.json")):
        failed = run(tmp_path, *args)
        assert failed.returncode in (1, 64), failed
        assert failed.stderr and output_problems(failed.stdout + failed.stderr) == [], args


def _on_a_terminal(folder: Path, *args: str, answer: bytes) -> tuple[int, str]:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; answer its prompt."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 250, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "reconciler", *args], cwd=folder,
                               env=cli_env(TERM="xterm-256color"), stdin=slave, stdout=slave,
                               stderr=slave, start_new_session=True)
    os.close(slave)
    received, answered, deadline = b"", False, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every copy of the terminal is closed
                    break
                if not chunk:
                    break
                received += chunk
                if not answered and b"[y/N]" in received:
                    os.write(master, answer)
                    answered = True
        else:
            process.kill()
        code = process.wait(timeout=10)
    finally:
        os.close(master)
    return code, received.decode("utf-8", "replace")


def test_prompt_and_live_progress_on_a_terminal(tmp_path: Path) -> None:
    pools = [arm("system", "System"), *(arm(s) for s in HOSTILE)]
    write_cluster(tmp_path, pools, DESIRED.replace("location: japaneast",
                                                   "location: japaneast, operationSeconds: 0.3"))
    code, screen = _on_a_terminal(tmp_path, "apply", "pools.yaml", answer=b"y\n")
    assert code == 0, screen
    assert "Apply 11 action(s) to cluster 'demo'? [y/N]" in screen
    # The rich display draws with its own escape codes; none of the data's get through.
    for raw in ("\x1b]0;pwned", "\x9b", "\u202e", "\u2066", "\u2028", "\u2029", "\x85"):
        assert raw not in screen, repr(raw)
    assert not any(line.lstrip().startswith("::") for line in re.split(r"[\r\n]", screen))
    # Markup and emoji codes in a name are text: shown as written, never interpreted.
    assert f"deleted {RICH} (" in screen
    assert "deleted \\x1b]0;pwned\\x07" in screen
    assert "deleted \\x3a:add-mask::hunter2 (" in screen
    assert "11/11" in screen  # the overall N of M
    assert not json.loads((tmp_path / "state.json").read_text())["agentPools"].keys() & set(
        HOSTILE)


HOSTILE_AKS_MESSAGE = (f"Quota exceeded\r\n::error::forged {TERMINAL} {BIDI}\u2028"
                       f"##[add-mask]x [bold]y[/bold]")


def test_aks_error_messages_are_inert(aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    """The cloud's own words: an error answer and a failed long-running operation."""
    aks_emulator.reset([arm_pool("system", "System", tags={"managed-by": "reconciler"}),
                        arm_pool("old", tags={"managed-by": "reconciler"}),
                        arm_pool("gone", tags={"managed-by": "reconciler"})])
    aks_emulator.faults.add(method="DELETE", path="/agentPools/old$", status=400,
                            code="InvalidParameter", message=HOSTILE_AKS_MESSAGE)
    aks_emulator.faults.add(method="DELETE", path="/agentPools/gone$", action="lro_failed",
                            code="OperationFailed", message=HOSTILE_AKS_MESSAGE)
    aks_emulator.write_desired(tmp_path / "pools.yaml", "nodePools:\n  - name: system\n"
                               "    mode: system\n", policy_yaml="policy: {prune: owned}\n")
    env = cli_env(**aks_emulator.env)
    applied = run(tmp_path, "apply", "pools.yaml", "--yes", env=env)
    assert applied.returncode == 1, applied.stderr
    output = applied.stdout + applied.stderr
    assert output_problems(output) == []
    assert "Quota exceeded\\x0d\\x0a::error::forged \\x1b]0;pwned" in output
    assert output.count("failed to delete") >= 2 * 2, output  # progress and report, twice

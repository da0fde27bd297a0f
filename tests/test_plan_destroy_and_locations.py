"""Destructive changes stand out, and rejected changes point at the line that asks for
them: `plan` through a real `reconciler` process in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import FILE


def reconciler(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=folder, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    (tmp_path / "pools.yaml").write_text(FILE.format(max=3))
    assert reconciler(tmp_path, "apply", "pools.yaml", "--yes").returncode == 0
    return tmp_path


def without_batch(folder: Path) -> None:
    text = (folder / "pools.yaml").read_text()
    (folder / "pools.yaml").write_text(text[:text.index("  - name: batch")])


def test_a_delete_is_announced_in_every_format(applied: Path) -> None:
    without_batch(applied)
    text = reconciler(applied, "plan", "pools.yaml").stdout
    assert text.splitlines()[-2:] == [
        "Destroy: 1 pool, its nodes drained and removed: batch",
        "Plan: 0 to create, 0 to update, 1 to delete, 1 unchanged."]
    markdown = reconciler(applied, "plan", "pools.yaml", "--format", "markdown").stdout
    assert markdown.splitlines()[1:5] == [
        "### reconciler plan for `demo` (local): 0 to create, 0 to update, 1 to delete", "",
        "> [!CAUTION]",
        "> **This plan destroys 1 node pool: its nodes will be drained and removed.** `batch`"]
    document = json.loads(reconciler(applied, "plan", "pools.yaml", "--format", "json").stdout)
    assert document["summary"] == {"create": 0, "update": 0, "delete": 1, "destroy": 1,
                                   "noop": 1}


def test_a_plan_without_deletes_has_no_destroy_alert(applied: Path) -> None:
    (applied / "pools.yaml").write_text(FILE.format(max=5))
    text = reconciler(applied, "plan", "pools.yaml").stdout
    markdown = reconciler(applied, "plan", "pools.yaml", "--format", "markdown").stdout
    assert "Destroy" not in text and "[!CAUTION]" not in markdown
    document = json.loads(reconciler(applied, "plan", "pools.yaml", "--format", "json").stdout)
    assert document["summary"]["destroy"] == 0


def test_a_rejected_change_points_at_its_line(applied: Path) -> None:
    path = applied / "pools.yaml"
    path.write_text(path.read_text().replace("Standard_D8s_v5", "Standard_E8s_v5"))
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1)
                if "Standard_E8s_v5" in text)
    done = reconciler(applied, "plan", "pools.yaml")
    assert done.returncode == 1
    assert (f"  ! pools.yaml:{line}:19: batch: instanceType (\"Standard_D8s_v5\" ->"
            f" \"Standard_E8s_v5\"): instanceType cannot change") in done.stdout
    document = json.loads(reconciler(applied, "plan", "pools.yaml", "--format", "json").stdout)
    assert document["errors"][0]["location"] == {"file": "pools.yaml", "line": line,
                                                 "column": 19}
    markdown = reconciler(applied, "plan", "pools.yaml", "--format", "markdown").stdout
    assert f"> - `pools.yaml:{line}:19` `batch` `instanceType`" in markdown


def test_a_protected_delete_points_at_the_protect_entry(applied: Path) -> None:
    path = applied / "pools.yaml"
    without_batch(applied)
    path.write_text(path.read_text().replace("protect: [system]", "protect: [system, batch]"))
    done = reconciler(applied, "plan", "pools.yaml", "--format", "json")
    assert done.returncode == 1
    [error] = json.loads(done.stdout)["errors"]
    assert error["pool"] == "batch"
    assert error["location"] == {"file": "pools.yaml", "line": 7, "column": 42}

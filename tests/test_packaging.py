"""Installable as users install it: the wheel (distribution nodepool-reconciler, command
and import package `reconciler`) in a fresh virtual environment, the `emulator` extra,
the pre-commit hook. The slow ones build and install from the package index and are
marked `packaging` (.ci/run runs them; `pytest -m packaging` here)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).parents[1]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
       "-c", "commit.gpgsign=false"]
VALID = (ROOT / "examples" / "quickstart.yaml").read_text()


def test_distribution_name_command_extras_and_typing_marker() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "nodepool-reconciler"
    assert project["project"]["scripts"] == {"reconciler": "reconciler.__main__:main"}
    assert [d.split(">")[0] for d in project["project"]["optional-dependencies"]["emulator"]] \
        == ["trustme"]
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["reconciler"]
    assert (ROOT / "reconciler" / "py.typed").is_file()


def test_the_pre_commit_manifest_is_valid() -> None:
    done = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest",
                           str(ROOT / ".pre-commit-hooks.yaml")], text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    [hook] = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert (hook["id"], hook["entry"], hook["language"]) == (
        "reconciler-validate", "reconciler validate", "python")


def test_the_dockerfile_installs_the_wheel_and_runs_as_a_user() -> None:
    """No image can be built here (no Docker daemon, no registry): the recipe's shape."""
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("FROM python:3.12-slim") == 2  # build stage, then a slim runtime
    assert "pip wheel --no-cache-dir --no-deps" in text and "COPY --from=build" in text
    assert "USER reconciler" in text and 'ENTRYPOINT ["reconciler"]' in text
    for copied in ("pyproject.toml", "README.md", "reconciler"):
        assert (ROOT / copied).exists(), copied


def _source_copy(target: Path) -> Path:
    """The project's files as git knows them (tracked and new, not ignored), committed in
    a repository of their own: what a clone holds."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True, timeout=60).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run([*GIT, "init", "-q", str(target)], check=True, timeout=60)
    subprocess.run([*GIT, "add", "-A"], cwd=target, check=True, timeout=60)
    subprocess.run([*GIT, "commit", "-q", "-m", "copy"], cwd=target, check=True, timeout=60)
    return target


@pytest.mark.packaging
def test_the_wheel_installs_into_a_fresh_venv_and_works(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)],
                           text=True, capture_output=True, timeout=600)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith("nodepool_reconciler-0.1.0-")
    with zipfile.ZipFile(wheel) as bundle:
        names = set(bundle.namelist())
        metadata = Parser().parsestr(bundle.read(next(
            n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert metadata["Name"] == "nodepool-reconciler"
    assert {"reconciler/py.typed", "reconciler/schema/nodepools.schema.json",
            "reconciler/ghaction/main.py", "reconciler/emulator/tls.py"} <= names
    assert not any(name.startswith("tests/") for name in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                                "--quiet", f"{wheel}[emulator]"], text=True,
                               capture_output=True, timeout=1200)
    assert installed.returncode == 0, installed.stderr
    command = venv / "bin" / "reconciler"
    env = {**os.environ, "NO_COLOR": "1"}
    version = subprocess.run([str(command), "--version"], text=True, capture_output=True,
                             timeout=60, env=env, cwd=tmp_path)
    assert version.stdout.strip() == "reconciler, version 0.1.0", version.stderr
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.yaml"))
    valid = subprocess.run([str(command), "validate", *examples], text=True,
                           capture_output=True, timeout=60, env=env, cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.count(": valid (") == len(examples)
    # The installed code is the wheel's, not this checkout's.
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import reconciler; print(reconciler.__file__)"], text=True,
                           capture_output=True, timeout=60, cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout
    # The emulator extra: the emulator starts (its TLS certificate comes from trustme).
    emulator = subprocess.Popen([str(venv / "bin" / "python"), "-m", "reconciler.emulator",
                                 "--port", "0"], stdout=subprocess.PIPE, text=True,
                                cwd=tmp_path, stdin=subprocess.DEVNULL)
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline()
        assert first.startswith("url: https://127.0.0.1:"), first
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.wait(timeout=60)


@pytest.mark.packaging
def test_the_pre_commit_hook_refuses_an_invalid_file(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    project = tmp_path / "project"
    (project / "clusters").mkdir(parents=True)
    (project / "clusters" / "prod.yaml").write_text(VALID)
    (project / "clusters" / "bad.yaml").write_text(VALID.replace("max: 3", "max: x", 1)
                                                   .replace("max: 5", "max: x", 1))
    (project / "notes.yaml").write_text("not: [a node pool file\n")  # outside clusters/
    subprocess.run([*GIT, "init", "-q", str(project)], check=True, timeout=60)
    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True, timeout=60)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}

    def hook() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(source),
                               "reconciler-validate", "--all-files"], cwd=project, env=env,
                              text=True, capture_output=True, timeout=1200)

    failed = hook()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "clusters/bad.yaml:" in failed.stdout and "expected integer" in failed.stdout
    assert "notes.yaml" not in failed.stdout
    (project / "clusters" / "bad.yaml").unlink()
    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True, timeout=60)
    passed = hook()
    assert passed.returncode == 0, passed.stdout + passed.stderr

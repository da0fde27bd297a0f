"""`reconciler export` as a round trip: refreshing a file is idempotent and keeps every
comment once, the file's line endings, BOM and quotes; the exported file names the same
cluster wherever it is written; pools come in natural order; odd files never hang it.

Most tests run the real CLI (``CliRunner`` on ``reconciler.cli.cli``) on the local
provider; the ones that could hang or exhaust memory on a regression run it in a
subprocess with a timeout and a memory cap.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool

from reconciler.cli import cli
from reconciler.export import ExportHeader, export_text
from reconciler.model import Autoscaling, NodePool
from reconciler.registry import capabilities_for

CAPS = capabilities_for("local", {"location": "japaneast"})
HEADER = ExportHeader("demo", "local", "0.1.0", datetime(2026, 5, 1, 12, 0, tzinfo=UTC), "s.json")
STAMP = re.compile(r" at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ from ")
BOM = b"\xef\xbb\xbf"

# The cluster section every file here starts with.
BASE = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}
"""
LIVE = BASE + """\
nodePools:
  - name: system
    mode: system
    labels: {team: platform}
    autoscaling: {enabled: true, min: 1, max: 3}
  - name: pool10
    mode: user
    autoscaling: {enabled: false, desired: 1}
  - name: pool2
    mode: user
    autoscaling: {enabled: false, desired: 1}
  - name: pool1
    mode: user
    autoscaling: {enabled: false, desired: 1}
"""

# Comments in every place a person puts them; the file lists two of the four live pools.
COMMENTED = """\
# yaml-language-server: $schema=old/schema.json
# Team file: ask #platform before editing.
apiVersion: reconciler/v1
kind: NodePoolSet
# The simulated cluster.
cluster:
  name: demo
  provider: local  # no cloud needed
  settings: {stateFile: state.json, location: japaneast}
nodePools:
  # Above the first pool.
  - name: system  # at the end of the system line
    mode: system
    # Inside system, above its labels.
    labels: {team: platform}
    autoscaling: {enabled: true, min: 1, max: 3}
  # Above pool10.
  - name: pool10
    mode: user
    autoscaling: {enabled: false, desired: 1}
# Before policy.
policy:
  prune: owned  # at the end of the prune line
# At the end of the file.

# The very last line.
"""


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ok(*args: str) -> Result:
    result = cli_run(*args)
    assert result.exit_code == 0, result.output
    return result


def unstamped(text: str) -> str:
    """The text without the export time of its header."""
    return STAMP.sub(" at <time> from ", text)


def comments(text: str) -> list[str]:
    """Every comment in ``text`` but the export header's, stripped."""
    found = [line[line.index("#"):].strip() for line in text.splitlines()
             if "#" in line and not line.lstrip().startswith(("# yaml-language-server",
                                                              "# Exported by", "#   "))]
    return [c for c in found if "not yet managed" not in c]


def names(text: str) -> list[str]:
    return re.findall(r"^  - name: ['\"]?([\w-]+)", text, flags=re.MULTILINE)


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local cluster with pools system, pool10, pool2 and pool1; cwd is its folder."""
    monkeypatch.chdir(tmp_path)
    Path("live.yaml").write_text(LIVE)
    ok("apply", "live.yaml", "--yes")
    return tmp_path


# -- 1. refreshing is idempotent and keeps every comment exactly once ---------------------


def test_refresh_keeps_every_comment_once_and_is_idempotent(cluster: Path) -> None:
    Path("pools.yaml").write_text(COMMENTED)
    ok("export", "pools.yaml", "--output", "pools.yaml")
    once = Path("pools.yaml").read_text()
    for _ in range(3):  # 2, 4, 8 copies of the first pool's comment before the fix
        ok("export", "pools.yaml", "--output", "pools.yaml")
    assert unstamped(Path("pools.yaml").read_text()) == unstamped(once)
    assert comments(once) == comments(COMMENTED)
    assert once.endswith("# At the end of the file.\n\n# The very last line.\n")
    assert "\n# Before policy.\npolicy:\n" in once
    assert once.index("- name: pool2") < once.index("# Before policy.")
    assert names(once) == ["system", "pool10", "pool1", "pool2"]
    assert ok("plan", "pools.yaml", "--detailed-exitcode").exit_code == 0


def test_export_to_standard_output_prints_each_comment_once(cluster: Path) -> None:
    Path("pools.yaml").write_text(COMMENTED)
    printed = ok("export", "pools.yaml").stdout
    assert printed.count("# Above the first pool.") == 1
    assert comments(printed) == comments(COMMENTED)
    # What is printed, written and exported again, is what was printed.
    Path("printed.yaml").write_text(printed)
    assert unstamped(ok("export", "printed.yaml").stdout) == unstamped(printed)


LAYOUTS = {
    "empty list, comments after it": "nodePools: []  # c-eol\n# c-after\n",
    "empty list, comments before policy": "nodePools: []\n# c-before-policy\npolicy: {}\n",
    "flow list": "nodePools: [{name: a}]  # c-eol\n# c-after\n",
    "comment on the nodePools line": "nodePools:  # c-eol\n  # c-above-a\n  - name: a\n",
    "deep last pool": ("nodePools:\n  # c-above-a\n  - name: a\n    # c-in-a\n    mode: user\n"
                       "    extensions:\n      aks:\n        maxPods: 30\n    # c-indented-4\n"
                       "  # c-indented-2\n# c-at-0\n"),
    "flow value last": ("nodePools:\n  - name: a\n    extensions: {aks: {maxPods: 30}}\n"
                        "# c-before-policy\npolicy:\n  prune: owned\n# c-end\n"),
    "blank lines": "nodePools:\n\n  # c-above-a\n\n  - name: a\n\n  - name: b\n\n# c-end\n\n",
}


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=list(LAYOUTS))
@pytest.mark.parametrize("live", [("a", "b"), ("b",), ("pool2", "a", "pool10"), ()])
def test_export_is_idempotent_whatever_the_layout(layout: str, live: tuple[str, ...]) -> None:
    pools = [NodePool(name=name, mode="user", autoscaling=Autoscaling(False, None, None, 1),
                      managed=True) for name in live]
    once = export_text(BASE + layout, pools, CAPS, HEADER)
    assert export_text(once, pools, CAPS, HEADER) == once
    kept = [c for c in comments(BASE + layout)
            if not re.match(r"# c-(above|in)-a$", c) or "a" in live]
    assert sorted(comments(once)) == sorted(kept)
    assert names(once) == [n for n in ("a", "b") if n in live] + \
        [n for n in ("pool2", "pool10") if n in live]


# -- 2. the exported file names the same cluster wherever it is written ------------------


def _settings(path: Path) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())["cluster"]["settings"]


def _plans_no_changes(path: Path) -> None:
    assert cli_run("plan", str(path), "--detailed-exitcode").exit_code == 0


def test_export_elsewhere_keeps_the_implicit_state_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pools.yaml").write_text(LIVE.replace("{stateFile: state.json, location: japaneast}",
                                               "{location: japaneast}"))
    ok("apply", "pools.yaml", "--yes")  # state in .reconciler/demo.json, the default
    ok("export", "pools.yaml", "--output", "other/dir/pools.yaml")
    text = Path("other/dir/pools.yaml").read_text()
    assert "settings: {stateFile: ../../.reconciler/demo.json, location: japaneast}" in text
    _plans_no_changes(Path("other/dir/pools.yaml"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    _plans_no_changes(tmp_path / "other/dir/pools.yaml")
    _plans_no_changes(Path("../other/dir/pools.yaml"))
    # Refreshing in place changes nothing more.
    ok("export", "../other/dir/pools.yaml", "--output", "../other/dir/pools.yaml")
    assert unstamped((tmp_path / "other/dir/pools.yaml").read_text()) == unstamped(text)


def test_export_elsewhere_writes_settings_when_the_file_has_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pools.yaml").write_text(LIVE.replace(
        "  settings: {stateFile: state.json, location: japaneast}\n", ""))
    ok("apply", "pools.yaml", "--yes")
    ok("export", "pools.yaml", "--output", "other/pools.yaml")
    assert "  provider: local\n  settings: {stateFile: ../.reconciler/demo.json}\n" in \
        Path("other/pools.yaml").read_text()
    _plans_no_changes(Path("other/pools.yaml"))


def test_a_relative_state_file_follows_the_real_folder_of_a_linked_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The local provider resolves stateFile from the file's real folder (links followed).
    monkeypatch.chdir(tmp_path)
    Path("real").mkdir()
    Path("real/cluster.yaml").write_text(LIVE)
    Path("cluster.yaml").symlink_to("real/cluster.yaml")
    ok("apply", "cluster.yaml", "--yes")
    assert Path("real/state.json").is_file()
    ok("export", "cluster.yaml", "--output", "other/dir/pools.yaml")
    assert "stateFile: ../../real/state.json" in Path("other/dir/pools.yaml").read_text()
    _plans_no_changes(Path("other/dir/pools.yaml"))


def test_env_references_and_absolute_state_files_stay_as_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    state = tmp_path / "states" / "demo.json"
    monkeypatch.setenv("DEMO_STATE", str(state))
    for setting in ('"${DEMO_STATE}"', str(state)):
        Path("pools.yaml").write_text(LIVE.replace("stateFile: state.json",
                                                   f"stateFile: {setting}"))
        ok("apply", "pools.yaml", "--yes")
        ok("export", "pools.yaml", "--output", "other/pools.yaml")
        assert _settings(Path("other/pools.yaml")) == {
            "stateFile": setting.strip('"'), "location": "japaneast"}
        _plans_no_changes(Path("other/pools.yaml"))
        Path("other/pools.yaml").unlink()


# -- 3. a missing folder is created; no temporary name in an error -----------------------


def test_export_creates_a_missing_folder(cluster: Path) -> None:
    result = ok("export", "live.yaml", "--output", "clusters/x.yaml")
    assert result.stderr == "Wrote clusters/x.yaml\n"
    assert sorted(p.name for p in Path("clusters").iterdir()) == ["x.yaml"]
    _plans_no_changes(Path("clusters/x.yaml"))


def test_a_failed_write_names_the_output_never_a_temporary_file(
        cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("blocked").write_text("a file where the folder should be\n")
    result = cli_run("export", "live.yaml", "--output", "blocked/x.yaml")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write blocked/x.yaml: ")
    assert ".tmp" not in result.output

    def refuse(source: str, target: str) -> None:  # the error names both files
        raise OSError(errno.EACCES, "Permission denied", source, None, target)

    monkeypatch.setattr("reconciler.atomicwrite.os.replace", refuse)
    result = cli_run("export", "live.yaml", "--output", "clusters/x.yaml")
    assert result.exit_code == 1
    assert result.stderr == "error: cannot write clusters/x.yaml: Permission denied\n"
    assert list(Path("clusters").iterdir()) == []  # the temporary file is gone too


# -- 4. line endings, BOM and quotes of the refreshed file -------------------------------


def test_refresh_keeps_crlf_bom_and_quotes(cluster: Path) -> None:
    quoted = (LIVE.replace("name: demo", 'name: "demo"')
              .replace("kind: NodePoolSet", "kind: 'NodePoolSet'")
              .replace("{stateFile: state.json, location: japaneast}",
                       "{stateFile: 'state.json', location: \"japaneast\"}")
              .replace("- name: system", '- name: "system"')
              .replace("{team: platform}", "{team: 'platform'}"))
    raw = BOM + ("# Windows file.\n" + quoted).replace("\n", "\r\n").encode()
    Path("pools.yaml").write_bytes(raw)
    ok("export", "pools.yaml", "--output", "pools.yaml")
    once = Path("pools.yaml").read_bytes()
    assert once.startswith(BOM) and once.count(BOM) == 1
    assert once.count(b"\n") == once.count(b"\r\n") > 20 and b"\r\r" not in once
    text = once.decode("utf-8-sig").replace("\r\n", "\n")
    for line in ('  name: "demo"', "kind: 'NodePoolSet'", '  - name: "system"',
                 "  settings: {stateFile: 'state.json', location: \"japaneast\"}",
                 "    labels: {team: 'platform'}", "# Windows file."):
        assert f"{line}\n" in text
    ok("export", "pools.yaml", "--output", "pools.yaml")
    assert unstamped(Path("pools.yaml").read_bytes().decode("utf-8-sig")) == \
        unstamped(once.decode("utf-8-sig"))
    _plans_no_changes(Path("pools.yaml"))


def test_export_of_a_crlf_file_to_standard_output_keeps_crlf_without_a_bom(
        cluster: Path) -> None:
    Path("pools.yaml").write_bytes(BOM + LIVE.replace("\n", "\r\n").encode())
    printed = ok("export", "pools.yaml").stdout_bytes
    assert not printed.startswith(BOM)
    assert printed.count(b"\n") == printed.count(b"\r\n") > 20


# -- 5. natural order -------------------------------------------------------------------


def test_natural_key() -> None:
    from reconciler.naturalsort import natural_key

    assert sorted(["pool10", "system", "pool2", "pool1", "pool02", "a10b2", "a10b10", "a9"],
                  key=natural_key) == \
        ["a9", "a10b2", "a10b10", "pool1", "pool02", "pool2", "pool10", "system"]


def test_export_lists_new_pools_in_natural_order(cluster: Path) -> None:
    Path("cluster.yaml").write_text(LIVE.split("nodePools:")[0] + "nodePools: []\n")
    assert names(ok("export", "cluster.yaml").stdout) == ["pool1", "pool2", "pool10", "system"]
    # Pools the file lists keep their place; new ones are appended in natural order.
    Path("pools.yaml").write_text(LIVE.split("nodePools:")[0] +
                                  "nodePools:\n  - name: pool10\n  - name: system\n")
    assert names(ok("export", "pools.yaml").stdout) == ["pool10", "system", "pool1", "pool2"]


def test_list_shows_pools_in_natural_order(cluster: Path) -> None:
    listed = json.loads(ok("list", "live.yaml", "--format", "json").stdout)
    assert [pool["name"] for pool in listed] == ["pool1", "pool2", "pool10", "system"]


def test_list_text_shows_pools_in_natural_order(cluster: Path) -> None:
    table = ok("list", "live.yaml").stdout
    assert [line.split()[0] for line in table.splitlines()[1:]] == \
        ["pool1", "pool2", "pool10", "system"]


def test_aks_export_lists_pools_in_natural_order(aks_emulator: EmulatorSession,
                                                 tmp_path: Path) -> None:
    aks_emulator.reset([arm_pool("pool10"), arm_pool("system", "System"), arm_pool("pool2")])
    source = aks_emulator.write_desired(tmp_path / "cluster.yaml")
    assert names(ok("export", str(source)).stdout) == ["pool2", "pool10", "system"]


# -- 6. a FIFO or a device never hangs the export or exhausts memory ---------------------


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))


def _export(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler export ARGS`` in ``folder``: 30 s and 2 GiB at most."""
    return subprocess.run([sys.executable, "-m", "reconciler", "export", *args], cwd=folder,
                          capture_output=True, text=True, timeout=30, check=False,
                          preexec_fn=_limit_memory,  # noqa: PLW1509 - no threads started yet
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_an_output_that_is_not_a_regular_file_is_refused(cluster: Path, kind: str) -> None:
    out = cluster / "pools.yaml"
    if kind == "fifo":
        os.mkfifo(out)
    else:  # through a link: should the refusal ever regress, only the link is replaced
        out.symlink_to("/dev/zero")
    done = _export(cluster, "live.yaml", "--output", "pools.yaml")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot read pools.yaml: is not a regular file")
    assert (out.is_fifo() if kind == "fifo" else out.is_symlink())


def test_a_fifo_as_file_is_refused(cluster: Path) -> None:
    os.mkfifo(cluster / "cluster.yaml")
    done = _export(cluster, "cluster.yaml", "--output", "pools.yaml")
    assert done.returncode == 1 and "not a regular file" in done.stderr
    assert not (cluster / "pools.yaml").exists()

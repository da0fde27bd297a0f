"""Attacks through the files the tool reads, each performed through a real ``reconciler``
process: what the file is (a FIFO, a device, a directory), what its YAML silently turns
into (keys that are not strings, dates, tags), and what its error messages repeat.

For every attack: exit code 1, one line per problem (``FILE:LINE:COL: ...`` for desired
files, ``error: ...`` for the others), no traceback, bounded time (killed after
SECONDS: a hang fails the test) and bounded memory (RLIMIT_AS, peak RSS measured).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from reliability_support import Measured, bounded_process  # noqa: E402

from reconciler.desired.document import load_document  # noqa: E402
from reconciler.diagnostics import InvalidDocument  # noqa: E402

SECONDS = 60.0  # generous: every refusal here takes well under a second
MEMORY_BYTES = 1024 ** 3  # the hostile-input bound: 1 GiB of address space
PEAK_RSS_KIB = 300 * 1024  # a refusal reads nothing: ~30 MiB measured
SECRET = "hunter2secret"
HEAD = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: s.json, location: japaneast}
"""
CLUSTER = HEAD + "nodePools: []\n"
POOL = HEAD + """\
nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 3}
"""


def reconciler(args: list[str], cwd: Path) -> Measured:
    """``python -m reconciler ARGS`` in a real process, bounded in time and memory."""
    env = {**os.environ, "NO_COLOR": "1"}
    run = bounded_process([sys.executable, "-m", "reconciler", *args], cwd, env,
                          seconds=SECONDS, memory_bytes=MEMORY_BYTES)
    assert run.code is not None, f"still running after {SECONDS:g} s; killed"
    assert run.max_rss_kib < PEAK_RSS_KIB, f"peak RSS {run.max_rss_kib // 1024} MiB"
    assert "Traceback" not in run.stderr, run.stderr
    return run


def refused(run: Measured) -> list[str]:
    """The stderr lines of a clean refusal (exit 1, nothing on stdout)."""
    assert run.code == 1, (run.code, run.stdout, run.stderr)
    assert run.stdout == ""
    return run.stderr.splitlines()


# -- 7. only regular files are read, and at most the cap -----------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "x.yaml"
    os.mkfifo(path)  # no writer: opening it for reading would wait forever
    return path


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_fifo_as_the_desired_file_is_refused_at_once(tmp_path: Path, fifo: Path,
                                                       command: str) -> None:
    lines = refused(reconciler([command, fifo.name], tmp_path))
    assert lines == ["x.yaml:1:1: is not a regular file (a FIFO); expected a YAML file"]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_link_to_an_endless_device_is_refused_unread(tmp_path: Path, device: str) -> None:
    (tmp_path / "x.yaml").symlink_to(device)  # a committed symlink: st_size is 0
    lines = refused(reconciler(["validate", "x.yaml"], tmp_path))
    assert lines == ["x.yaml:1:1: is not a regular file (a character device); expected a"
                     " YAML file"]


def test_a_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").mkdir()
    assert refused(reconciler(["validate", "pools.yaml"], tmp_path)) == [
        "pools.yaml:1:1: is a directory, not a file"]


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom"])
def test_a_saved_plan_that_is_not_a_regular_file_is_refused(tmp_path: Path,
                                                            kind: str) -> None:
    plan = tmp_path / "plan.json"
    if kind == "fifo":
        os.mkfifo(plan)
    else:
        plan.symlink_to(kind)
    what = "a FIFO" if kind == "fifo" else "a character device"
    assert refused(reconciler(["show", "plan.json"], tmp_path)) == [
        f"error: plan.json: is not a regular file ({what}); expected a saved plan"]
    # apply first asks whether the file is a saved plan: that must not hang or read it.
    assert refused(reconciler(["apply", "plan.json", "--yes"], tmp_path)) == [
        f"plan.json:1:1: is not a regular file ({what}); expected a YAML file"]


def test_a_saved_plan_over_the_cap_is_refused(tmp_path: Path) -> None:
    from reconciler.readfile import SAVED_PLAN_MAX_BYTES

    padding = "x" * SAVED_PLAN_MAX_BYTES
    (tmp_path / "plan.json").write_text(json.dumps({"formatVersion": 1, "pad": padding}))
    assert refused(reconciler(["show", "plan.json"], tmp_path)) == [
        "error: plan.json: is larger than 16 MiB; not a saved plan (a plan of 100 pools is"
        " about 120 KB)"]


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom"])
def test_a_local_state_file_that_is_not_a_regular_file_is_refused(tmp_path: Path,
                                                                  kind: str) -> None:
    (tmp_path / "pools.yaml").write_text(POOL)
    state = tmp_path / "s.json"
    if kind == "fifo":
        os.mkfifo(state)
    else:
        state.symlink_to(kind)
    shown = state if kind == "fifo" else Path(kind)  # the state file's resolved path
    what = "a FIFO" if kind == "fifo" else "a character device"
    expected = [f"error: cannot read state file {shown}: it is not a regular file ({what})"]
    assert refused(reconciler(["plan", "pools.yaml"], tmp_path)) == expected
    assert refused(reconciler(["apply", "pools.yaml", "--yes"], tmp_path)) == expected
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(state).st_mode)  # nothing replaced it
    else:
        assert os.readlink(state) == kind


# -- 11. no silent key collisions or conversions -------------------------------------------


def test_keys_that_are_not_strings_are_refused_as_written(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOL + """\
    labels:
      1: a
      "1": b
      null: c
      ~: d
      true: e
      1.5: f
      2024-01-01: g
      0x1F: h
""")
    assert refused(reconciler(["validate", "pools.yaml"], tmp_path)) == [
        'pools.yaml:12:7: nodePools[0].labels: key 1 is a number; quote it ("1")',
        'pools.yaml:14:7: nodePools[0].labels: key null is null; quote it ("null")',
        'pools.yaml:15:7: nodePools[0].labels: key ~ is null; quote it ("~")',
        'pools.yaml:16:7: nodePools[0].labels: key true is a boolean; quote it ("true")',
        'pools.yaml:17:7: nodePools[0].labels: key 1.5 is a number; quote it ("1.5")',
        'pools.yaml:18:7: nodePools[0].labels: key 2024-01-01 is a date; quote it'
        ' ("2024-01-01")',
        'pools.yaml:19:7: nodePools[0].labels: key 0x1F is a number; quote it ("0x1F")']


def test_dates_are_refused_not_reformatted(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOL.replace("location: japaneast",
                                                      "location: 2024-01-01") + """\
    labels: {since: 2024-01-01 10:00:00, quoted: "2024-01-01"}
""")
    assert refused(reconciler(["validate", "pools.yaml"], tmp_path)) == [
        'pools.yaml:6:43: cluster.settings.location: 2024-01-01 is a date; quote it'
        ' ("2024-01-01")',
        'pools.yaml:11:21: nodePools[0].labels.since: 2024-01-01 10:00:00 is a date; quote'
        ' it ("2024-01-01 10:00:00")']


def test_tags_other_than_the_plain_ones_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOL + """\
    labels:
      bin: !!binary aGVsbG8=
      set: !!set {a, b}
      omap: !!omap [a: 1]
      mine: !vault secret
      when: !!timestamp 2024-01-01
      text: !!str 3
      broken: !!int abc
""")
    assert refused(reconciler(["validate", "pools.yaml"], tmp_path)) == [
        "pools.yaml:12:12: nodePools[0].labels.bin: the !!binary tag is not supported;"
        " write a plain value",
        "pools.yaml:13:12: nodePools[0].labels.set: the !!set tag is not supported; write"
        " a plain list or mapping",
        "pools.yaml:14:13: nodePools[0].labels.omap: the !!omap tag is not supported; write"
        " a plain list or mapping",
        "pools.yaml:15:13: nodePools[0].labels.mine: YAML tags like this one are not"
        " supported; write a plain value",
        "pools.yaml:16:13: nodePools[0].labels.when: the !!timestamp tag is not supported;"
        " write a plain value",
        "pools.yaml:18:15: nodePools[0].labels.broken: the !!int tag does not fit this"
        " value; remove the tag"]


def test_a_key_tagged_as_text_still_collides_with_its_quoted_twin(tmp_path: Path) -> None:
    (tmp_path / "pools.yaml").write_text(POOL + "    labels: {!!str 1: a, \"1\": b}\n")
    assert refused(reconciler(["validate", "pools.yaml"], tmp_path)) == [
        "pools.yaml:11:26: nodePools[0].labels: duplicate key '1'"]


# -- 12. errors about a file name the place, never the content -----------------------------

# Each secret stands where the YAML parser stops, so a message quoting "the line" or
# what was "found" would carry it.
FOREIGN = {
    "config.ini": f"[db]\npassword = {SECRET}\n",
    "config.json": f'{{"user": "app", "password": "{SECRET}"}}\n',
    "notes.md": f"# Notes\n\n*{SECRET}* is the database password until Friday.\n",
    "token.yaml": f"token: [*{SECRET}]\n",
    "escape.yaml": f'password: "{SECRET}\\q"\n',
    # A re-used anchor is legal YAML, but ruamel warns about it quoting both lines.
    "anchors.yaml": f"password: &p {SECRET}\nother: &p 2\nnodePools: 3\n",
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_validate_of_another_file_never_prints_its_content(tmp_path: Path,
                                                           name: str) -> None:
    (tmp_path / name).write_text(FOREIGN[name])
    lines = refused(reconciler(["validate", name], tmp_path))
    assert lines and all(re.match(rf"{re.escape(name)}:\d+:\d+: ", line) for line in lines)
    assert SECRET not in "\n".join(lines)
    assert SECRET[:6] not in "\n".join(lines)  # nor a piece of it


@pytest.mark.parametrize("name", [
    "config.json",
    "config.ini",
    "notes.md",
])
def test_export_onto_another_file_never_prints_its_content(tmp_path: Path,
                                                           name: str) -> None:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / name).write_text(FOREIGN[name])
    lines = refused(reconciler(["export", "cluster.yaml", "--output", name], tmp_path))
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert SECRET not in lines[0] and SECRET[:6] not in lines[0]
    assert (tmp_path / name).read_text() == FOREIGN[name]  # and the file is left alone


# Breadth, in-process: YAML errors of every kind around a secret, on both parsers' paths.
BROKEN = [
    "a: *{s}\n", "a: [*{s}]\n", "{s}: *{s}\n", "a: &x 1\nb: *{s}\n", "@{s}\n", "`{s}\n",
    "a: \"x\\{s}\"\n", "a: \"\\q{s}\"\n", "a: \"\\x{s}\"\n", "a: '{s}\n", "a: \"{s}\n",
    "%{s} 1\n---\na: 1\n", "%YAML {s}\n---\na: 1\n", "%TAG !{s}! tag:x\n---\na: 1\n",
    "a: !{s}!x 1\n", "a: !<{s}> 1\n", "a: &{s}% 1\n", "a: *{s}%\n", "a:\n- {s}\n b: 1\n",
    "a: |{s}\n  x\n", "a: >-{s}\n  x\n", "[{s}, 1\n", "{{{s}: 1\n", "a: {s}\n  b: 1\n",
    "- {s}\nb: 1\n", "a: 1\na: {s}\n", "a: {s}\na: {s}\n", "? a\n? a\n: {s}\n",
    "a: !!python/object:{s} 1\n", "a: !!{s} 1\n", "a: !!binary {s}\n",
    "a: !!int {s}\n", "a: !!bool {s}\n", "a: !!float {s}\n", "a: {s}\x07\n",
    "a: {s}\t\n\tb: 1\n", "a: 1\r{s}: [\n", "a: {s}\n---\nb: *{s}\n",
]


@pytest.mark.parametrize("template", BROKEN)
@pytest.mark.parametrize("parser", ["libyaml", "pure"])
def test_no_yaml_error_quotes_the_file(tmp_path: Path, template: str, parser: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if parser == "pure":
        monkeypatch.setitem(sys.modules, "_ruamel_yaml_clibz", None)  # import fails
    path = tmp_path / "f.yaml"
    path.write_text(template.format(s=SECRET), newline="")
    try:
        doc = load_document(path)
    except InvalidDocument as exc:
        for diagnostic in exc.diagnostics:
            assert SECRET[:6] not in diagnostic.message, diagnostic.message
        return
    assert doc.data is not None

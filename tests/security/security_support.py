"""Helpers for the security tests: hostile strings, a hostile local cluster, the real CLI.

Live values are simulated by writing the local provider's state file directly (as a
compromised or careless cloud would answer); desired files are what a pull request from
a fork could bring. Every command runs in a real ``python -m reconciler`` process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

# Characters no output may carry raw (newline aside, which separates lines): C0, DEL, C1
# (NEL U+0085 included), line/paragraph separators, every format character (bidi marks,
# embeddings, overrides and isolates, zero-width characters, BOM) and lone surrogates.
RAW_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e"
                        "\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\U000e0001-\U000e007f]")
# A CI log line whose first non-blank characters are these is a GitHub workflow command.
COMMAND_START = ("::", "##[")

# Hostile strings, one attack each; all of them are valid JSON strings for the state file.
CR_COMMENT = "cr\r<!-- hide the rest"  # a CommonMark line ending, then an HTML comment
CLOSE_AND_IMAGE = "--> <img src=https://evil.example/p.png>\r<!--"
PINGS = "@org/team #123 https://evil.example www.evil.example x@evil.example"
TERMINAL = "\x1b]0;pwned\x07\x1b[2K\rx\x1b[31m\x9b31m"  # OSC title, erase line, CSI, C1 CSI
WORKFLOW = "::add-mask::hunter2"  # would start a line of `list`
STOP = "::stop-commands::tok"
BIDI = "\u202etxt.exe\u2066\u2069\u200e\u200f\u061c"
SEPARATORS = "a\u2028b\u2029c\x85d\ne"
RICH = "[bold]b[/bold] :smile:"
MARKDOWN = "`tick` | pipe \\ *em* _u_ [l](https://evil.example)"
HOSTILE = (CR_COMMENT, CLOSE_AND_IMAGE, PINGS, TERMINAL, WORKFLOW, STOP, BIDI, SEPARATORS,
           RICH, MARKDOWN)

DESIRED = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: demo
  provider: local
  settings: {stateFile: state.json, location: japaneast}
policy: {prune: owned}
nodePools:
  - name: system
    mode: system
    labels: {team: platform}
    autoscaling: {enabled: true, min: 1, max: 3}
    extensions:
      aks: {tags: {cost: "1"}}
"""


def arm(name: str, mode: str = "User", *, managed: bool = True,
        labels: dict[str, str] | None = None, tags: dict[str, str] | None = None,
        **properties: Any) -> dict[str, Any]:
    """One agent pool as the local provider stores it (ARM shape)."""
    owner = {"managed-by": "reconciler"} if managed else {}
    props = {"mode": mode, "count": 1, "vmSize": "Standard_D4s_v5", "enableAutoScaling": False,
             "osType": "Linux", "orchestratorVersion": "1.30.0", "provisioningState": "Succeeded",
             "eTag": f"e{zlib.crc32(name.encode()):08x}", "nodeLabels": labels or {},
             "tags": {**owner, **(tags or {})}, **properties}
    return {"name": name, "properties": props}


def hostile_pools() -> list[dict[str, Any]]:
    """``system`` with hostile label and tag keys and values; every hostile string also as
    a managed pool's name (so a delete) and, prefixed, as an unmanaged pool's name."""
    system = arm("system", "System",
                 labels={"team": CR_COMMENT, **{f"k{i}{s}": s for i, s in enumerate(HOSTILE)}},
                 tags={f"t{i}{s}": s for i, s in enumerate(HOSTILE)})
    owned = [arm(s) for s in HOSTILE]
    foreign = [arm("u" + s, managed=False, tags={"managed-by": s}) for s in HOSTILE]
    return [system, *owned, *foreign]


def write_cluster(folder: Path, pools: list[dict[str, Any]] | None = None,
                  desired: str = DESIRED) -> Path:
    """pools.yaml and its state.json (the hostile cluster by default); returns pools.yaml."""
    pools = hostile_pools() if pools is None else pools
    state = {"formatVersion": 1, "agentPools": {p["name"]: p for p in pools}}
    (folder / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    path = folder / "pools.yaml"
    path.write_text(desired, encoding="utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **extra}


def run(folder: Path, *args: str, env: dict[str, str] | None = None,
        input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler ARGS`` in ``folder``; output decoded leniently."""
    done = subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=folder,
                          env=env or cli_env(), input=input_text, capture_output=True,
                          timeout=60, check=False)
    return subprocess.CompletedProcess(done.args, done.returncode,
                                       done.stdout.decode("utf-8", "surrogateescape"),
                                       done.stderr.decode("utf-8", "surrogateescape"))


def output_problems(text: str) -> list[str]:
    """What makes ``text`` unsafe for a terminal or a CI log (empty: safe)."""
    found = [f"raw {m.group()!r}: {text[max(0, m.start() - 30):m.start() + 10]!r}"
             for m in RAW_UNSAFE.finditer(text)]
    found += [f"line starts a workflow command: {line!r}" for line in text.split("\n")
              if line.lstrip().startswith(COMMAND_START)]
    return found

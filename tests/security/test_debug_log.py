"""`--debug` logs every provider request with its status and timing, and still never shows
a credential or an expanded ${VAR} value: real `reconciler` processes against the AKS
emulator with a distinctive token, the subscription id taken from a variable."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from emulator_session import STANDARD_POOLS, EmulatorSession

TOKEN = f"rcDEBUG-{secrets.token_hex(16)}-do-not-leak"
POOLS = """\
nodePools:
  - name: system
    mode: system
    autoscaling: {enabled: true, min: 1, max: 4}
  - name: fresh
    mode: user
    autoscaling: {enabled: false, desired: 1}
"""


def test_debug_shows_each_request_but_no_secret(aks_emulator: EmulatorSession,
                                                tmp_path: Path) -> None:
    aks_emulator.reset(STANDARD_POOLS, token=TOKEN)
    subscription = aks_emulator.config.subscription_id
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", POOLS)
    path.write_text(path.read_text().replace(f'"{subscription}"', "${SUBSCRIPTION_FOR_TEST}"))
    env = {**os.environ, **aks_emulator.env, "AZURE_ACCESS_TOKEN": TOKEN, "NO_COLOR": "1",
           "SUBSCRIPTION_FOR_TEST": subscription}
    env.pop("RECONCILER_LOG", None)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=tmp_path,
                              text=True, capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=120, env={**env, **extra})

    runs = [run("--debug", "plan", str(path)), run("apply", str(path), "--yes", "--debug"),
            run("list", str(path), RECONCILER_LOG="debug")]
    assert [done.returncode for done in runs] == [0, 0, 0], runs[-1].stderr
    text = "".join(done.stdout + done.stderr for done in runs)
    assert TOKEN not in text and subscription not in text
    # Every request is there, with its status and how long it took; the subscription id in
    # the URL shows as the variable it came from.
    requests = re.findall(r"DEBUG reconciler\.http: (GET|PUT|DELETE) (\S+) -> (\d{3}) \(\d+ ms\)",
                          text)
    assert ("GET", "200") in {(method, status) for method, _, status in requests}
    assert ("PUT", "201") in {(method, status) for method, _, status in requests} or \
        ("PUT", "200") in {(method, status) for method, _, status in requests}
    assert all("/subscriptions/${SUBSCRIPTION_FOR_TEST}/" in url for _, url, _ in requests)
    puts = [url for method, url, _ in requests if method == "PUT"]
    assert any(url.split("?")[0].endswith("/agentPools/fresh") for url in puts)
    assert "DEBUG reconciler.provider: aks create fresh: done in " in text
    assert len(requests) >= aks_emulator.request_log.count(status=200) > 0
    # Without --debug, none of it.
    quiet = run("plan", str(path))
    assert quiet.returncode == 0 and "DEBUG" not in quiet.stderr


def test_debug_logs_a_request_that_failed(aks_emulator: EmulatorSession,
                                          tmp_path: Path) -> None:
    aks_emulator.reset(STANDARD_POOLS, token=TOKEN)
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", POOLS)
    env = {**os.environ, **aks_emulator.env, "AZURE_ACCESS_TOKEN": "rcWRONG-" + TOKEN}
    done = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(path), "--debug"],
                          cwd=tmp_path, text=True, capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL, env=env)
    assert done.returncode == 1
    assert re.search(r"DEBUG reconciler\.http: GET \S+ -> 401 \(\d+ ms\)", done.stderr)
    assert re.search(r"DEBUG reconciler\.provider: aks list: failed after \d+ ms: ",
                     done.stderr)
    assert TOKEN not in done.stdout + done.stderr

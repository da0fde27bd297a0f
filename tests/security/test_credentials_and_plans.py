"""Attacks on credentials, secrets and saved plans, each performed through a real
``reconciler`` process (docs/security.md lists the promise each test proves)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_session import EmulatorSession, arm_pool

LOCAL_FILE = """\
apiVersion: reconciler/v1
kind: NodePoolSet
cluster:
  name: {name}
  provider: local
  settings: {{stateFile: "{state}", location: "{location}"}}
policy: {{prune: {prune}}}
nodePools:
  - name: system
    mode: system
    instanceType: Standard_D4s_v5
    zones: [{zone}]
    autoscaling: {{enabled: true, min: 1, max: {max}}}
"""
SECRET = "ghs_s3cr3tV4lue0fTheCiJob0123456789"


def local_file(path: Path, *, name: str = "prod", state: str = "state.json",
               location: str = "japaneast", zone: str = '"1"', prune: str = "owned",
               max: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LOCAL_FILE.format(name=name, state=state, location=location, zone=zone,
                                      prune=prune, max=max), encoding="utf-8")
    return path


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m reconciler ARGS`` as a real process, colour off."""
    full_env = {**os.environ, "NO_COLOR": "1"}
    full_env.pop("RECONCILER_TRUSTED_ENDPOINTS", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                          env=full_env)


def everything(*results: subprocess.CompletedProcess[str], files: tuple[Path, ...] = ()
               ) -> str:
    text = "".join(r.stdout + r.stderr for r in results)
    return text + "".join(f.read_text(errors="replace") for f in files if f.exists())


# -- 1. credentials sent to a host the file chooses ----------------------------------------


class Listener:
    """A TCP listener on 127.0.0.1 that records whether anyone connected (TLS or not)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()


def aks_file(path: Path, endpoint: str, **settings: str) -> Path:
    values = {"subscriptionId": "00000000-0000-0000-0000-000000000000",
              "resourceGroup": "rg", "clusterName": "aks", "location": "eastus",
              "auth": "token", "armEndpoint": endpoint, **settings}
    body = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in values.items())
    path.write_text("apiVersion: reconciler/v1\nkind: NodePoolSet\ncluster:\n  name: c\n"
                    f"  provider: aks\n  settings:\n{body}\nnodePools: []\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["plan"], ["apply", "--yes"], ["list"], ["export"]])
def test_an_untrusted_arm_endpoint_gets_no_request_and_no_token(
        tmp_path: Path, attacker: Listener, command: list[str]) -> None:
    path = aks_file(tmp_path / "pools.yaml", attacker.url)
    result = run([command[0], str(path), *command[1:]], tmp_path,
                 env={"AZURE_ACCESS_TOKEN": SECRET})
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert "RECONCILER_TRUSTED_ENDPOINTS" in line and "armEndpoint" in line
    assert attacker.connections == 0
    assert SECRET not in everything(result)


def test_the_trust_list_is_an_origin_match_not_a_prefix(tmp_path: Path,
                                                        attacker: Listener) -> None:
    # Trusting the emulator's origin does not trust another port, a user-info trick or
    # a path on the trusted host.
    trusted = attacker.url.rsplit(":", 1)[0] + ":1"
    for endpoint in (attacker.url, f"https://127.0.0.1:1@127.0.0.1:{attacker.url[-5:]}",
                     "https://management.azure.com.attacker.example"):
        path = aks_file(tmp_path / "pools.yaml", endpoint)
        result = run(["plan", str(path)], tmp_path,
                     env={"AZURE_ACCESS_TOKEN": SECRET,
                          "RECONCILER_TRUSTED_ENDPOINTS": trusted})
        assert result.returncode == 1 and "armEndpoint" in result.stderr, endpoint
    assert attacker.connections == 0


def test_an_endpoint_expanded_from_a_variable_is_refused_too(tmp_path: Path,
                                                             attacker: Listener) -> None:
    path = aks_file(tmp_path / "pools.yaml", "${ENDPOINT}")
    result = run(["plan", str(path)], tmp_path,
                 env={"AZURE_ACCESS_TOKEN": SECRET, "ENDPOINT": attacker.url})
    assert result.returncode == 1 and "RECONCILER_TRUSTED_ENDPOINTS" in result.stderr
    assert attacker.connections == 0


def test_a_trusted_emulator_works_and_variables_in_the_path_never_print(
        aks_emulator: EmulatorSession, tmp_path: Path) -> None:
    # The file puts another variable of the job (GITHUB_TOKEN) into the request path; the
    # request goes only to the trusted endpoint, and its echo never reaches the output.
    aks_emulator.reset([arm_pool("system", "System")])
    path = aks_file(tmp_path / "pools.yaml", aks_emulator.url, clusterName="${GITHUB_TOKEN}")
    env = {**aks_emulator.env, "GITHUB_TOKEN": SECRET}
    results = [run(["plan", str(path)], tmp_path, env=env),
               run(["list", str(path)], tmp_path, env=env),
               run(["plan", str(path), "--format", "markdown"], tmp_path, env=env)]
    assert SECRET not in everything(*results)
    assert aks_emulator.request_log.count() >= 1  # the requests did go to the emulator
    untrusted = run(["plan", str(path)], tmp_path,
                    env={**env, "RECONCILER_TRUSTED_ENDPOINTS": ""})
    assert untrusted.returncode == 1 and "RECONCILER_TRUSTED_ENDPOINTS" in untrusted.stderr


# -- 4. secrets echoed ---------------------------------------------------------------------


def test_an_expanded_value_never_reaches_messages_plans_or_files(tmp_path: Path) -> None:
    # location and the state file come from variables: a wrong location, a state path
    # that cannot be read, and zones written from the location all show ${VAR} only.
    bad = local_file(tmp_path / "bad.yaml", location="${LOC}", state="${STATE}")
    invalid = run(["plan", str(bad)], tmp_path, env={"LOC": SECRET, "STATE": "s.json"})
    assert invalid.returncode == 1 and "${LOC}" in invalid.stderr
    (tmp_path / SECRET).mkdir()  # a state "file" that is a folder: its path is in the error
    unreadable = run(["plan", str(bad)], tmp_path, env={"LOC": "japaneast", "STATE": SECRET})
    assert unreadable.returncode == 1

    good = local_file(tmp_path / "good.yaml", location="${LOC}", state="${STATE}",
                      zone="japaneast-1")
    env = {"LOC": "japaneast", "STATE": f"{SECRET}.json"}
    plan_path = tmp_path / "plan.json"
    outputs = [run(["plan", str(good)], tmp_path, env=env),
               run(["plan", str(good), "--format", "markdown", "--out", str(plan_path)],
                   tmp_path, env=env),
               run(["plan", str(good), "--format", "json"], tmp_path, env=env),
               run(["apply", str(good), "--yes"], tmp_path, env=env),
               run(["list", str(good)], tmp_path, env=env),
               run(["export", str(good), "--output", "exported.yaml"], tmp_path, env=env)]
    assert [r.returncode for r in outputs] == [0, 0, 0, 0, 0, 0], everything(*outputs)
    text = everything(invalid, unreadable, *outputs,
                      files=(plan_path, tmp_path / "exported.yaml"))
    assert SECRET not in text, [r.args for r in (invalid, unreadable, *outputs)
                                if SECRET in r.stdout + r.stderr]
    assert "japaneast" not in text.replace("such as japaneast", "")
    assert "${LOC}-1" in outputs[0].stdout  # the zone, written with the variable's name


def test_the_target_digest_does_not_let_a_short_value_be_guessed(tmp_path: Path) -> None:
    import hashlib

    path = local_file(tmp_path / "pools.yaml", location="${LOC}")
    for out in ("a.json", "b.json"):
        result = run(["plan", str(path), "--out", out], tmp_path, env={"LOC": "jpe1"})
        assert result.returncode == 0, result.stderr
    a, b = (json.loads((tmp_path / n).read_text())["fingerprint"]["target"]
            for n in ("a.json", "b.json"))
    assert a != b and a.startswith("scrypt:")  # salted: equal settings, different digests
    settings = {"name": "prod", "provider": "local",
                "settings": {"stateFile": "state.json", "location": "jpe1"}}
    unsalted = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    assert unsalted not in a
    applied = run(["apply", "a.json", "--yes"], tmp_path, env={"LOC": "jpe1"})
    assert applied.returncode == 0, applied.stderr
    other = run(["apply", "b.json", "--yes"], tmp_path, env={"LOC": "jpe2"})
    assert other.returncode == 1 and "another cluster target" in other.stderr


# -- 5. a saved plan chooses what gets applied ---------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with clusters/prod.yaml applied, and a reviewed plan of a change to it."""
    root = tmp_path / "repo"
    local_file(root / "clusters" / "prod.yaml", state="../state.json")
    assert run(["apply", "clusters/prod.yaml", "--yes"], root).returncode == 0
    return root


def tampered_artifact(repo: Path, recorded: str) -> Path:
    """An artifact bringing its own desired file (prune: all, another pool) and a plan
    that records its digest and points at it."""
    artifact = repo.parent / "artifact"
    evil = local_file(artifact / "evil.yaml", state=str(repo / "state.json"), prune="all",
                      max=9)
    planned = run(["plan", str(evil), "--out", str(artifact / "plan.json")], repo)
    assert planned.returncode == 0, planned.stderr
    document = json.loads((artifact / "plan.json").read_text())
    document["desiredFile"] = recorded
    (artifact / "plan.json").write_text(json.dumps(document))
    return artifact


@pytest.mark.parametrize("recorded", ["ABSOLUTE", "../artifact/evil.yaml", "INSIDE"])
def test_a_tampered_plan_cannot_point_apply_at_its_own_file(repo: Path, recorded: str) -> None:
    artifact_dir = repo.parent / "artifact"
    target = {"ABSOLUTE": str(artifact_dir / "evil.yaml"), "INSIDE": "artifact/evil.yaml"}
    artifact = tampered_artifact(repo, target.get(recorded, recorded))
    if recorded == "INSIDE":  # the artifact was unpacked inside the checkout
        shutil.copytree(artifact, repo / "artifact")
        artifact = repo / "artifact"
    before = (repo / "state.json").read_text()
    result = run(["apply", str(artifact / "plan.json"), "--yes"], repo)
    assert result.returncode == 1
    assert "--file" in result.stderr
    assert (repo / "state.json").read_text() == before


def test_a_plan_applies_only_with_the_file_it_was_made_from(repo: Path) -> None:
    artifact = tampered_artifact(repo, "clusters/prod.yaml")
    before = (repo / "state.json").read_text()
    # The operator names the reviewed file; the artifact's digest is of another file.
    result = run(["apply", str(artifact / "plan.json"), "--file", "clusters/prod.yaml",
                  "--yes"], repo)
    assert result.returncode == 1 and "not the file the plan was made from" in result.stderr
    # Without --file the recorded relative path is read from the checkout: same refusal.
    implicit = run(["apply", str(artifact / "plan.json"), "--yes"], repo)
    assert implicit.returncode == 1 and "not the file the plan was made from" in implicit.stderr
    assert (repo / "state.json").read_text() == before
    # The honest flow still works: plan the checkout's file, apply with it.
    local_file(repo / "clusters" / "prod.yaml", state="../state.json", max=5)
    honest = repo.parent / "honest"
    honest.mkdir()
    assert run(["plan", "clusters/prod.yaml", "--out", str(honest / "plan.json")],
               repo).returncode == 0
    applied = run(["apply", str(honest / "plan.json"), "--file", "clusters/prod.yaml",
                   "--yes"], repo)
    assert applied.returncode == 0, applied.stderr


# -- 6. apply says success when the operation failed ---------------------------------------


@pytest.mark.parametrize("operation", ["create", "update"])
def test_a_lost_answer_to_a_write_that_then_failed_is_a_failure(
        aks_emulator: EmulatorSession, tmp_path: Path, operation: str) -> None:
    aks_emulator.reset([arm_pool("system", "System", tags={"managed-by": "reconciler"}),
                        arm_pool("batch", tags={"managed-by": "reconciler"})])
    pools = ("nodePools:\n  - {name: system, mode: system}\n"
             "  - {name: batch, mode: user, labels: {team: b}}\n")
    if operation == "create":
        pools += "  - {name: gpu, mode: user, instanceType: Standard_NC4as_T4_v3}\n"
    path = aks_emulator.write_desired(tmp_path / "pools.yaml", pools)
    name = "gpu" if operation == "create" else "batch"
    # AKS takes the PUT, the answer is lost, and the operation then ends Failed.
    aks_emulator.faults.add(method="PUT", path=f"/agentPools/{name}$", action="drop_after")
    aks_emulator.faults.add(method="PUT", path=f"/agentPools/{name}$", action="lro_failed",
                            code="VMExtensionProvisioningError", message="extension failed")
    result = run(["apply", str(path), "--yes"], tmp_path, env=aks_emulator.env)
    time.sleep(0.2)  # let the emulator's operation end
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"failed to {operation} {name}" in result.stdout
    assert "provisioningState" in result.stdout
    assert "Apply complete" not in result.stdout or "failed" in result.stdout


# -- 9 and 10. files written through planted links; the lock of a linked state file --------


def test_plan_out_and_export_never_write_through_a_planted_link(tmp_path: Path) -> None:
    path = local_file(tmp_path / "pools.yaml")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    for name in (".plan.json.tmp", ".exported.yaml.tmp"):
        (tmp_path / name).symlink_to(victim)
    assert run(["plan", str(path), "--out", "plan.json"], tmp_path).returncode == 0
    assert run(["export", str(path), "--output", "exported.yaml"], tmp_path).returncode == 0
    assert victim.read_text() == "keep me\n"
    assert json.loads((tmp_path / "plan.json").read_text())["formatVersion"]
    # A failed export leaves no temporary file behind.
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        failed = run(["export", str(path), "--output", "ro/x.yaml"], tmp_path)
        if os.geteuid() != 0:  # root writes anyway
            assert failed.returncode == 1 and ".tmp" not in failed.stderr
        assert not [p for p in (tmp_path / "ro").iterdir() if p.name.endswith(".tmp")]
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_two_writers_through_a_symlinked_state_file_share_one_lock(tmp_path: Path) -> None:
    import fcntl

    local_file(tmp_path / "real.yaml", state="state.json")
    linked = local_file(tmp_path / "linked.yaml", state="link.json", max=7)
    (tmp_path / "link.json").symlink_to(tmp_path / "state.json")
    assert run(["apply", "real.yaml", "--yes"], tmp_path).returncode == 0
    # Hold the real state file's lock, as a concurrent apply through the real name would.
    with open(tmp_path / "state.json.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = subprocess.Popen([sys.executable, "-m", "reconciler", "apply", str(linked),
                                    "--yes"], cwd=tmp_path, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env={**os.environ, "NO_COLOR": "1"})
        time.sleep(1.5)
        held_state = (tmp_path / "state.json").read_text()
        assert process.poll() is None  # waiting for the lock, not writing
        fcntl.flock(held, fcntl.LOCK_UN)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, out + err
    assert '"maxCount": 7' not in held_state
    assert '"maxCount": 7' in (tmp_path / "state.json").read_text()
    assert (tmp_path / "link.json").is_symlink()

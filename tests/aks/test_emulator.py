"""The emulator itself: run by hand (python -m), seeds, control endpoint, desired files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
from emulator_session import FAST_DRIVER_SETTINGS, EmulatorSession

from reconciler.emulator import Faults
from reconciler.model import Cluster
from reconciler.providers.aks.driver import AksDriver

EXAMPLES = Path(__file__).parents[1] / "fixtures"
LIST_EXAMPLE = EXAMPLES / "AgentPoolsList.json"


def test_python_m_emulator_serves_the_sdk(tmp_path: Path, monkeypatch) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler.emulator", "--port", "0", "--seed",
         str(LIST_EXAMPLE), "--token", "cli-token", "--cluster", "demo"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        info = dict(process.stdout.readline().strip().split(": ", 1) for _ in range(5))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", info["ca"])
        monkeypatch.setenv("AZURE_ACCESS_TOKEN", "cli-token")
        monkeypatch.setenv("RECONCILER_TRUSTED_ENDPOINTS", info["url"])
        settings = {"subscriptionId": info["subscriptionId"],
                    "resourceGroup": info["resourceGroup"], "clusterName": "demo",
                    "location": "eastus", "auth": "token", "armEndpoint": info["url"],
                    **FAST_DRIVER_SETTINGS}
        [pool] = AksDriver(Cluster("demo", "aks", settings)).list()
        assert (pool.name, pool.instance_type, pool.etag) == ("agentpool1", "Standard_DS1_v2",
                                                              "ewnfuib")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_seed_accepts_example_files(aks_emulator: EmulatorSession) -> None:
    aks_emulator.reset(json.loads((EXAMPLES / "AgentPoolsGet.json").read_text()))
    [pool] = aks_emulator.cluster.list_pools()
    assert pool["id"].startswith(aks_emulator.config.cluster_path)
    assert pool["properties"]["upgradeSettings"] == {"maxSurge": "33%"}


def test_control_endpoint_adds_faults_and_reads_the_log(aks: EmulatorSession) -> None:
    verify = str(aks.ca_path)
    rule = {"method": "GET", "path": "/agentPools$", "status": 503}
    assert requests.post(f"{aks.url}/_emulator/faults", json=[rule],
                         verify=verify).status_code == 201
    assert len(AksDriver(aks.cluster_spec()).list()) == 3
    log = requests.get(f"{aks.url}/_emulator/requests", verify=verify).json()
    assert [entry["status"] for entry in log] == [503, 200]
    assert all("Authorization" not in entry["headers"] for entry in log)
    pools = requests.get(f"{aks.url}/_emulator/pools", verify=verify).json()
    assert sorted(pools) == ["batch", "legacy", "system"]


def test_unknown_api_version_is_refused(aks: EmulatorSession) -> None:
    response = requests.get(f"{aks.url}{aks.config.cluster_path}/agentPools",
                            params={"api-version": "2019-01-01"}, verify=str(aks.ca_path),
                            headers={"Authorization": f"Bearer {aks.token}"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_write_desired_aims_at_the_emulator(aks_emulator: EmulatorSession,
                                            tmp_path: Path) -> None:
    path = aks_emulator.write_desired(tmp_path / "pools.yaml")
    text = path.read_text()
    assert "provider: aks" in text and f'armEndpoint: "{aks_emulator.url}"' in text
    assert "auth: \"token\"" in text and aks_emulator.token not in text


def test_fault_rule_fails_the_nth_match_only() -> None:
    faults = Faults()
    faults.add(method="PUT", path=r"/agentPools/a$", nth=2, times=2)
    taken = [faults.take("PUT", "/x/agentPools/a") is not None for _ in range(5)]
    assert taken == [False, True, True, False, False]
    assert faults.take("GET", "/x/agentPools/a") is None

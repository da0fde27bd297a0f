"""``EksWorld``: the emulated AWS account the eks tests use (its cluster, subnets and node
role), with helpers to seed node groups, write desired files and run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import motoshim
from eksproxy import Proxy
from moto.core import DEFAULT_ACCOUNT_ID
from moto.eks.models import EKSBackend, eks_backends

REGION = "us-east-1"
CLUSTER = "prod"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
FAKE_KEY_ID = "AKIAFAKEFORTESTS0001"
FAKE_SECRET = "fake-secret-key-for-moto-tests-only"
# Driver tuning that keeps polls and waits in the millisecond range.
FAST = {"pollingIntervalSeconds": 0, "conflictBackoffSeconds": 0.01,
        "conflictTimeoutSeconds": 5, "maxAttempts": 3}


@dataclass
class EksWorld:
    """The emulated account: its cluster, subnets and role, and ways to reach them."""

    moto_url: str
    proxy: Proxy
    subnets: dict[str, str]  # zone -> subnet id
    role_arn: str
    tmp: Path = field(default=Path("."))

    @property
    def url(self) -> str:
        """The HTTPS endpoint the provider is given (the proxy)."""
        return self.proxy.url

    @property
    def env(self) -> dict[str, str]:
        """Environment for a CLI subprocess: fake credentials, the CA, the trusted proxy."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith("AWS_") and k not in ("RECONCILER_TRUSTED_ENDPOINTS",
                                                           "REQUESTS_CA_BUNDLE")}
        return {**base, "AWS_ACCESS_KEY_ID": FAKE_KEY_ID, "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
                "AWS_DEFAULT_REGION": REGION, "AWS_CA_BUNDLE": self.proxy.ca_path,
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "RECONCILER_TRUSTED_ENDPOINTS": self.url}

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (not recorded): for seeding and inspecting."""
        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION,
                            aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET)

    @property
    def backend(self) -> EKSBackend:
        return eks_backends[DEFAULT_ACCOUNT_ID][REGION]

    def nodegroup(self, name: str) -> dict[str, Any]:
        """A node group as EKS describes it."""
        found: dict[str, Any] = self.client("eks").describe_nodegroup(
            clusterName=CLUSTER, nodegroupName=name)["nodegroup"]
        return found

    def names(self) -> list[str]:
        return sorted(self.backend.clusters[CLUSTER].nodegroups)

    def seed(self, name: str, *, zones: tuple[str, ...] = ZONES[:2], **kwargs: Any) -> None:
        """A node group made by someone else (console, eksctl): unmanaged unless tagged."""
        kwargs.setdefault("scalingConfig", {"minSize": 1, "maxSize": 3, "desiredSize": 2})
        kwargs.setdefault("instanceTypes", ["m6i.large"])
        kwargs.setdefault("diskSize", 50)  # None: EKS's default
        self.client("eks").create_nodegroup(
            clusterName=CLUSTER, nodegroupName=name, nodeRole=self.role_arn,
            subnets=[self.subnets[z] for z in zones],
            **{k: v for k, v in kwargs.items() if v is not None})

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """``cluster.settings`` for provider eks aimed at the proxy."""
        return {"region": REGION, "clusterName": CLUSTER, "nodeRoleArn": self.role_arn,
                "endpointUrl": self.url, **FAST, **overrides}

    def write(self, pools_yaml: str = "nodePools: []\n", *, name: str = "pools.yaml",
              policy: str = "", **settings: Any) -> Path:
        """A complete desired-state file aimed at the emulated cluster."""
        chosen = self.settings(**settings)
        lines = ["apiVersion: reconciler/v1", "kind: NodePoolSet", "cluster:",
                 "  name: prod-use1", "  provider: eks", "  settings:"]
        lines += [f"    {k}: {json.dumps(v)}" for k, v in chosen.items() if v is not None]
        path = self.tmp / name
        path.write_text("\n".join(lines) + "\n" + policy + pools_yaml, encoding="utf-8")
        return path

    def cli(self, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        """The real CLI, as a user runs it."""
        return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=self.tmp,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300, check=False)

    def plan_json(self, path: Path, *args: str) -> dict[str, Any]:
        result = self.cli("plan", str(path), "--format", "json", *args)
        assert result.returncode in (0, 2), result.stdout + result.stderr
        plan: dict[str, Any] = json.loads(result.stdout)
        return plan

    def apply(self, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.cli("apply", str(path), "--yes", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def reset(self, **polls: int) -> None:
        """No node groups, no faults, an empty log, operations done at once (or slowed)."""
        cluster = self.backend.clusters[CLUSTER]
        cluster.nodegroups.clear()
        cluster.nodegroup_count = 0
        motoshim.LIFECYCLE.reset(**polls)
        self.proxy.clear()

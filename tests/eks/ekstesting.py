"""``EksWorld``: the emulated AWS account the eks tests use (its cluster, subnets and node
role), with helpers to seed node groups, write desired files and run the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from eksproxy import Proxy
from motoserver import MotoProcess

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

    moto: MotoProcess
    proxy: Proxy
    subnets: dict[str, str]  # zone -> subnet id
    role_arn: str
    tmp: Path = field(default=Path("."))

    @property
    def moto_url(self) -> str:
        """moto's own endpoint (plain HTTP): for seeding and inspecting, not recorded."""
        return self.moto.url

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

    def nodegroup(self, name: str) -> dict[str, Any]:
        """A node group as EKS describes it."""
        found: dict[str, Any] = self.client("eks").describe_nodegroup(
            clusterName=CLUSTER, nodegroupName=name)["nodegroup"]
        return found

    def names(self) -> list[str]:
        """The cluster's node groups, as EKS lists them."""
        pages = self.client("eks").get_paginator("list_nodegroups").paginate(
            clusterName=CLUSTER)
        return sorted(name for page in pages for name in page["nodegroups"])

    def create_many(self, names: list[str], zone: str = ZONES[0]) -> None:
        """Node groups made at once inside moto (no request): for paging."""
        self.moto.call("create_many", cluster=CLUSTER, names=names, role=self.role_arn,
                       subnets=[self.subnets[zone]])

    def seed(self, name: str, *, zones: tuple[str, ...] = ZONES[:2], **kwargs: Any) -> None:
        """A node group made by someone else (console, eksctl): unmanaged unless tagged."""
        kwargs.setdefault("scalingConfig", {"minSize": 1, "maxSize": 3, "desiredSize": 2})
        kwargs.setdefault("instanceTypes", ["m6i.large"])
        kwargs.setdefault("diskSize", 50)  # None: EKS's default
        if (kwargs.get("tags") or {}).get("managed-by") == "reconciler":  # ours: labelled
            kwargs["labels"] = {"kompox.dev/node-pool": name, **(kwargs.get("labels") or {})}
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

    def applied(self, pools_yaml: str, **write: Any) -> Path:
        """The cluster exactly as applying this file to an empty one leaves it, and the
        file's path; the request log empty. The first time in the session the real CLI
        applies it (and must succeed); later, moto's copy of that result is restored: the
        state under test is the CLI's, without paying an apply per test that starts there.
        Seed other node groups after this, not before: it replaces them all."""
        path = self.write(pools_yaml, **write)
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        if not self.moto.call("restore", cluster=CLUSTER, key=key):
            self.reset()
            self.apply(path)
            self.moto.call("snapshot", cluster=CLUSTER, key=key)
        self.proxy.clear()
        return path

    def reset(self, **polls: Any) -> None:
        """No node groups, no faults, an empty log, operations done at once (or slowed:
        ``create_polls``, ``delete_polls``, ``update_polls``, ``create_issues``)."""
        self.moto.call("reset", cluster=CLUSTER, **polls)
        self.proxy.clear()

    def slow(self, **polls: Any) -> None:
        """Operations started from now on take this many polls (the node groups stay)."""
        self.moto.call("slow", **polls)

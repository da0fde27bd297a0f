"""Requests per plan and per apply for the eks provider, against moto: run by hand.

    python benchmarks/eks_requests.py [--pools 20] [--with-subnets]

It starts what tests/eks start (moto's ThreadedMotoServer on 127.0.0.1 with the test
shim, in a helper process, behind the recording HTTPS proxy), makes a VPC, a node role
and a cluster, and runs the real CLI through a plan and the applies below, printing each
AWS operation the proxy saw. moto finishes every operation at once, so each wait is one
poll here; against EKS a create or delete polls DescribeNodegroup and an update
DescribeUpdate every ``pollingIntervalSeconds`` until done (a few minutes for a create).
The floor each row is held to is printed beside it; exit 1 when a row is above it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "eks"))  # the moto shim, the proxy, EksWorld

from eksproxy import Proxy  # noqa: E402
from ekstesting import CLUSTER, ZONES, EksWorld  # noqa: E402
from motoserver import MotoProcess  # noqa: E402


def pools_yaml(count: int, *, max_size: int, label: str) -> str:
    entries = [{"name": f"pool{i:02d}", "instanceType": "m6i.large",
                "zones": [ZONES[i % len(ZONES)]], "labels": {"team": label},
                "autoscaling": {"enabled": True, "min": 1, "max": max_size},
                "extensions": {"eks": {"tags": {"cost-center": "42"},
                                       "taints": ["dedicated=batch:NoSchedule"]}}}
               for i in range(count)]
    return f"nodePools: {json.dumps(entries)}\n"


def run(world: EksWorld, label: str, floor: dict[str, int], *args: str) -> bool:
    world.proxy.clear()
    result = world.cli(*args)
    if result.returncode not in (0, 2):
        sys.exit(f"{label}: exit {result.returncode}\n{result.stdout}{result.stderr}")
    seen = Counter(world.proxy.operations())
    total = sum(seen.values())
    writes = len(world.proxy.writes())
    over = {op: n for op, n in seen.items() if n > floor.get(op, 0)}
    shown = ", ".join(f"{op} {n}" for op, n in sorted(seen.items())) or "none"
    verdict = "PASS" if not over else f"FAIL (above the floor: {over})"
    print(f"| {label} | {total} | {writes} | {shown} | {verdict} |")
    return not over


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", type=int, default=20)
    parser.add_argument("--with-subnets", action="store_true",
                        help="name zone -> subnet in the settings (no EC2 call)")
    options = parser.parse_args()
    n = options.pools
    with TemporaryDirectory() as tmp:
        moto = MotoProcess()
        proxy = Proxy(upstream=("127.0.0.1", moto.port)).start()
        try:
            world = EksWorld(moto, proxy, {}, "", Path(tmp))
            ec2 = world.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            world.subnets = {z: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                                  AvailabilityZone=z)["Subnet"]["SubnetId"]
                             for i, z in enumerate(ZONES)}
            iam = world.client("iam")
            world.role_arn = iam.create_role(RoleName="nodes",
                                             AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            world.client("eks").create_cluster(
                name=CLUSTER, roleArn=world.role_arn,
                resourcesVpcConfig={"subnetIds": list(world.subnets.values())})
            extra = {"subnets": world.subnets} if options.with_subnets else {}
            ec2_read = 0 if options.with_subnets else 1
            first = world.write(pools_yaml(n, max_size=3, label="a"), **extra)
            second = world.write(pools_yaml(n, max_size=4, label="b"), name="b.yaml", **extra)
            gone = world.write("nodePools: []\n", name="c.yaml", **extra)
            listed = {"ListNodegroups": 1, "DescribeNodegroup": n, "ec2:DescribeSubnets":
                      ec2_read}
            print(f"eks provider, {n} node groups, moto with the tests' shim;"
                  f" subnets {'named in the settings' if extra else 'read from EC2'}\n")
            print("| step | requests | writes | operations | floor |")
            print("|---|---|---|---|---|")
            ok = run(world, "plan, empty cluster", {"ListNodegroups": 1}, "plan", str(first))
            ok &= run(world, f"apply: {n} creates",
                      {"ListNodegroups": 1, "CreateNodegroup": n, "DescribeNodegroup": n,
                       "DescribeCluster": ec2_read, "ec2:DescribeSubnets": ec2_read},
                      "apply", str(first), "--yes")
            ok &= run(world, "plan, no change", listed, "plan", str(first))
            ok &= run(world, "apply, no change", listed, "apply", str(first), "--yes")
            ok &= run(world, f"apply: {n} updates (labels, max size)",
                      {**listed, "UpdateNodegroupConfig": n}, "apply", str(second), "--yes")
            ok &= run(world, f"apply: {n} deletes",
                      {**listed, "DeleteNodegroup": n, "DescribeNodegroup": 2 * n},
                      "apply", str(gone), "--yes")
        finally:
            proxy.stop()
            moto.stop()
    print("\nA plan is one ListNodegroups page per 100 node groups, one DescribeNodegroup"
          " each (concurrently) and, unless the settings name every subnet, one EC2"
          " DescribeSubnets. Each action is one write (a tag change adds TagResource /"
          " UntagResource), then polls until EKS reports it done.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""An AWS to test the eks provider against: moto's ThreadedMotoServer on 127.0.0.1 (a
random port) extended by ``motoshim``, both in a helper process (``motoserver``), behind
the HTTPS ``eksproxy`` that records and faults requests. One VPC with a subnet in each
of three zones, a node IAM role and an EKS cluster are made through boto3; the real
``reconciler`` CLI runs as a subprocess against them with fake credentials
(``ekstesting.EksWorld``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eksproxy import Proxy
from ekstesting import CLUSTER, ZONES, EksWorld
from motoserver import MotoProcess


@pytest.fixture(scope="session")
def _aws() -> Iterator[tuple[MotoProcess, Proxy, dict[str, str], str]]:
    """moto (shimmed, in its helper process) and the HTTPS proxy, with the VPC, role and
    cluster, for the session."""
    moto = MotoProcess()
    proxy = Proxy(upstream=("127.0.0.1", moto.port)).start()
    try:
        world = EksWorld(moto, proxy, {}, "")
        ec2 = world.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = {zone: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                           AvailabilityZone=zone)["Subnet"]["SubnetId"]
                   for i, zone in enumerate(ZONES)}
        iam = world.client("iam")
        role = iam.create_role(RoleName="eks-nodes",
                               AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        cluster_role = iam.create_role(RoleName="eks-cluster",
                                       AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        world.client("eks").create_cluster(
            name=CLUSTER, roleArn=cluster_role,
            resourcesVpcConfig={"subnetIds": list(subnets.values())})
        yield moto, proxy, subnets, role
    finally:
        proxy.stop()
        moto.stop()


@pytest.fixture
def eks(_aws: tuple[MotoProcess, Proxy, dict[str, str], str], tmp_path: Path) -> EksWorld:
    """The emulated cluster with no node groups, an empty request log and no faults."""
    moto, proxy, subnets, role = _aws
    world = EksWorld(moto, proxy, subnets, role, tmp_path)
    world.reset()
    return world


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every eks test in one xdist group: under ``--dist loadgroup`` they share a worker,
    so one moto helper and one copy of each applied state serve them all (without it,
    e.g. the default ``-n 4``, the mark does nothing)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("eks"))

"""An AWS to test the eks provider against: moto's ThreadedMotoServer on 127.0.0.1 (a
random port), extended by ``motoshim``, behind the HTTPS ``eksproxy`` that records and
faults requests. One VPC with a subnet in each of three zones, a node IAM role and an EKS
cluster are made through boto3; the real ``reconciler`` CLI runs as a subprocess against
them with fake credentials (``ekstesting.EksWorld``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import motoshim
import pytest
from eksproxy import Proxy
from ekstesting import CLUSTER, ZONES, EksWorld
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="session")
def _aws() -> Iterator[tuple[str, Proxy, dict[str, str], str]]:
    """moto (shimmed) and its HTTPS proxy, with the VPC, role and cluster, for the session."""
    with pytest.MonkeyPatch.context() as mp:
        motoshim.install(mp)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        proxy = Proxy(upstream=(host, port)).start()
        try:
            world = EksWorld(f"http://{host}:{port}", proxy, {}, "")
            ec2 = world.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = {zone: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24",
                                               AvailabilityZone=zone)["Subnet"]["SubnetId"]
                       for i, zone in enumerate(ZONES)}
            role = world.client("iam").create_role(
                RoleName="eks-nodes", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            cluster_role = world.client("iam").create_role(
                RoleName="eks-cluster", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            world.client("eks").create_cluster(
                name=CLUSTER, roleArn=cluster_role,
                resourcesVpcConfig={"subnetIds": list(subnets.values())})
            yield world.moto_url, proxy, subnets, role
        finally:
            proxy.stop()
            server.stop()


@pytest.fixture
def eks(_aws: tuple[str, Proxy, dict[str, str], str], tmp_path: Path) -> EksWorld:
    """The emulated cluster with no node groups, an empty request log and no faults."""
    url, proxy, subnets, role = _aws
    world = EksWorld(url, proxy, subnets, role, tmp_path)
    world.reset()
    return world

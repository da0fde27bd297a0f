"""moto's ThreadedMotoServer, with ``motoshim`` installed next to it, in a helper process
of the tests, driven over a pipe.

Why a process of its own: moto's EC2 models load every instance-type offering at import
(about 150 MiB), and a forked child starts with its parent's resident pages, so a test
process holding moto would push every process later tests start past their memory
bounds (tests/security measure a child's peak RSS). The tests talk to the server over
HTTP as any AWS client would, and to the shim through ``MotoProcess.call``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

REGION = "us-east-1"


def serve(conn: Connection) -> None:
    """The helper process: start the shimmed server on 127.0.0.1, send its port, then run
    commands until "stop"."""
    import copy
    import logging
    import os

    # moto's EC2 backend otherwise makes ~1300 default AMIs (and a volume each) when it
    # starts, ~0.35 s of this helper's CPU; no eks test uses an AMI.
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    import motoshim
    import pytest
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.eks.models import eks_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    with pytest.MonkeyPatch.context() as mp:
        motoshim.install(mp)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        conn.send(server.get_host_and_port()[1])
        backend = eks_backends[DEFAULT_ACCOUNT_ID][REGION]

        def reset(cluster: str, **polls: Any) -> None:
            group = backend.clusters[cluster]
            group.nodegroups.clear()
            group.nodegroup_count = 0
            motoshim.LIFECYCLE.reset(**polls)

        def create_many(cluster: str, names: list[str], role: str, subnets: list[str]) -> None:
            for name in names:
                backend.create_nodegroup(
                    cluster_name=cluster, node_role=role, nodegroup_name=name, subnets=subnets,
                    scaling_config={"minSize": 1, "maxSize": 2, "desiredSize": 1})

        saved: dict[str, dict[str, Any]] = {}  # key -> the cluster's node groups, copied

        def snapshot(cluster: str, key: str) -> None:
            saved[key] = copy.deepcopy(backend.clusters[cluster].nodegroups)

        def restore(cluster: str, key: str) -> bool:
            """The cluster's node groups as ``snapshot`` copied them (False: none saved)."""
            if key not in saved:
                return False
            reset(cluster)
            group = backend.clusters[cluster]
            group.nodegroups = copy.deepcopy(saved[key])  # each restore gets its own objects
            group.nodegroup_count = len(group.nodegroups)
            return True

        commands = {"reset": reset, "slow": motoshim.LIFECYCLE.slow, "create_many": create_many,
                    "snapshot": snapshot, "restore": restore}
        try:
            while True:
                command, arguments = conn.recv()
                if command == "stop":
                    break
                try:
                    conn.send((True, commands[command](**arguments)))
                except Exception as exc:  # reported to the test that asked
                    conn.send((False, f"{type(exc).__name__}: {exc}"))
        finally:
            server.stop()


class MotoProcess:
    """The parent's handle: ``url`` (plain HTTP on 127.0.0.1), ``call``, ``stop``."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded test process
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child,), daemon=True)
        self._process.start()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("moto's server did not start")
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def call(self, command: str, **arguments: Any) -> Any:
        """Run a shim command in the server's process and return its result."""
        self._conn.send((command, arguments))
        ok, result = self._conn.recv()
        if not ok:
            raise RuntimeError(f"moto helper: {command}: {result}")
        return result

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the helper is already gone
            self._conn.send(("stop", {}))
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()

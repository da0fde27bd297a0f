"""The emulator as a Python object: start on a free port in a thread, inspect, stop."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

from reconciler.emulator.arm import ArmApi
from reconciler.emulator.cluster import EmulatedCluster
from reconciler.emulator.config import EmulatorConfig
from reconciler.emulator.faults import Faults
from reconciler.emulator.requestlog import RequestLog
from reconciler.emulator.seed import pools_from_json
from reconciler.emulator.server import EmulatorHttpServer
from reconciler.emulator.tls import EmulatorTls, make_tls


class Emulator:
    """An ARM agentPools emulator over HTTPS on 127.0.0.1.

    Use as a context manager, or ``start()`` / ``stop()``. While running: ``url`` (the
    armEndpoint), ``ca_path`` (trust it via REQUESTS_CA_BUNDLE), ``token`` (the bearer
    token it expects), ``cluster`` (pools and operations), ``store`` (the AKS rules store),
    ``request_log`` and ``faults``.
    """

    def __init__(self, config: EmulatorConfig | None = None, pools: Any = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = Faults()
        self.request_log = RequestLog()
        self.cluster = EmulatedCluster(self.config, self._arm_pools(pools))
        self._tls: EmulatorTls | None = None
        self._server: EmulatorHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> Any:
        """The AgentPoolStore holding the pools (replaced by ``seed``)."""
        return self.cluster.store

    @property
    def token(self) -> str:
        """The bearer token requests must carry."""
        return self.config.token

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:54321`` (the driver's armEndpoint)."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"https://{host!s}:{port}"

    @property
    def ca_path(self) -> Path:
        """The CA certificate file that verifies the server."""
        if self._tls is None:
            raise RuntimeError("emulator not started")
        return self._tls.ca_path

    def start(self) -> Emulator:
        """Bind (port 0 = any free port) and serve in a daemon thread."""
        self._tls = make_tls(self.config.host, "localhost")
        self._server = EmulatorHttpServer((self.config.host, self.config.port),
                                          self._tls.context, self.faults, self.request_log)
        self._server.api = ArmApi(self.cluster, self.config, self.faults, self.url)
        self._thread = self._server.serve_in_background("aks-emulator")
        return self

    def stop(self) -> None:
        """Stop serving and remove the CA file."""
        if self._server is not None:
            self._server.stop(self._thread)
        if self._tls is not None:
            self._tls.cleanup()
        self._server = self._thread = self._tls = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def seed(self, pools: Any) -> None:
        """Replace every pool (any shape ``pools_from_json`` accepts) and clear operations."""
        with self.cluster.lock:
            self.cluster.reset(self._arm_pools(pools))

    def reset(self) -> None:
        """Forget pools, operations, faults and logged requests."""
        self.seed(None)
        self.faults.clear()
        self.request_log.clear()

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until every in-flight operation has finished (or ``timeout`` passes)."""
        event = threading.Event()
        for _ in range(int(timeout / 0.01)):
            with self.cluster.lock:
                self.cluster.settle()
                if all(op.finished for op in self.cluster.operations.values()):
                    return
            event.wait(0.01)

    def _arm_pools(self, pools: Any) -> dict[str, dict] | None:
        """Pools keyed by name, with ids pointing at this emulator's cluster."""
        if pools is None:
            return None
        arm = pools_from_json(copy.deepcopy(pools))
        for name, pool in arm.items():
            pool["id"] = f"{self.config.cluster_path}/agentPools/{name}"
            pool.setdefault("type", "Microsoft.ContainerService/managedClusters/agentPools")
            pool.setdefault("properties", {}).setdefault("provisioningState", "Succeeded")
        return arm

"""Settings of one emulator instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

API_VERSION = "2026-08-01"
DEFAULT_TOKEN = "emulator-token"
CLUSTER_BUSY_MODES = ("off", "refuse", "cancel")


@dataclass
class EmulatorConfig:
    """What the emulator pretends to be and how fast it moves.

    ``lro_seconds``: how long a PUT/DELETE stays in flight (Creating/Updating/Deleting);
    ``retry_after``: the whole seconds sent in ``Retry-After`` on LRO responses (0 lets the
    client use its own polling interval); ``page_size``: pools per list page;
    ``token``: the bearer token every ARM request must carry (``accepts_token``, when set,
    decides instead: tests with expiring, rotating tokens); ``cluster_busy``: what a
    write meets while another pool's operation runs, ``off`` | ``refuse`` | ``cancel``
    (see ``reconciler.emulator.cluster``).
    """

    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "rg1"
    cluster_name: str = "clustername1"
    location: str = "eastus"
    kubernetes_version: str = "1.30.0"
    token: str = DEFAULT_TOKEN
    accepts_token: Callable[[str], bool] | None = None
    page_size: int = 10
    lro_seconds: float = 0.2
    retry_after: int = 1
    bare_errors: bool = False  # answer errors as bare {code, message}, as AKS sometimes does
    cluster_busy: str = "off"
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        if self.cluster_busy not in CLUSTER_BUSY_MODES:
            raise ValueError(f"cluster_busy must be one of {', '.join(CLUSTER_BUSY_MODES)},"
                             f" not {self.cluster_busy!r}")

    @property
    def cluster_path(self) -> str:
        """ARM id of the emulated managed cluster."""
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.ContainerService/managedClusters/{self.cluster_name}")

    def operation_path(self, kind: str, op_id: str) -> str:
        """Path of an async-operation (``operations``) or ``operationresults`` resource."""
        return (f"/subscriptions/{self.subscription_id}/providers/Microsoft.ContainerService"
                f"/locations/{self.location}/{kind}/{op_id}")

"""The ``aks`` driver: agent pools through azure-mgmt-containerservice (api 2026-08-01).

One paged list per ``list``; updates PUT the pool as listed with only the planned fields
changed (no GET), guarded by If-Match; creates by If-None-Match: *. Mapping and AKS
rules live in ``reconciler.aks``; HTTP failures are mapped in ``aks_errors``.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.core.polling import LROPoller

from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import (
    ClusterNotFoundError,
    ProviderError,
    ProviderValidationError,
    StaleError,
)
from reconciler.model import Capabilities, Cluster, NodePool
from reconciler.providers.aks.capabilities import aks_capabilities
from reconciler.providers.aks.client import AksSettings, make_client, parse_settings
from reconciler.providers.aks.errors import map_error, retry_conflicts, scrub_credentials
from reconciler.providers.aks.mapping import arm_for_create, arm_for_update, pool_from_arm


class AksDriver(Driver):
    """Agent pools of one AKS cluster (``provider: aks``)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.settings: AksSettings = parse_settings(dict(cluster.settings))
        self._client: Any = None  # built on first use: validation needs no credentials
        self._listed: dict[str, dict] | None = None  # raw ARM pools from the last list
        self._lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        """AKS rules, with zones written for the cluster's location."""
        return aks_capabilities(self.settings.location)

    @property
    def client(self) -> Any:
        """The ContainerServiceClient (created lazily)."""
        with self._lock:  # parallel applies share one client (and one connection pool)
            if self._client is None:
                self._client = make_client(self.settings)
            return self._client

    # -- the four operations -------------------------------------------------------------

    def list(self, name: str | None = None) -> list[NodePool]:
        """One paged list call (nextLink followed); a missing cluster is an error."""
        raw_pools = self._call(self._list_raw, action="list agent pools", pool="")
        with self._lock:
            self._listed = {raw["name"]: raw for raw in raw_pools}
        return [pool_from_arm(raw, self.settings.location) for raw in raw_pools
                if name is None or raw["name"] == name]

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """PUT with If-None-Match: * (412: the pool appeared since the plan)."""
        if not pool.name:
            raise ProviderValidationError("a node pool needs a name")
        body = arm_for_create(pool)
        try:
            raw = self._put(pool.name, body, etag=None, progress=progress, state="Creating")
        except StaleError as stale:
            # What our create would have made: these labels exactly, and our marker.
            done = replace(pool, managed=True, labels=pool.labels or {})
            raw = self._already_done(done, stale)
        return pool_from_arm(raw, self.settings.location)

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """PUT the listed pool with the set fields of ``pool``; no call if nothing changes."""
        if not pool.name:
            raise ProviderValidationError("a node pool needs a name")
        listed = self._cached(pool.name)
        if listed is None:
            raise StaleError(f"pool '{pool.name}' no longer exists; run plan again")
        body = arm_for_update(listed, pool)
        if body is None:
            return pool_from_arm(listed, self.settings.location)
        etag = pool.etag or (listed.get("properties") or {}).get("eTag")
        try:
            raw = self._put(pool.name, body, etag=etag, progress=progress, state="Updating")
        except StaleError as stale:
            raw = self._already_done(pool, stale)
        return pool_from_arm(raw, self.settings.location)

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """DELETE (If-Match when ``etag`` is given); a missing pool is success."""
        condition = MatchConditions.IfNotModified if etag else None

        def begin() -> LROPoller:
            return self.client.agent_pools.begin_delete(
                self.settings.resource_group, self.settings.cluster_name, name,
                etag=etag, match_condition=condition)

        try:
            self._call(lambda: self._delete(begin, name, progress), action="delete", pool=name)
        finally:
            self._forget(name)

    # -- helpers -------------------------------------------------------------------------

    def _delete(self, begin: Callable[[], LROPoller], name: str,
                progress: ProgressCallback | None) -> None:
        # Already gone (or its cluster is): the contract counts that as success.
        with contextlib.suppress(ResourceNotFoundError):
            self._finish(begin, name, "Deleting", progress)

    def _already_done(self, pool: NodePool, stale: StaleError) -> dict:
        """After a 412: the live pool, when it already is what we asked for; else re-raise.

        The SDK retries a PUT whose answer was lost (a dropped connection, a 5xx from a
        proxy); if AKS had done it, the retry meets its own precondition. One list tells
        a write that landed from a real concurrent change, which is still refused. A write
        that landed counts as done only once AKS reports it ``Succeeded``.
        """
        self.list()
        listed = self._cached(str(pool.name))
        if listed is None or arm_for_update(listed, pool):
            raise stale
        state = (listed.get("properties") or {}).get("provisioningState")
        if state != "Succeeded":  # the write landed, but AKS did not finish it
            raise ProviderError(f"pool '{pool.name}' has the asked values, but AKS reports"
                                f" provisioningState {state or 'unknown'}; the operation did"
                                " not succeed: check the pool, then run plan again")
        return listed

    def _list_raw(self) -> builtins.list[dict[str, Any]]:
        pages = self.client.agent_pools.list(self.settings.resource_group,
                                             self.settings.cluster_name)
        try:
            return [pool.as_dict() for pool in pages]
        except ResourceNotFoundError as err:
            # A typo in the settings must not look like an empty cluster (plan would
            # propose creating every pool, drift would report everything missing).
            s = self.settings
            code = getattr(err.error, "code", None) or "ResourceNotFound"
            raise ClusterNotFoundError(
                f"AKS cluster '{s.cluster_name}' was not found in resource group"
                f" '{s.resource_group}' of subscription '{s.subscription_id}' ({code});"
                " check clusterName, resourceGroup and subscriptionId in cluster.settings"
            ) from None

    def _cached(self, name: str) -> dict | None:
        """The pool as last listed, listing once if it was never seen."""
        with self._lock:
            listed = self._listed
        if listed is None or name not in listed:
            self.list()
            with self._lock:
                listed = self._listed or {}
        return listed.get(name)

    def _put(self, name: str, body: dict, *, etag: str | None,
             progress: ProgressCallback | None, state: str) -> dict:
        """PUT and poll to the end; returns the raw pool AKS reports afterwards."""
        match: dict[str, Any] = {}  # an update of a pool that reports no eTag: no condition
        if state == "Creating":
            match = {"match_condition": MatchConditions.IfMissing}
        elif etag:
            match = {"etag": etag, "match_condition": MatchConditions.IfNotModified}

        def begin() -> LROPoller:
            return self.client.agent_pools.begin_create_or_update(
                self.settings.resource_group, self.settings.cluster_name, name, body, **match)

        action = "create" if state == "Creating" else "update"
        try:
            raw = self._call(lambda: self._finish(begin, name, state, progress),
                             action=action, pool=name)
        except Exception:
            self._forget(name)  # whatever AKS holds now, the cached copy is no longer it
            raise
        with self._lock:
            if self._listed is not None and raw:
                self._listed[name] = raw
        return raw

    def _finish(self, begin: Callable[[], LROPoller], name: str, state: str,
                progress: ProgressCallback | None) -> dict:
        """Start the operation (waiting out 409s) and poll it to the end, reporting status."""
        s = self.settings

        def waiting() -> None:
            if progress:
                progress("waiting for another operation on the pool to finish")

        poller = retry_conflicts(begin, timeout=s.conflict_timeout, backoff=s.conflict_backoff,
                                 on_wait=waiting)
        last = None
        while not poller.done():
            status = poller.status()
            if progress and status != last:
                progress(f"{state} ({status})")
                last = status
            poller.wait(timeout=min(max(s.polling_interval, 0.05), 1.0))
        result = poller.result()
        if progress:
            progress("Succeeded")
        return result.as_dict() if result is not None else {}

    def _call(self, call: Callable[[], Any], *, action: str, pool: str) -> Any:
        """Run an SDK call, turning SDK failures into reconciler errors."""
        try:
            return call()
        except AzureError as err:
            scrub_credentials(err)
            raise map_error(err, action=action, pool=pool, auth=self.settings.auth,
                            endpoint=self.settings.arm_endpoint) from err

    def _forget(self, name: str) -> None:
        with self._lock:
            if self._listed is not None:
                self._listed.pop(name, None)


"""The ``eks`` driver: managed node groups through botocore (EKS API 2017-11-01).

``list`` is one paginated ListNodegroups plus one DescribeNodegroup per node group, run
concurrently (EKS has no list-with-details), and one EC2 DescribeSubnets for subnets whose
zone the settings do not name. A create is CreateNodegroup, then DescribeNodegroup polls
until ACTIVE; an update is one UpdateNodegroupConfig (then DescribeUpdate polls until
Successful) and TagResource / UntagResource for tags, computed from the node group as
listed at plan time (no extra read); a delete is DeleteNodegroup, then polls until it is
gone. ResourceInUseException (another operation on the node group) is waited out.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import (
    ClusterNotFoundError,
    ProviderError,
    ProviderValidationError,
    StaleError,
)
from reconciler.model import Capabilities, Cluster, NodePool, PoolStatus
from reconciler.providers.eks.capabilities import eks_capabilities
from reconciler.providers.eks.client import (
    EksSettings,
    make_client,
    make_session,
    parse_settings,
)
from reconciler.providers.eks.errors import (
    is_in_use,
    is_not_found,
    map_error,
    retry_in_use,
)
from reconciler.providers.eks.mapping import (
    after_update,
    create_request,
    pool_from_eks,
    provider_name,
    update_request,
)

PAGE_SIZE = 100  # ListNodegroups' largest page
MAX_DESCRIBES = 8  # DescribeNodegroup calls in flight at once
CREATED = "Succeeded"  # the provisioning state create reports once the node group is ACTIVE


class EksDriver(Driver):
    """Managed node groups of one EKS cluster (``provider: eks``)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.settings: EksSettings = parse_settings(dict(cluster.settings))
        self._session: Any = None  # built on first use: validation needs no credentials
        self._clients: dict[str, Any] = {}
        self._listed: dict[str, dict[str, Any]] | None = None  # node groups as last described
        self._zone_of: dict[str, str] = {s: z for z, s in (self.settings.subnets or {}).items()}
        self._cluster_subnets: dict[str, str] | None = None  # subnet -> zone, by DescribeCluster
        self._lock = threading.Lock()
        self._subnets_lock = threading.Lock()

    @property
    def capabilities(self) -> Capabilities:
        """EKS rules for this cluster's region and subnets."""
        return eks_capabilities(self.cluster.settings)

    @property
    def eks(self) -> Any:
        """The botocore EKS client (created on first use)."""
        return self._client("eks")

    @property
    def ec2(self) -> Any:
        """The botocore EC2 client, only for the zones of subnets the settings do not name."""
        return self._client("ec2")

    def _client(self, service: str) -> Any:
        with self._lock:  # parallel applies share the clients and their connection pools
            if self._session is None:
                self._session = make_session(self.settings)
            if service not in self._clients:
                self._clients[service] = make_client(self._session, service, self.settings)
            return self._clients[service]

    # -- the four operations -------------------------------------------------------------

    def list(self, name: str | None = None) -> list[NodePool]:
        """Every node group (or the one named), described; a missing cluster is an error."""
        names = self._call(self._list_names, action="list node groups", pool="")
        if name is not None:
            names = [n for n in names if n == name]
        raws = self._call(lambda: self._describe_all(names), action="describe node groups",
                          pool="")
        self._learn_zones(s for raw in raws for s in raw.get("subnets") or ())
        with self._lock:
            if name is None:
                self._listed = {raw["nodegroupName"]: raw for raw in raws}
            else:
                self._listed = {**(self._listed or {}),
                                **{raw["nodegroupName"]: raw for raw in raws}}
            zone_of = dict(self._zone_of)
        return [pool_from_eks(raw, zone_of) for raw in raws]

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """CreateNodegroup, then wait for ACTIVE (a node group of that name: run plan again).
        The node group is named by ``pool.provider_name`` when set (a replacement's new node
        group, which records ``pool.name`` in its ``reconciler-pool`` tag)."""
        name = provider_name(pool)
        if not name:
            raise ProviderValidationError("a node group needs a name")
        subnets, zones = self._call(lambda: self._subnets_for(pool.zones),
                                    action="find subnets for", pool=name)
        request = create_request(pool, subnets=subnets, zones=zones,
                                 node_role=self.settings.node_role_arn)
        try:
            self._call(lambda: self.eks.create_nodegroup(
                clusterName=self.settings.cluster_name, **request), action="create", pool=name)
        except ProviderError as err:
            if is_in_use(err.__cause__ or err):
                raise StaleError(f"pool '{name}' already exists (created since the plan); run"
                                 " plan again") from None
            raise
        raw = self._wait_nodegroup(name, pending={"CREATING"}, target="ACTIVE",
                                   verb="create", progress=progress)
        assert raw is not None
        self._remember(raw)
        made = pool_from_eks(raw, self._zones())
        # ACTIVE is EKS's word for a finished create; the executor's is Succeeded (a
        # replacement deletes the old node group only after it).
        count = made.status.current_node_count if made.status else None
        return dataclasses.replace(made, status=PoolStatus(CREATED, count))

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """The calls that make the listed node group what ``pool`` sets; none if nothing
        changes. The node group is ``pool.provider_name`` (the executor passes the live
        one's), else ``pool.name``."""
        name = provider_name(pool)
        if not name:
            raise ProviderValidationError("a node group needs a name")
        raw = self._cached(name)
        if raw is None:
            raise StaleError(f"pool '{name}' no longer exists; run plan again")
        request = update_request(raw, pool, self._zones())
        if request.empty:
            return pool_from_eks(raw, self._zones())
        try:
            if request.config:
                update = self._call(lambda: retry_in_use(
                    lambda: self.eks.update_nodegroup_config(
                        clusterName=self.settings.cluster_name, nodegroupName=name,
                        **request.config)["update"],
                    timeout=self.settings.conflict_timeout,
                    backoff=self.settings.conflict_backoff, on_wait=_waiting(progress)),
                    action="update", pool=name)
                self._wait_update(name, update, progress)
            arn = raw.get("nodegroupArn")
            if request.tags:
                self._call(lambda: self.eks.tag_resource(resourceArn=arn, tags=request.tags),
                           action="tag", pool=name)
            if request.untag:
                self._call(lambda: self.eks.untag_resource(resourceArn=arn,
                                                           tagKeys=list(request.untag)),
                           action="untag", pool=name)
        except Exception:
            self._forget(name)  # whatever EKS holds now, the cached copy is no longer it
            raise
        done = after_update(raw, request)
        self._remember(done)
        if progress:
            progress("updated")
        return pool_from_eks(done, self._zones())

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """DeleteNodegroup of the node group ``name`` (a provider name, as the executor
        passes it), then wait until it is gone; a missing node group is success. EKS has no
        conditional delete, so ``etag`` is not sent."""
        try:
            self._call(lambda: retry_in_use(
                lambda: self.eks.delete_nodegroup(clusterName=self.settings.cluster_name,
                                                  nodegroupName=name),
                timeout=self.settings.conflict_timeout, backoff=self.settings.conflict_backoff,
                on_wait=_waiting(progress)), action="delete", pool=name)
        except ProviderError as err:
            if not is_not_found(err.__cause__ or err):
                raise
        else:
            self._wait_nodegroup(name, pending={"DELETING", "ACTIVE", "DEGRADED"},
                                 target=None, verb="delete", progress=progress)
        finally:
            self._forget(name)

    # -- listing -------------------------------------------------------------------------

    def _list_names(self) -> builtins.list[str]:
        pages = self.eks.get_paginator("list_nodegroups").paginate(
            clusterName=self.settings.cluster_name, PaginationConfig={"PageSize": PAGE_SIZE})
        try:
            return [name for page in pages for name in page.get("nodegroups", [])]
        except ClientError as err:
            if not is_not_found(err):
                raise
            # A typo in the settings must not look like an empty cluster.
            s = self.settings
            raise ClusterNotFoundError(
                f"EKS cluster '{s.cluster_name}' was not found in region '{s.region}'"
                " (ResourceNotFoundException); check clusterName and region in"
                " cluster.settings") from None

    def _describe_all(self, names: builtins.list[str]) -> builtins.list[dict[str, Any]]:
        """DescribeNodegroup for each name, concurrently; one deleted meanwhile is skipped."""
        if not names:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_DESCRIBES, len(names))) as workers:
            found = list(workers.map(self._describe_or_none, names))
        return [raw for raw in found if raw is not None]

    def _describe_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            raw: dict[str, Any] = self.eks.describe_nodegroup(
                clusterName=self.settings.cluster_name, nodegroupName=name)["nodegroup"]
        except ClientError as err:
            if is_not_found(err):
                return None
            raise
        return raw

    def _learn_zones(self, subnets: Iterable[str]) -> None:
        """The zone of each subnet the settings do not name: one DescribeSubnets."""
        with self._lock:
            unknown = sorted({s for s in subnets if s not in self._zone_of})
        if not unknown:
            return
        try:
            found = self._call(lambda: self._subnet_zones(unknown), action="describe subnets",
                               pool="")
        except ProviderError:
            # A subnet deleted since (or EC2 out of reach): its id stands for its zone, and
            # a file naming zones plans that as a change rather than failing every plan.
            return
        with self._lock:
            self._zone_of.update(found)

    def _subnet_zones(self, subnets: builtins.list[str]) -> dict[str, str]:
        answer = self.ec2.describe_subnets(SubnetIds=subnets)
        return {s["SubnetId"]: s["AvailabilityZone"] for s in answer.get("Subnets", [])}

    # -- creating: zones -> subnets ------------------------------------------------------

    def _subnets_for(self, zones: tuple[str, ...] | None) -> tuple[builtins.list[str],
                                                                     builtins.list[str]]:
        """(subnets, their zones) for a new node group in ``zones`` (None: every zone)."""
        by_subnet = self._candidate_subnets()
        wanted = set(zones) if zones is not None else set(by_subnet.values())
        subnets = sorted(s for s, zone in by_subnet.items() if zone in wanted)
        missing = sorted(wanted - {by_subnet[s] for s in subnets})
        if missing or not subnets:
            where = "cluster.settings.subnets" if self.settings.subnets else \
                f"EKS cluster '{self.settings.cluster_name}' (resourcesVpcConfig)"
            known = ", ".join(sorted(set(by_subnet.values()))) or "none"
            raise ProviderValidationError(
                f"no subnet in zone {', '.join(missing) or '(any)'}: {where} has subnets in"
                f" {known}; name a subnet for it in cluster.settings.subnets, or pick a zone"
                " that has one")
        return subnets, sorted({by_subnet[s] for s in subnets})

    def _candidate_subnets(self) -> dict[str, str]:
        """subnet -> zone: the settings' subnets, else the cluster's own (read once)."""
        if self.settings.subnets:
            return {subnet: zone for zone, subnet in self.settings.subnets.items()}
        with self._subnets_lock:  # parallel creates: one DescribeCluster, not one each
            if self._cluster_subnets is None:
                cluster = self.eks.describe_cluster(name=self.settings.cluster_name)["cluster"]
                subnets = list((cluster.get("resourcesVpcConfig") or {}).get("subnetIds") or [])
                zones = self._subnet_zones(subnets) if subnets else {}
                with self._lock:
                    self._zone_of.update(zones)
                self._cluster_subnets = zones
            return self._cluster_subnets

    # -- waiting -------------------------------------------------------------------------

    def _wait_nodegroup(self, name: str, *, pending: set[str], target: str | None, verb: str,
                        progress: ProgressCallback | None) -> dict[str, Any] | None:
        """Poll DescribeNodegroup until ``target`` (None: gone), reporting each new status."""
        deadline = time.monotonic() + self.settings.operation_timeout
        last = None
        while True:
            raw = self._call(lambda: self._describe_or_none(name), action=f"{verb} (wait)",
                             pool=name)
            status = raw.get("status") if raw is not None else None
            if raw is None and target is None:
                if progress:
                    progress("deleted")
                return None
            if raw is None:
                raise StaleError(f"pool '{name}' disappeared while EKS was working on it;"
                                 " run plan again")
            if status == target:
                if progress:
                    progress(str(status))
                return raw
            if status not in pending:
                raise ProviderError(f"EKS could not {verb} pool '{name}': the node group is"
                                    f" {status}{_issues(raw)}; check it, then run plan again")
            if progress and status != last:
                progress(str(status))
                last = status
            self._pause(deadline, f"{verb} pool '{name}'", status)

    def _wait_update(self, name: str, update: dict[str, Any],
                     progress: ProgressCallback | None) -> None:
        """Poll DescribeUpdate until the update is Successful; Failed or Cancelled raise."""
        deadline = time.monotonic() + self.settings.operation_timeout
        update_id, last = str(update.get("id")), None
        status = update.get("status")
        while True:
            if status == "Successful":
                return
            if status in ("Failed", "Cancelled"):
                raise ProviderError(f"EKS could not update pool '{name}': update {update_id}"
                                    f" ended {status}{_update_errors(update)}")
            if progress and status != last:
                progress(f"update {status}")
                last = status
            self._pause(deadline, f"update pool '{name}'", status)
            update = self._call(lambda: self.eks.describe_update(
                name=self.settings.cluster_name, updateId=update_id,
                nodegroupName=name)["update"], action="update (wait)", pool=name)
            status = update.get("status")

    def _pause(self, deadline: float, what: str, status: object) -> None:
        if time.monotonic() + self.settings.polling_interval > deadline:
            raise ProviderError(f"gave up waiting to {what}: still {status} after"
                                f" {self.settings.operation_timeout:g} s"
                                " (operationTimeoutSeconds); check it, then run plan again")
        time.sleep(self.settings.polling_interval)

    # -- helpers -------------------------------------------------------------------------

    def _call(self, call: Callable[[], Any], *, action: str, pool: str) -> Any:
        """Run botocore calls, turning their failures into reconciler errors (cause kept)."""
        try:
            return call()
        except (ClientError, BotoCoreError) as err:
            raise map_error(err, action=action, pool=pool,
                            endpoint=self.settings.endpoint) from err

    def _cached(self, name: str) -> dict[str, Any] | None:
        """The node group as last listed, listing once if it was never seen."""
        with self._lock:
            listed = self._listed
        if listed is None or name not in listed:
            self.list(name)
            with self._lock:
                listed = self._listed or {}
        return listed.get(name)

    def _zones(self) -> dict[str, str]:
        with self._lock:
            return dict(self._zone_of)

    def _remember(self, raw: dict[str, Any]) -> None:
        with self._lock:
            if self._listed is not None:
                self._listed[raw["nodegroupName"]] = raw

    def _forget(self, name: str) -> None:
        with self._lock:
            if self._listed is not None:
                self._listed.pop(name, None)


def _waiting(progress: ProgressCallback | None) -> Callable[[], None]:
    def tell() -> None:
        if progress:
            progress("waiting for another operation on the node group to finish")
    return tell


def _issues(raw: dict[str, Any]) -> str:
    issues = (raw.get("health") or {}).get("issues") or []
    words = [f"{i.get('code')}: {i.get('message')}" for i in issues if isinstance(i, dict)]
    return f" ({'; '.join(words)})" if words else ""


def _update_errors(update: dict[str, Any]) -> str:
    errors = update.get("errors") or []
    words = [f"{e.get('errorCode')}: {e.get('errorMessage')}" for e in errors
             if isinstance(e, dict)]
    return f": {'; '.join(words)}" if words else ""

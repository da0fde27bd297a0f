"""A small, documented extension of moto 5.x's EKS emulator, installed in the process that
runs the ThreadedMotoServer the tests start, next to it (the server's thread serves the
same moto backend objects, so behaviour registered here is what boto3 meets over HTTP;
``motoserver`` runs both in a helper process of the tests).

Each item fills a gap between moto and EKS that the eks provider relies on; nothing here
patches boto3 or reconciler:

1. Tags on node groups: TagResource, UntagResource and ListTagsForResource on a node group
   ARN (moto tags clusters only and answers ResourceNotFoundException).
2. DescribeUpdate (moto has no route for it and keeps no update): the update that
   UpdateNodegroupConfig answers is kept and described.
3. One scalingConfig per node group: moto gives every node group created without one the
   same module-level dict, so updating one node group's sizes changed all of theirs.
4. CreateNodegroup keeps ``updateConfig`` (moto drops the parameter).
5. ListNodegroups on a missing cluster answers ResourceNotFoundException (moto: HTTP 500);
   and, optionally (``list_page``), short pages: at most that many names a page, with a
   nextToken, whatever maxResults asks (AWS may answer fewer than maxResults; a client
   must follow nextToken), so paging is exercised without a hundred node groups.
6. UntagResource removes every key it is given (moto reads only the first ``tagKeys``
   value of the query string, so ``tagKeys=a&tagKeys=b`` removed ``a`` alone).
7. Optional slowness (``Lifecycle``): like EKS, a new node group is CREATING, a deleted one
   DELETING and an update InProgress for the first few DescribeNodegroup / DescribeUpdate
   calls, and UpdateNodegroupConfig meets ResourceInUseException while another update of
   the node group is in progress; ``create_issues`` makes new node groups end
   CREATE_FAILED with those health issues. moto itself finishes every operation at once.
8. A role ARN is checked once: moto's ``validate_role_arn`` builds a new boto3 Session and
   parses botocore's endpoints.json on every CreateCluster / CreateNodegroup (~0.13 s of
   CPU each, most of a seeded or applied create); the same check, its answer kept per ARN.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from moto.core.responses import ActionResult, EmptyResult
from moto.eks import models as eks_models
from moto.eks import urls as eks_urls
from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException
from moto.eks.models import EKSBackend, Nodegroup
from moto.eks.responses import EKSResponse

DESCRIBE_UPDATE_PATH = "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$"


@dataclass
class Lifecycle:
    """How many polls each kind of operation takes (0: done at once, as in moto)."""

    create_polls: int = 0
    delete_polls: int = 0
    update_polls: int = 0
    create_issues: list[dict[str, Any]] = field(default_factory=list)
    list_page: int = 0  # ListNodegroups' names per page at most (0: as maxResults asks)
    _pending: dict[tuple[str, str], int] = field(default_factory=dict)
    _updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> update
    _update_polls: dict[str, int] = field(default_factory=dict)
    _deleting: dict[tuple[str, str], Nodegroup] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def slow(self, create_polls: int = 0, delete_polls: int = 0, update_polls: int = 0,
             create_issues: list[dict[str, Any]] | None = None, list_page: int = 0) -> None:
        """How many polls operations started from now on take (and how creates end), and
        how long ListNodegroups' pages are at most."""
        with self._lock:
            self.create_polls, self.delete_polls, self.update_polls = \
                create_polls, delete_polls, update_polls
            self.create_issues = list(create_issues or [])
            self.list_page = list_page

    def reset(self, **polls: int) -> None:
        """Forget every operation; set the poll counts (the rest back to 0)."""
        self.slow(**polls)
        with self._lock:
            self._pending.clear()
            self._updates.clear()
            self._update_polls.clear()
            self._deleting.clear()


LIFECYCLE = Lifecycle()


def _not_found(message: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(clusterName=None, nodegroupName=None,
                                     fargateProfileName=None, addonName=None, message=message)


def _nodegroup_by_arn(backend: EKSBackend, arn: str) -> Nodegroup | None:
    for cluster in backend.clusters.values():
        for nodegroup in cluster.nodegroups.values():
            if nodegroup.arn == arn:
                return nodegroup
    return None


def install(mp: pytest.MonkeyPatch) -> None:
    """Register the extensions (undone when ``mp`` is)."""
    # 8. moto's own role ARN check, run once per ARN (a valid ARN stays valid; an invalid
    # one raises and is not cached, so it is refused every time, as before)
    mp.setattr(eks_models, "validate_role_arn",
               functools.cache(eks_models.validate_role_arn))

    # 1. tags on node groups (and 6. every key untagged)
    original_tag, original_untag, original_list = (
        EKSBackend.tag_resource, EKSBackend.untag_resource, EKSBackend.list_tags_for_resource)

    def tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
        nodegroup = _nodegroup_by_arn(self, resource_arn)
        if nodegroup is None:
            return original_tag(self, resource_arn, tags)
        nodegroup.tags.update(tags)
        return None

    def untag_resource(self: EKSBackend, resource_arn: str, tag_keys: list[str]) -> None:
        nodegroup = _nodegroup_by_arn(self, resource_arn)
        if nodegroup is None:
            return original_untag(self, resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            nodegroup.tags.pop(key, None)
        return None

    def list_tags_for_resource(self: EKSBackend, resource_arn: str) -> dict[str, str]:
        nodegroup = _nodegroup_by_arn(self, resource_arn)
        return dict(nodegroup.tags) if nodegroup is not None else \
            original_list(self, resource_arn)

    def untag_resource_response(self: EKSResponse) -> Any:
        keys = self.querystring.get("tagKeys") or []  # every value, not just the first
        self.eks_backend.untag_resource(self._extract_arn_from_path(), list(keys))
        return EmptyResult()

    mp.setattr(EKSResponse, "untag_resource", untag_resource_response)
    mp.setattr(EKSBackend, "tag_resource", tag_resource)
    mp.setattr(EKSBackend, "untag_resource", untag_resource)
    mp.setattr(EKSBackend, "list_tags_for_resource", list_tags_for_resource)

    # 2. DescribeUpdate, and (7) updates that take a while and make the node group busy
    original_update = EKSBackend.update_nodegroup_config

    def update_nodegroup_config(self: EKSBackend, cluster_name: str, nodegroup_name: str,
                                **kwargs: Any) -> dict[str, Any]:
        with LIFECYCLE._lock:
            busy = [uid for uid, update in LIFECYCLE._updates.items()
                    if update["_nodegroup"] == (cluster_name, nodegroup_name)
                    and update["status"] == "InProgress"]
        if busy:
            raise ResourceInUseException(
                clusterName=cluster_name, nodegroupName=nodegroup_name, addonName=None,
                message=f"Nodegroup {nodegroup_name} is currently being updated (update"
                        f" {busy[0]})")
        update = original_update(self, cluster_name, nodegroup_name, **kwargs)
        with LIFECYCLE._lock:
            if LIFECYCLE.update_polls:
                update["status"] = "InProgress"
                LIFECYCLE._update_polls[update["id"]] = LIFECYCLE.update_polls
            LIFECYCLE._updates[update["id"]] = {**update,
                                                "_nodegroup": (cluster_name, nodegroup_name)}
        return update

    def describe_update(self: EKSBackend, name: str, update_id: str,
                        nodegroup_name: str | None) -> dict[str, Any]:
        with LIFECYCLE._lock:
            stored = LIFECYCLE._updates.get(update_id)
            if stored is None or stored["_nodegroup"] != (name, nodegroup_name):
                raise _not_found(f"No update found for ID: {update_id}.")
            left = LIFECYCLE._update_polls.get(update_id, 0)
            if left:
                LIFECYCLE._update_polls[update_id] = left - 1
            else:
                stored["status"] = "Successful"
            return {k: v for k, v in stored.items() if not k.startswith("_")}

    def describe_update_response(self: EKSResponse) -> ActionResult:
        return ActionResult({"update": self.eks_backend.describe_update(
            name=self._get_param("name"), update_id=self._get_param("updateId"),
            nodegroup_name=self._get_param("nodegroupName"))})

    mp.setattr(EKSBackend, "update_nodegroup_config", update_nodegroup_config)
    mp.setattr(EKSBackend, "describe_update", describe_update, raising=False)
    mp.setattr(EKSResponse, "describe_update", describe_update_response, raising=False)
    mp.setitem(eks_urls.url_paths, DESCRIBE_UPDATE_PATH, eks_urls.response.dispatch)

    # 3. one scalingConfig (and other defaults) per node group
    original_init = Nodegroup.__init__

    def nodegroup_init(self: Nodegroup, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.scaling_config = copy.deepcopy(self.scaling_config)
        self.instance_types = list(self.instance_types)
        self.remote_access = copy.deepcopy(self.remote_access)

    mp.setattr(Nodegroup, "__init__", nodegroup_init)

    # 4. CreateNodegroup keeps updateConfig; (7) a new node group is CREATING for a while
    original_create = EKSResponse.create_nodegroup

    def create_nodegroup(self: EKSResponse) -> ActionResult:
        result = original_create(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        nodegroup = cluster.nodegroups[self._get_param("nodegroupName")]
        if self._get_param("updateConfig"):
            nodegroup.update_config = self._get_param("updateConfig")
        with LIFECYCLE._lock:
            if LIFECYCLE.create_issues:
                nodegroup.status = "CREATE_FAILED"
                nodegroup.health = {"issues": copy.deepcopy(LIFECYCLE.create_issues)}
            elif LIFECYCLE.create_polls:
                nodegroup.status = "CREATING"
                LIFECYCLE._pending[(cluster.name, nodegroup.nodegroup_name)] = \
                    LIFECYCLE.create_polls
        return result

    mp.setattr(EKSResponse, "create_nodegroup", create_nodegroup)

    # 5. ListNodegroups on a missing cluster, and short pages
    original_list_nodegroups = EKSBackend.list_nodegroups

    def list_nodegroups(self: EKSBackend, cluster_name: str, max_results: int,
                        next_token: str | None) -> Any:
        if cluster_name not in self.clusters:
            raise _not_found(f"No cluster found for name: {cluster_name}.")
        with LIFECYCLE._lock:
            page = min(max_results, LIFECYCLE.list_page or max_results)
        names, token = original_list_nodegroups(self, cluster_name, page, next_token)
        return names, token

    mp.setattr(EKSBackend, "list_nodegroups", list_nodegroups)

    # 7. node groups that take a while to become ACTIVE or to go away
    original_describe = EKSBackend.describe_nodegroup
    original_delete = EKSBackend.delete_nodegroup

    def describe_nodegroup(self: EKSBackend, cluster_name: str,
                           nodegroup_name: str) -> Nodegroup:
        key = (cluster_name, nodegroup_name)
        with LIFECYCLE._lock:
            deleting = LIFECYCLE._deleting.get(key)
            if deleting is not None:
                left = LIFECYCLE._pending.get(key, 0)
                if left:
                    LIFECYCLE._pending[key] = left - 1
                    return deleting
                del LIFECYCLE._deleting[key]
                LIFECYCLE._pending.pop(key, None)
                self.clusters[cluster_name].nodegroups.pop(nodegroup_name, None)
                self.clusters[cluster_name].nodegroup_count -= 1
        nodegroup = original_describe(self, cluster_name, nodegroup_name)
        with LIFECYCLE._lock:
            left = LIFECYCLE._pending.get(key, 0)
            if nodegroup.status == "CREATING" and left:
                LIFECYCLE._pending[key] = left - 1
            elif nodegroup.status == "CREATING":
                nodegroup.status = "ACTIVE"
                LIFECYCLE._pending.pop(key, None)
        return nodegroup

    def delete_nodegroup(self: EKSBackend, cluster_name: str, nodegroup_name: str) -> Nodegroup:
        key = (cluster_name, nodegroup_name)
        with LIFECYCLE._lock:
            slow = LIFECYCLE.delete_polls
            if key in LIFECYCLE._deleting:
                raise ResourceInUseException(clusterName=cluster_name,
                                             nodegroupName=nodegroup_name, addonName=None,
                                             message="Nodegroup is already being deleted")
        if not slow:
            return original_delete(self, cluster_name, nodegroup_name)
        nodegroup = original_describe(self, cluster_name, nodegroup_name)
        nodegroup.status = "DELETING"
        with LIFECYCLE._lock:
            LIFECYCLE._deleting[key] = nodegroup
            LIFECYCLE._pending[key] = slow
        return nodegroup

    mp.setattr(EKSBackend, "describe_nodegroup", describe_nodegroup)
    mp.setattr(EKSBackend, "delete_nodegroup", delete_nodegroup)

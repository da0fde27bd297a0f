"""The ARM agentPools endpoints (api-version 2026-08-01) as plain request -> response."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.emulator.cluster import EmulatedCluster, Operation
from reconciler.emulator.config import API_VERSION, EmulatorConfig
from reconciler.emulator.faults import Faults
from reconciler.providers.local.store import AksApiError

_CLUSTER = (r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
            r"/providers/Microsoft\.ContainerService/managedClusters/(?P<cluster>[^/]+)")
POOLS = re.compile(_CLUSTER + r"/agentPools/?$", re.IGNORECASE)
POOL = re.compile(_CLUSTER + r"/agentPools/(?P<pool>[^/]+)$", re.IGNORECASE)
OPERATION = re.compile(r"^/subscriptions/[^/]+/providers/Microsoft\.ContainerService/locations"
                       r"/[^/]+/(?P<kind>operations|operationresults)/(?P<op>[^/]+)$",
                       re.IGNORECASE)


@dataclass
class Response:
    """What the server writes back: status, JSON body (or None) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """A parsed ARM request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


def error_response(status: int, code: str, message: str, *, bare: bool = False,
                   headers: dict[str, str] | None = None,
                   details: list[dict[str, Any]] | None = None) -> Response:
    """An AKS error: ``{"error": {code, message}}``, or the bare form AKS sometimes sends;
    ``details`` (AKS's nested errors) when given."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        detail["details"] = details
    return Response(status, detail if bare else {"error": detail}, headers or {})


class ArmApi:
    """Routes agentPools and async-operation requests to an EmulatedCluster."""

    def __init__(self, cluster: EmulatedCluster, config: EmulatorConfig, faults: Faults,
                 base_url: str) -> None:
        self.cluster = cluster
        self.config = config
        self.faults = faults
        self.base_url = base_url

    def handle(self, request: Request) -> Response:
        """Answer one request; AKS rule violations become AKS-shaped errors."""
        try:
            return self._route(request)
        except AksApiError as err:
            return error_response(err.status, err.code, err.message, bare=self.config.bare_errors)

    def _route(self, request: Request) -> Response:
        if request.query.get("api-version") != API_VERSION:
            raise AksApiError(400, "InvalidApiVersionParameter",
                           f"The api-version '{request.query.get('api-version')}' is invalid. "
                           f"The supported versions are '{API_VERSION}'.")
        if match := OPERATION.match(request.path):
            return self._operation(match["kind"], match["op"])
        if match := POOLS.match(request.path):
            self._check_cluster(match)
            if request.method == "GET":
                return self._list(request)
        elif match := POOL.match(request.path):
            self._check_cluster(match)
            handler = {"GET": self._get, "PUT": self._put, "DELETE": self._delete}.get(
                request.method)
            if handler:
                return handler(request, match["pool"])
        else:
            raise AksApiError(404, "NotFound", f"No route for '{request.path}'.")
        raise AksApiError(405, "MethodNotAllowed", f"{request.method} is not supported here.")

    def _check_cluster(self, match: re.Match[str]) -> None:
        c = self.config
        if match["sub"].lower() != c.subscription_id.lower():
            raise AksApiError(404, "SubscriptionNotFound",
                           f"The subscription '{match['sub']}' could not be found.")
        if match["rg"].lower() != c.resource_group.lower():
            raise AksApiError(404, "ResourceGroupNotFound",
                           f"Resource group '{match['rg']}' could not be found.")
        if match["cluster"].lower() != c.cluster_name.lower():
            raise AksApiError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.ContainerService/managedClusters/"
                           f"{match['cluster']}' under resource group '{match['rg']}' was not "
                           "found. For more details please go to "
                           "https://aka.ms/ARMResourceNotFoundFix")

    def _list(self, request: Request) -> Response:
        pools = self.cluster.list_pools()
        start = int(request.query.get("$skipToken", "0") or 0)
        end = start + max(1, self.config.page_size)
        body: dict[str, Any] = {"value": pools[start:end]}
        if end < len(pools):
            body["nextLink"] = (f"{self.base_url}{request.path}?api-version={API_VERSION}"
                                f"&$skipToken={end}")
        return Response(200, body)

    def _get(self, request: Request, name: str) -> Response:
        pool = self.cluster.get_pool(name)
        if pool is None:
            raise AksApiError(404, "NotFound", f"Agent pool '{name}' was not found.")
        return Response(200, pool)

    def _put(self, request: Request, name: str) -> Response:
        if not isinstance(request.body, dict):
            raise AksApiError(400, "InvalidRequestContent",
                              "The request content is not valid JSON.")
        pool, created, op = self.cluster.put_pool(
            name, request.body, if_match=request.header("If-Match"),
            if_none_match=request.header("If-None-Match"),
            fail_with=lambda: self._lro_failure(request))
        return Response(201 if created else 200, pool, self._lro_headers(op))

    def _delete(self, request: Request, name: str) -> Response:
        op = self.cluster.delete_pool(name, if_match=request.header("If-Match"),
                                      fail_with=lambda: self._lro_failure(request))
        if op is None:
            return Response(204)
        headers = self._lro_headers(op)
        headers["Location"] = self._op_url("operationresults", op.id)
        return Response(202, None, headers)

    def _operation(self, kind: str, op_id: str) -> Response:
        op = self.cluster.operation(op_id)
        if op is None:
            raise AksApiError(404, "NotFound", f"Operation '{op_id}' was not found.")
        if kind.lower() == "operationresults":
            if not op.finished:
                return Response(202, None, self._lro_headers(op, location=True))
            return Response(204)
        return Response(200, self._operation_body(op),
                        {} if op.finished else {"Retry-After": str(self.config.retry_after)})

    def _operation_body(self, op: Operation) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.config.operation_path("operations", op.id), "name": op.id,
            "status": op.status, "startTime": _iso(op.started)}
        if op.finished:
            body["endTime"] = _iso(op.done_at)
        if op.finished and op.error:
            body["error"] = dict(op.error)
        return body

    def _lro_failure(self, request: Request) -> dict[str, Any] | None:
        """The error an ``lro_failed`` rule gives the operation this request started
        (asked only once the request is accepted, so a refused one does not use it up)."""
        rule = self.faults.take(request.method, request.path, actions=("lro_failed",))
        if rule is None:
            return None
        error: dict[str, Any] = {"code": rule.code, "message": rule.message}
        return {**error, "details": rule.details} if rule.details is not None else error

    def _lro_headers(self, op: Operation, *, location: bool = False) -> dict[str, str]:
        headers = {"Azure-AsyncOperation": self._op_url("operations", op.id),
                   "Retry-After": str(self.config.retry_after)}
        if location:
            headers["Location"] = self._op_url("operationresults", op.id)
        return headers

    def _op_url(self, kind: str, op_id: str) -> str:
        return f"{self.base_url}{self.config.operation_path(kind, op_id)}?api-version={API_VERSION}"


def _iso(monotonic_time: float) -> str:
    """A wall-clock ISO time for a monotonic instant (close enough for display)."""
    wall = time.time() - (time.monotonic() - monotonic_time)
    return datetime.fromtimestamp(wall, UTC).isoformat()

"""A thin HTTPS front for moto's server on 127.0.0.1: it terminates TLS (the eks provider
only sends credentials to https origins), records each request by AWS operation, and
injects the faults a test asks for (throttling, ResourceInUseException, validation
errors) instead of forwarding.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator.tls import EmulatorTls, TlsHttpServer, TlsRequestHandler, make_tls

# (method, path pattern) -> EKS operation (rest-json: the operation is in the route).
_ROUTES = [
    ("GET", r"/clusters/[^/]+/node-groups", "ListNodegroups"),
    ("POST", r"/clusters/[^/]+/node-groups", "CreateNodegroup"),
    ("GET", r"/clusters/[^/]+/node-groups/[^/]+", "DescribeNodegroup"),
    ("DELETE", r"/clusters/[^/]+/node-groups/[^/]+", "DeleteNodegroup"),
    ("POST", r"/clusters/[^/]+/node-groups/[^/]+/update-config", "UpdateNodegroupConfig"),
    ("POST", r"/clusters/[^/]+/node-groups/[^/]+/update-version", "UpdateNodegroupVersion"),
    ("GET", r"/clusters/[^/]+/updates/[^/]+", "DescribeUpdate"),
    ("GET", r"/clusters/[^/]+", "DescribeCluster"),
    ("POST", r"/tags/.+", "TagResource"),
    ("DELETE", r"/tags/.+", "UntagResource"),
    ("GET", r"/tags/.+", "ListTagsForResource"),
]
WRITES = frozenset({"CreateNodegroup", "DeleteNodegroup", "UpdateNodegroupConfig",
                    "UpdateNodegroupVersion", "TagResource", "UntagResource"})


def operation_of(method: str, path: str, body: bytes) -> str:
    """The AWS operation a request calls: EKS by route, EC2 (query protocol) by Action."""
    if path in ("", "/") and method == "POST":
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["?"])[0]
        return f"ec2:{action}"
    for verb, pattern, name in _ROUTES:
        if verb == method and re.fullmatch(pattern, path):
            return name
    return f"{method} {path}"


@dataclass(frozen=True)
class Entry:
    """One request as the proxy saw it."""

    operation: str
    method: str
    path: str
    status: int
    body: dict[str, Any]
    injected: bool
    query: dict[str, list[str]] = field(default_factory=dict)  # e.g. maxResults, nextToken


@dataclass
class Fault:
    """Answer ``operation`` with this error, ``times`` times (-1: always)."""

    operation: str
    status: int
    code: str
    message: str
    times: int = 1
    fired: int = 0


@dataclass
class Proxy:
    """The HTTPS front: ``url``, ``ca_path``, ``log`` (entries) and ``faults``."""

    upstream: tuple[str, int]
    tls: EmulatorTls = field(default_factory=lambda: make_tls("127.0.0.1"))
    log: list[Entry] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: TlsHttpServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_path(self) -> str:
        return str(self.tls.ca_path)

    def start(self) -> Proxy:
        proxy = self

        class Handler(TlsRequestHandler):

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                path, query = unquote(url.path), parse_qs(url.query)
                operation = operation_of(self.command, path, body)
                fault = proxy._fault_for(operation)
                if fault is not None:
                    payload = json.dumps({"message": fault.message}).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("x-amzn-ErrorType", fault.code)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    proxy._record(Entry(operation, self.command, path, fault.status,
                                        _json(body), True, query))
                    return
                connection = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive")}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "transfer-encoding", "content-length",
                                           "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                connection.close()
                proxy._record(Entry(operation, self.command, path, answer.status,
                                    _json(body), False, query))

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        server = TlsHttpServer(("127.0.0.1", 0), Handler)
        server.context = self.tls.context
        self._server = server
        self._thread = server.serve_in_background("eks-proxy")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(self._thread)
        self.tls.cleanup()

    def _fault_for(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.operation == operation and (fault.times < 0
                                                     or fault.fired < fault.times):
                    fault.fired += 1
                    return fault
        return None

    def _record(self, entry: Entry) -> None:
        with self._lock:
            self.log.append(entry)

    # -- what tests ask ------------------------------------------------------------------

    def inject(self, operation: str, status: int, code: str, message: str,
               times: int = 1) -> Fault:
        fault = Fault(operation, status, code, message, times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self.faults.clear()

    def operations(self) -> list[str]:
        with self._lock:
            return [entry.operation for entry in self.log]

    def count(self, operation: str) -> int:
        return self.operations().count(operation)

    def writes(self) -> list[Entry]:
        with self._lock:
            return [entry for entry in self.log if entry.operation in WRITES]

    def entries(self, operation: str) -> list[Entry]:
        with self._lock:
            return [entry for entry in self.log if entry.operation == operation]


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

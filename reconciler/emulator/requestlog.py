"""The emulator's request log: what tests and benchmarks count calls with."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# Collection path (list), as opposed to one pool's path.
_COLLECTION = re.compile(r"/agentPools/?$", re.IGNORECASE)
_POOL = re.compile(r"/agentPools/[^/]+$", re.IGNORECASE)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it; ``headers`` never include Authorization.
    ``at``: when it was answered (``time.monotonic``, the clock operations use)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    body: Any = None
    at: float = field(default_factory=time.monotonic, compare=False)

    @property
    def is_list(self) -> bool:
        """A page of the agentPools list (first page or a nextLink)."""
        return self.method == "GET" and _COLLECTION.search(self.path) is not None

    @property
    def is_pool_get(self) -> bool:
        """A GET of one pool (the SDK's LRO final GET counts here too)."""
        return self.method == "GET" and _POOL.search(self.path) is not None

    @property
    def is_write(self) -> bool:
        """A PUT or DELETE of a pool."""
        return self.method in ("PUT", "DELETE") and _POOL.search(self.path) is not None

    def header(self, name: str) -> str | None:
        """A request header by case-insensitive name."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class RequestLog:
    """Thread-safe, append-only list of LoggedRequest with small counting helpers."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def append(self, entry: LoggedRequest) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._entries.clear()

    @property
    def entries(self) -> list[LoggedRequest]:
        """A copy of the recorded requests, oldest first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, method: str | None = None, path: str | None = None,
             status: int | None = None) -> list[LoggedRequest]:
        """Requests matching a method, a path regex (searched) and a status, all optional."""
        return [e for e in self.entries
                if (method is None or e.method == method.upper())
                and (path is None or re.search(path, e.path, re.IGNORECASE))
                and (status is None or e.status == status)]

    def count(self, method: str | None = None, path: str | None = None,
              status: int | None = None) -> int:
        """How many requests match (see ``find``)."""
        return len(self.find(method, path, status))

    @property
    def writes(self) -> list[LoggedRequest]:
        """PUT and DELETE requests on pools, including retried and rejected ones."""
        return [e for e in self.entries if e.is_write]

    @property
    def list_pages(self) -> list[LoggedRequest]:
        """GET requests on the agentPools collection (one per page)."""
        return [e for e in self.entries if e.is_list]

    @property
    def pool_gets(self) -> list[LoggedRequest]:
        """GET requests on a single pool."""
        return [e for e in self.entries if e.is_pool_get]

    def as_json(self) -> list[dict[str, Any]]:
        """The log as plain dicts (for the control endpoint)."""
        return [{"method": e.method, "path": e.path, "query": e.query, "headers": e.headers,
                 "status": e.status, "body": e.body} for e in self.entries]

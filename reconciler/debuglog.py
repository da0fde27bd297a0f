"""``--debug``: each driver call logged with what it did and how long it took.

A driver is wrapped only when debug logging is on, so a normal run pays nothing. Pool
names are untrusted and go through ``reconciler.escape.terminal``; errors are the
provider's one-line messages, which never carry a credential (``reconciler.errors``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from reconciler.driver import Driver, ProgressCallback
from reconciler.escape import terminal
from reconciler.model import Capabilities, NodePool

LOG = logging.getLogger("reconciler.provider")
T = TypeVar("T")


class LoggedDriver(Driver):
    """``driver`` with every operation logged at DEBUG: name, pool, outcome, duration."""

    def __init__(self, driver: Driver) -> None:
        super().__init__(driver.cluster)
        self.driver = driver

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped driver's capabilities."""
        return self.driver.capabilities

    def list(self, name: str | None = None) -> list[NodePool]:
        """List, logged with the number of pools."""
        return self._timed("list", name or "", lambda: self.driver.list(name),
                           lambda pools: f"{len(pools)} pool(s)")

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Create, logged."""
        name = str(pool.provider_name or pool.name)  # the provider pool written
        return self._timed("create", name, lambda: self.driver.create(pool, progress))

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Update, logged."""
        name = str(pool.provider_name or pool.name)
        return self._timed("update", name, lambda: self.driver.update(pool, progress))

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """Delete, logged."""
        self._timed("delete", name, lambda: self.driver.delete(name, etag, progress))

    def __getattr__(self, name: str) -> Any:  # provider extras (tests, export helpers)
        return getattr(self.driver, name)

    def _timed(self, operation: str, pool: str, call: Callable[[], T],
               describe: Callable[[T], str] | None = None) -> T:
        provider = self.cluster.provider
        target = f" {terminal(pool)}" if pool else ""
        LOG.debug("%s %s%s: started", provider, operation, target)
        started = time.monotonic()
        try:
            result = call()
        except Exception as exc:
            LOG.debug("%s %s%s: failed after %s: %s", provider, operation, target,
                      _ms(started), terminal(exc))
            raise
        detail = f", {describe(result)}" if describe else ""
        LOG.debug("%s %s%s: done in %s%s", provider, operation, target, _ms(started), detail)
        return result


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def logged(driver: Driver) -> Driver:
    """``driver`` wrapped for debug logging when DEBUG is on, else as it is."""
    return LoggedDriver(driver) if LOG.isEnabledFor(logging.DEBUG) else driver

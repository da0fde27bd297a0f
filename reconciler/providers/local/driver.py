"""The embedded ``local`` provider: an AKS-like cluster simulated in a JSON state file.

Every write goes through ``reconciler.providers.local.store.AgentPoolStore`` and the shared mapping,
so the local provider accepts and refuses exactly what AKS would. Settings:
``stateFile`` (default ``.reconciler/<cluster>.json``, relative to the file's folder),
``location`` (region for zone names) and ``operationSeconds`` (simulated write time).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from reconciler.atomicwrite import write_atomic
from reconciler.driver import Driver, ProgressCallback
from reconciler.errors import (
    ConflictError,
    ProviderError,
    ProviderValidationError,
    ReconcilerError,
    StaleError,
    ThrottledError,
)
from reconciler.model import Capabilities, Cluster, NodePool
from reconciler.providers.aks.capabilities import aks_capabilities
from reconciler.providers.aks.mapping import (
    arm_for_create,
    arm_for_update,
    pool_from_arm,
    provider_name,
)
from reconciler.providers.local.store import AgentPoolStore, AksApiError

T = TypeVar("T")
STATE_FORMAT = 1
PROGRESS_TICK_SECONDS = 0.5
# One in-process lock per state file: the actions of one apply run in threads and queue
# on it, instead of polling the flock (which only orders processes) every 50 ms. With
# polling, an apply of 5 pools spent most of its time asleep (benchmarks/RESULTS.md).
_THREAD_LOCKS: dict[Path, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(path, threading.Lock())


class StateFile:
    """The simulated cluster on disk: atomic replaces, one writer at a time."""

    def __init__(self, path: Path, lock_timeout: float = 60.0) -> None:
        # A symlinked state file: lock and replace the real one, so two writers that reach
        # it by different names still take the same lock.
        self.path = path.resolve()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout

    def read(self) -> dict[str, dict]:
        """Agent pools by name; a missing file is an empty cluster.

        Only a regular file of at most STATE_FILE_MAX_BYTES is read: a link to /dev/zero
        or a FIFO is refused at once, never read until memory or patience runs out.
        """
        from reconciler.readfile import (
            STATE_FILE_MAX_BYTES,
            MissingFile,
            UnreadableFile,
            read_limited,
        )

        try:
            raw = read_limited(self.path, STATE_FILE_MAX_BYTES)
        except MissingFile:
            return {}
        except UnreadableFile as exc:  # a FIFO, device or directory; too large; refused
            raise ProviderError(f"cannot read state file {self.path}: it {exc.reason}"
                                ) from None
        try:
            pools = json.loads(raw.decode("utf-8")).get("agentPools", {})
        except (ValueError, AttributeError) as exc:
            raise ProviderError(f"state file {self.path} is corrupt ({exc}); "
                                "fix it or remove it to start from an empty cluster") from exc
        if not isinstance(pools, dict) or not all(isinstance(p, dict) for p in pools.values()):
            raise ProviderError(f"state file {self.path} is corrupt ('agentPools' is not "
                                "an object of pools); fix it or remove it")
        return pools

    def write(self, pools: dict[str, dict]) -> None:
        """Replace the file atomically: temp file in the same folder, fsync, rename."""
        payload = json.dumps({"formatVersion": STATE_FORMAT, "agentPools": pools},
                             indent=2, sort_keys=True) + "\n"
        try:
            write_atomic(self.path, payload)  # keeps the mode the team gave the file
        except ReconcilerError as exc:
            raise ProviderError(f"cannot save the local cluster: {exc}") from None
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        """Temp files of a writer that was killed; writes hold the lock, so none is live."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with suppress(FileNotFoundError):
                stale.unlink()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the file's lock, waiting a bounded time: first this process's own (threads
        queue on it), then an exclusive flock on the sibling ``.lock`` file (processes)."""
        deadline = time.monotonic() + self.lock_timeout
        thread_lock = _thread_lock(self.path)
        if not thread_lock.acquire(timeout=self.lock_timeout):
            raise self._busy()
        try:
            with self._flocked(deadline):
                yield
        finally:
            thread_lock.release()

    @contextmanager
    def _flocked(self, deadline: float) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a link planted at the lock's name is refused, never followed.
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ProviderError(f"cannot lock the state file {self.path}:"
                                f" {exc.strerror or exc}") from None
        with os.fdopen(fd, "r+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise self._busy() from None
                    time.sleep(0.05)  # another process holds it
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _busy(self) -> ConflictError:
        return ConflictError(f"another operation holds the lock on {self.path} (waited "
                             f"{self.lock_timeout:g}s); try again when it has finished")


class LocalDriver(Driver):
    """Node pools of a simulated AKS cluster kept in a local JSON file."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        settings = cluster.settings or {}
        self.location: str | None = settings.get("location")
        self.operation_seconds = float(settings.get("operationSeconds") or 0)
        path = Path(settings.get("stateFile") or f".reconciler/{cluster.name}.json")
        self.state = StateFile(path if path.is_absolute() else Path(cluster.base_dir) / path)

    @property
    def capabilities(self) -> Capabilities:
        """The AKS rules, with this cluster's location."""
        return aks_capabilities(self.location)

    def list(self, name: str | None = None) -> list[NodePool]:
        """Pools in the state file in natural name order (pool2 before pool10), optionally
        only ``name``."""
        from reconciler.naturalsort import natural_key

        pools = self.state.read()
        return [pool_from_arm(pools[n], self.location) for n in sorted(pools, key=natural_key)
                if name is None or n == name]  # by provider name

    def create(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Create ``pool``; a pool of that name appearing since the plan is stale."""
        name, body = provider_name(pool), arm_for_create(pool)
        if not name:
            raise ProviderValidationError("a node pool needs a name")
        stored, _ = self._transaction(
            name, lambda store: (store.put(name, body, if_none_match="*")[0], True))
        self._simulate("Creating", progress)
        return pool_from_arm(stored, self.location)

    def update(self, pool: NodePool, progress: ProgressCallback | None = None) -> NodePool:
        """Apply the set fields of ``pool``; no write when nothing would change."""
        name = provider_name(pool)

        def change(store: AgentPoolStore) -> tuple[dict, bool]:
            listed = store.get(name)
            if listed is None:
                raise StaleError(f"pool '{name}' no longer exists; run plan again")
            body = arm_for_update(listed, pool)
            if body is None:
                return listed, False
            return store.put(name, body, if_match=pool.etag)[0], True

        stored, written = self._transaction(name, change)
        if written:
            self._simulate("Updating", progress)
        return pool_from_arm(stored, self.location)

    def delete(self, name: str, etag: str | None = None,
               progress: ProgressCallback | None = None) -> None:
        """Delete ``name``; a pool that is already gone counts as success."""
        _, deleted = self._transaction(
            name, lambda store: (None, store.delete(name, if_match=etag)))
        if deleted:
            self._simulate("Deleting", progress)

    def _transaction(self, name: str,
                     change: Callable[[AgentPoolStore], tuple[T, bool]]) -> tuple[T, bool]:
        """Run ``change`` on the stored cluster under the lock; save when it wrote."""
        with self.state.locked():
            store = AgentPoolStore(self.state.read(), location=self.location or "eastus",
                                   cluster_name=self.cluster.name)
            try:
                result, written = change(store)
            except AksApiError as exc:
                raise _provider_error(exc, name) from exc
            if written:
                self.state.write(store.snapshot())
        return result, written

    def _simulate(self, verb: str, progress: ProgressCallback | None) -> None:
        """Take ``operationSeconds``, reporting progress as a long-running AKS call would."""
        report = progress or (lambda _state: None)
        report(verb)
        start = time.monotonic()
        while (left := self.operation_seconds - (time.monotonic() - start)) > 0:
            time.sleep(min(PROGRESS_TICK_SECONDS, left))
            report(f"{verb} ({time.monotonic() - start:.1f}s)")
        report("Succeeded")


def _provider_error(exc: AksApiError, name: str) -> ProviderError:
    """Map an AKS error to the typed provider error the caller handles."""
    if exc.status == 400:
        return ProviderValidationError(exc.message)
    if exc.status == 412:
        return StaleError(f"pool '{name}' changed since the plan; run plan again")
    if exc.status == 409:
        return ConflictError(exc.message)
    if exc.status == 429:
        return ThrottledError(exc.message)
    return ProviderError(f"{exc.code}: {exc.message}")

"""One exception root; provider errors are typed so callers can tell them apart."""

from __future__ import annotations


class ReconcilerError(Exception):
    """Root of every error the tool reports as a one-line message and exit code 1."""


class ProviderError(ReconcilerError):
    """A provider call failed (outage, unexpected response); the cause is kept."""


class ClusterNotFoundError(ProviderError):
    """The cluster the settings name does not exist (never listed as an empty cluster)."""


class NotImplementedByProvider(ProviderError):
    """The provider has no node pool management at all (a capability boundary)."""


class ProviderValidationError(ProviderError):
    """The provider has the feature but rejects the input (e.g. an immutable change)."""


class ConflictError(ProviderError):
    """Another operation is in progress on the pool or cluster."""


class BusyError(ConflictError):
    """The provider says "busy, retry later": the request was refused (or its operation
    was cancelled by the provider) because other work on the same pool or cluster came
    first. Nothing the plan asked for was applied; sending it again later may succeed.

    The executor owns the waiting: it retries the action after ``retry_after`` seconds
    (doubling each time) or as soon as another action of its own ends, for up to
    ``timeout`` seconds since the first refusal, then reports this error. ``scope``
    says what was busy: ``"cluster"`` (other pools or the cluster: running fewer actions
    at once helps, so the executor lowers its concurrency) or ``"pool"`` (this pool
    only: only waiting helps).
    """

    def __init__(self, message: str, *, scope: str = "cluster", retry_after: float = 5.0,
                 timeout: float = 600.0) -> None:
        super().__init__(message)
        self.scope = scope
        self.retry_after = retry_after
        self.timeout = timeout


class ThrottledError(ProviderError):
    """The provider throttled the request."""


class AuthError(ProviderError):
    """Authentication or authorisation failed; never carries a credential."""


class StaleError(ProviderError):
    """The pool or cluster changed since the plan was computed."""


class ConfigError(ReconcilerError):
    """The cluster settings cannot be used (missing value, bad provider name)."""

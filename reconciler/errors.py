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


class ThrottledError(ProviderError):
    """The provider throttled the request."""


class AuthError(ProviderError):
    """Authentication or authorisation failed; never carries a credential."""


class StaleError(ProviderError):
    """The pool or cluster changed since the plan was computed."""


class ConfigError(ReconcilerError):
    """The cluster settings cannot be used (missing value, bad provider name)."""

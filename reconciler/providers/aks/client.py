"""Settings, credentials and the ContainerServiceClient for the ``aks`` driver.

Only the ``aks`` driver imports this module, so ``azure.*`` is loaded only when an AKS
cluster is used.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline.policies import RetryPolicy, SansIOHTTPPolicy
from azure.mgmt.containerservice import ContainerServiceClient

from reconciler.errors import ConfigError
from reconciler.redact import remember
from reconciler.settings import check_setting_keys
from reconciler.trust import trusted_endpoint

API_VERSION = "2026-08-01"
TOKEN_ENV = "AZURE_ACCESS_TOKEN"
AUTH_METHODS = ("default", "cli", "token")
REQUIRED = ("subscriptionId", "resourceGroup", "clusterName", "location")
# Optional knobs: settings key -> (attribute, type). Defaults suit real AKS.
TUNING: dict[str, tuple[str, type]] = {
    "conflictTimeoutSeconds": ("conflict_timeout", float),
    "conflictBackoffSeconds": ("conflict_backoff", float),
    "retryTotal": ("retry_total", int),
    "retryBackoffSeconds": ("retry_backoff", float),
    "retryBackoffMaxSeconds": ("retry_backoff_max", float),
    "maxRetryAfterSeconds": ("max_retry_after", float),
    "pollingIntervalSeconds": ("polling_interval", float),
    "refreshAfterSeconds": ("refresh_after", float),
}
KNOWN = (*REQUIRED, "auth", "armEndpoint", *TUNING)


@dataclass(frozen=True)
class AksSettings:
    """The ``cluster.settings`` of an ``aks`` cluster, checked and typed."""

    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str
    auth: str = "default"
    arm_endpoint: str = "https://management.azure.com"
    conflict_timeout: float = 600.0  # how long to wait out another operation (409 "busy")
    conflict_backoff: float = 5.0  # first wait after a 409; doubles up to 60 s
    retry_total: int = 5  # SDK retries of 429, 5xx and dropped connections
    retry_backoff: float = 0.8
    retry_backoff_max: float = 60.0
    max_retry_after: float = 120.0  # never sleep longer than this on one Retry-After
    polling_interval: float = 30.0  # LRO polls when the server sends no Retry-After
    # An update re-reads its pool (one GET) when this apply wrote something after the pool
    # was listed and the listing is at least this old (see AksDriver.update).
    refresh_after: float = 60.0

    @property
    def credential_scope(self) -> str:
        """The token scope for this ARM endpoint."""
        return f"{self.arm_endpoint}/.default"


def parse_settings(settings: dict[str, Any]) -> AksSettings:
    """Check ``cluster.settings`` for the aks provider; ConfigError names the bad key."""
    check_setting_keys("aks", settings, KNOWN, REQUIRED)
    auth = str(settings.get("auth") or "default")
    if auth not in AUTH_METHODS:
        raise ConfigError(f"aks: setting 'auth' must be one of {', '.join(AUTH_METHODS)}, "
                          f"not '{auth}'")
    tuning = {attr: _number(key, settings[key], kind)
              for key, (attr, kind) in TUNING.items() if settings.get(key) is not None}
    endpoint = trusted_endpoint(str(settings.get("armEndpoint") or AksSettings.arm_endpoint),
                                setting="armEndpoint", builtin=PUBLIC_ARM_ENDPOINTS)
    return AksSettings(
        subscription_id=str(settings["subscriptionId"]),
        resource_group=str(settings["resourceGroup"]),
        cluster_name=str(settings["clusterName"]), location=str(settings["location"]),
        auth=auth, arm_endpoint=endpoint, **tuning)


def _number(key: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"aks: setting '{key}' must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"aks: setting '{key}' must not be negative")
    return number


class StaticTokenCredential(TokenCredential):
    """A bearer token given from outside (auth: token); never shown in repr or errors."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The same token for every scope; its expiry is unknown, so claim an hour."""
        return AccessToken(self._token, int(time.time()) + 3600)

    def __repr__(self) -> str:
        return "StaticTokenCredential(<redacted>)"


# Sovereign clouds sign in at their own authority; AZURE_AUTHORITY_HOST still overrides.
# These and the public cloud are the ARM endpoints trusted without RECONCILER_TRUSTED_ENDPOINTS.
SOVEREIGN_AUTHORITIES = {
    "https://management.chinacloudapi.cn": "login.chinacloudapi.cn",
    "https://management.usgovcloudapi.net": "login.microsoftonline.us",
}


PUBLIC_ARM_ENDPOINTS = ("https://management.azure.com", *SOVEREIGN_AUTHORITIES)


def authority_for(arm_endpoint: str) -> str | None:
    """The Entra ID authority host for a sovereign cloud's ARM endpoint, else None."""
    if os.environ.get("AZURE_AUTHORITY_HOST"):
        return None
    return SOVEREIGN_AUTHORITIES.get(arm_endpoint.rstrip("/").lower())


def make_credential(auth: str, arm_endpoint: str = "https://management.azure.com"
                    ) -> TokenCredential:
    """The credential for ``auth``: default, cli, or token (from AZURE_ACCESS_TOKEN).

    ``default`` under GitHub Actions OIDC (see ``oidc``) signs in with a GitHub OIDC token
    fetched afresh each time the Azure token is renewed; otherwise DefaultAzureCredential.
    """
    if auth == "token":
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise ConfigError(f"aks: auth 'token' needs the environment variable {TOKEN_ENV}")
        remember(token, "${" + TOKEN_ENV + "}")
        return StaticTokenCredential(token)
    from azure.identity import AzureCliCredential, DefaultAzureCredential

    from reconciler.providers.aks.oidc import (
        RememberingCredential,
        github_oidc_configured,
        github_oidc_credential,
    )

    if auth == "cli":
        return RememberingCredential(AzureCliCredential())
    authority = authority_for(arm_endpoint)
    if github_oidc_configured(os.environ):  # GitHub Actions OIDC: refreshed assertions
        return github_oidc_credential(os.environ, ca_bundle(), authority)
    return RememberingCredential(DefaultAzureCredential(authority=authority) if authority
                                 else DefaultAzureCredential())


class BoundedRetryPolicy(RetryPolicy):
    """The SDK retry policy, but a server's Retry-After can never stall us unboundedly."""

    def __init__(self, *, max_retry_after: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_retry_after = max_retry_after

    def get_retry_after(self, response: Any) -> float | None:
        """Retry-After as sent, capped at ``max_retry_after``."""
        delay = super().get_retry_after(response)
        return None if delay is None else min(delay, self.max_retry_after)


REQUEST_LOG = logging.getLogger("reconciler.http")


class RequestLogPolicy(SansIOHTTPPolicy):
    """``--debug``: each HTTP attempt (retries included) with its status and timing.

    Method, URL and status only: never a header or a body, so never the bearer token.
    It sits in the pipeline's per-retry hook slot, after the retry policy.
    """

    def on_request(self, request: Any) -> None:
        """Note when the attempt started."""
        request.context["reconciler_started"] = time.monotonic()

    def on_response(self, request: Any, response: Any) -> None:
        """Log the attempt with its status and duration."""
        REQUEST_LOG.debug("%s %s -> %s (%s)", request.http_request.method,
                          request.http_request.url, response.http_response.status_code,
                          _elapsed(request))

    def on_exception(self, request: Any) -> None:
        """Log an attempt that got no response (a dropped connection, a timeout)."""
        REQUEST_LOG.debug("%s %s -> no response (%s)", request.http_request.method,
                          request.http_request.url, _elapsed(request))


def _elapsed(request: Any) -> str:
    started = request.context.get("reconciler_started")
    return "?" if started is None else f"{(time.monotonic() - started) * 1000:.0f} ms"


def ca_bundle() -> str | bool:
    """A custom CA file from REQUESTS_CA_BUNDLE or SSL_CERT_FILE; else the default store.

    Verification is never turned off: the result is a path or True.
    """
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        path = os.environ.get(name)
        if path:
            return path
    return True


def make_client(settings: AksSettings) -> ContainerServiceClient:
    """A ContainerServiceClient for the cluster's subscription and ARM endpoint."""
    retry = BoundedRetryPolicy(
        max_retry_after=settings.max_retry_after, retry_total=settings.retry_total,
        retry_backoff_factor=settings.retry_backoff,
        retry_backoff_max=settings.retry_backoff_max)
    return ContainerServiceClient(
        make_credential(settings.auth, settings.arm_endpoint), settings.subscription_id,
        base_url=settings.arm_endpoint, api_version=API_VERSION,
        credential_scopes=[settings.credential_scope], retry_policy=retry,
        polling_interval=settings.polling_interval, connection_verify=ca_bundle(),
        logging_enable=False, custom_hook_policy=RequestLogPolicy())

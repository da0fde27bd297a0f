"""Settings, credentials and the botocore clients for the ``eks`` driver.

Only the ``eks`` driver imports this module, so botocore is loaded only when an EKS cluster
is used. Credentials come from the AWS SDK's (botocore's) standard chain (environment,
shared config and SSO profiles, web identity / OIDC, container and instance roles); none is
ever printed.

botocore, not boto3: boto3's session delegates credentials and clients to botocore's, and
``import boto3`` also imports s3transfer, which the provider never uses (about 25 ms of
every EKS command's start-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import botocore.session
from botocore.config import Config

from reconciler.errors import AuthError, ConfigError
from reconciler.providers.eks.errors import SIGN_IN_REMEDY
from reconciler.redact import remember
from reconciler.settings import check_setting_keys
from reconciler.trust import trusted_endpoint

REQUIRED = ("region", "clusterName", "nodeRoleArn")
RETRY_MODES = ("standard", "adaptive")
# Optional knobs: settings key -> (attribute, type). Defaults suit real EKS.
TUNING: dict[str, tuple[str, type]] = {
    "maxAttempts": ("max_attempts", int),
    "pollingIntervalSeconds": ("polling_interval", float),
    "operationTimeoutSeconds": ("operation_timeout", float),
    "conflictTimeoutSeconds": ("conflict_timeout", float),
    "conflictBackoffSeconds": ("conflict_backoff", float),
}
KNOWN = (*REQUIRED, "subnets", "endpointUrl", "ec2EndpointUrl", "retryMode", "maxNodegroups",
         *TUNING)
SECRET_PLACEHOLDER = "<AWS secret>"


@dataclass(frozen=True)
class EksSettings:
    """The ``cluster.settings`` of an ``eks`` cluster, checked and typed."""

    region: str
    cluster_name: str
    node_role_arn: str
    subnets: dict[str, str] | None = None  # zone -> subnet id; None: the cluster's own
    endpoint_url: str | None = None  # None: botocore's regional endpoint
    ec2_endpoint_url: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 5  # botocore attempts per call, the first included
    polling_interval: float = 15.0  # between DescribeNodegroup / DescribeUpdate polls
    operation_timeout: float = 3600.0  # how long one create, update or delete may take
    conflict_timeout: float = 600.0  # how long to wait out ResourceInUseException
    conflict_backoff: float = 5.0  # first wait after it; doubles up to 60 s

    @property
    def endpoint(self) -> str:
        """Where EKS calls go, for messages."""
        return self.endpoint_url or f"https://eks.{self.region}.amazonaws.com"


def public_endpoints(service: str, region: str) -> tuple[str, ...]:
    """AWS's own endpoints for ``service`` in ``region``: trusted without the environment."""
    return (f"https://{service}.{region}.amazonaws.com",
            f"https://{service}-fips.{region}.amazonaws.com",
            f"https://{service}.{region}.api.aws",
            f"https://{service}.{region}.amazonaws.com.cn")


def parse_settings(settings: dict[str, Any]) -> EksSettings:
    """Check ``cluster.settings`` for the eks provider; ConfigError names the bad key."""
    check_setting_keys("eks", settings, KNOWN, REQUIRED)
    region = str(settings["region"])
    mode = str(settings.get("retryMode") or "standard")
    if mode not in RETRY_MODES:
        raise ConfigError(f"eks: setting 'retryMode' must be one of {', '.join(RETRY_MODES)},"
                          f" not '{mode}'")
    subnets = settings.get("subnets")
    if subnets is not None and not (isinstance(subnets, dict) and subnets):
        raise ConfigError("eks: setting 'subnets' must map zones to subnet ids")
    tuning = {attr: _number(key, settings[key], kind)
              for key, (attr, kind) in TUNING.items() if settings.get(key) is not None}
    endpoint = _endpoint(settings.get("endpointUrl"), "endpointUrl", "eks", region)
    ec2 = _endpoint(settings.get("ec2EndpointUrl"), "ec2EndpointUrl", "ec2", region) \
        or (endpoint if settings.get("endpointUrl") else None)
    return EksSettings(
        region=region, cluster_name=str(settings["clusterName"]),
        node_role_arn=str(settings["nodeRoleArn"]),
        subnets={str(k): str(v) for k, v in subnets.items()} if subnets else None,
        endpoint_url=endpoint, ec2_endpoint_url=ec2, retry_mode=mode, **tuning)


def _endpoint(value: Any, setting: str, service: str, region: str) -> str | None:
    if not value:
        return None
    return trusted_endpoint(str(value), setting=setting,
                            builtin=public_endpoints(service, region))


def _number(key: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"eks: setting '{key}' must be a number, not {value!r}") from None
    if number < 0 or (key == "maxAttempts" and number < 1):
        raise ConfigError(f"eks: setting '{key}' is out of range")
    return number


def make_session(settings: EksSettings) -> Any:
    """A botocore session for the region, its credentials found through botocore's chain
    and remembered as secrets (no output may ever show them)."""
    session = botocore.session.get_session()  # what boto3's Session wraps
    session.set_config_variable("region", settings.region)
    credentials = session.get_credentials()
    if credentials is None:
        raise AuthError(f"no AWS credentials found; {SIGN_IN_REMEDY}")
    frozen = credentials.get_frozen_credentials()
    for secret in (frozen.secret_key, frozen.token):
        if secret:
            remember(secret, SECRET_PLACEHOLDER)
    return session


def make_client(session: Any, service: str, settings: EksSettings) -> Any:
    """The ``eks`` or ``ec2`` client: the chosen retry mode (which retries throttling and
    5xx answers with backoff), the region, the trusted endpoint if one is set."""
    config = Config(region_name=settings.region, user_agent_extra="reconciler",
                    retries={"mode": settings.retry_mode,
                             "total_max_attempts": settings.max_attempts},
                    connect_timeout=10, read_timeout=60, max_pool_connections=16)
    endpoint = settings.endpoint_url if service == "eks" else settings.ec2_endpoint_url
    return session.create_client(service, region_name=settings.region, endpoint_url=endpoint,
                                 config=config)

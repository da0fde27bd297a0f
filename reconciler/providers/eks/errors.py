"""botocore failures -> reconciler error types, and the wait-out-a-busy-node-group loop.

This is the only place where EKS's (and EC2's) error codes are interpreted. Throttling
(ThrottlingException, TooManyRequestsException, HTTP 429...) and 5xx answers are retried
by botocore's retry mode before they reach here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from reconciler.errors import (
    AuthError,
    ConflictError,
    ProviderError,
    ProviderValidationError,
    ThrottledError,
)

T = TypeVar("T")
MAX_BUSY_BACKOFF = 60.0
IN_USE = "ResourceInUseException"
NOT_FOUND = "ResourceNotFoundException"
VALIDATION_CODES = frozenset({
    "InvalidParameterException", "InvalidRequestException", "ClientException",
    "BadRequestException", "ValidationException", "ResourceLimitExceededException",
    "UnsupportedAvailabilityZoneException", "InvalidParameterValue",
})
THROTTLING_CODES = frozenset({
    "ThrottlingException", "TooManyRequestsException", "Throttling", "ThrottledException",
    "RequestLimitExceeded", "RequestThrottledException", "SlowDown",
})
AUTH_CODES = frozenset({
    "AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "AuthFailure",
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
    "SignatureDoesNotMatch", "ExpiredTokenException", "ExpiredToken",
})
SIGN_IN_REMEDY = ("set AWS_PROFILE (with `aws sso login` or `aws configure`), or"
                  " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN and"
                  " AWS_WEB_IDENTITY_TOKEN_FILE (OIDC in CI), or run where an instance or"
                  " task role is available")
# EKS parameter names in its messages -> where the file sets them.
FIELDS = (
    ("nodeRole", "cluster.settings.nodeRoleArn or extensions.eks.nodeRole"),
    ("Role Arn", "cluster.settings.nodeRoleArn or extensions.eks.nodeRole"),
    ("subnet", "zones (or cluster.settings.subnets)"),
    ("instanceType", "instanceType"), ("diskSize", "osDiskSizeGiB"),
    ("capacityType", "priority"), ("scalingConfig", "autoscaling"),
    ("minSize", "autoscaling"), ("maxSize", "autoscaling"), ("desiredSize", "autoscaling"),
    ("label", "labels"), ("taint", "extensions.eks.taints"), ("tag", "extensions.eks.tags"),
    ("amiType", "extensions.eks.amiType"), ("launchTemplate", "extensions.eks.launchTemplate"),
    ("remoteAccess", "extensions.eks.remoteAccess"), ("updateConfig",
                                                      "extensions.eks.updateConfig"),
    ("releaseVersion", "extensions.eks.releaseVersion"), ("version", "extensions.eks.version"),
)


def error_code(err: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code") or "")
    return ""


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _message(err: ClientError) -> str:
    error = err.response.get("Error", {})
    text = str(error.get("Message") or err.response.get("message") or "").strip()
    return text.splitlines()[0] if text else "no message"


def is_in_use(err: BaseException) -> bool:
    """EKS's "the node group is busy with another operation" answer (HTTP 409)."""
    return error_code(err) == IN_USE


def is_not_found(err: BaseException) -> bool:
    """The node group (or cluster) does not exist."""
    return error_code(err) in (NOT_FOUND, "NotFoundException")


def map_error(err: Exception, *, action: str, pool: str, endpoint: str) -> ProviderError:
    """The reconciler error for a botocore failure while ``action``-ing ``pool``. Messages carry
    AWS's code and message, never a credential."""
    where = f"{action} pool '{pool}'" if pool else action
    if isinstance(err, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return AuthError(f"no usable AWS credentials ({_first_line(str(err))}); {SIGN_IN_REMEDY}")
    if isinstance(err, ClientError):
        return _from_client_error(err, where)
    if isinstance(err, ConnectionError | HTTPClientError):
        return ProviderError(f"cannot {where}: no answer from {endpoint}"
                             f" ({_first_line(str(err))})")
    if isinstance(err, BotoCoreError):
        return ProviderError(f"cannot {where}: {_first_line(str(err))}")
    return ProviderError(f"cannot {where}: {type(err).__name__}: {err}")


def _from_client_error(err: ClientError, where: str) -> ProviderError:
    code, status, message = error_code(err), _status(err), _message(err)
    detail = f"{message} ({code})" if code else message
    if code in AUTH_CODES or status in (401, 403):
        return AuthError(f"AWS refused to let the credentials {where} (HTTP {status}):"
                         f" {detail}; the identity needs eks:ListNodegroups,"
                         " eks:DescribeNodegroup (plan), and eks:CreateNodegroup,"
                         " eks:UpdateNodegroupConfig, eks:DeleteNodegroup, eks:TagResource,"
                         " eks:UntagResource, eks:DescribeUpdate and iam:PassRole on the node"
                         " role (apply)")
    if code in THROTTLING_CODES or status == 429:
        return ThrottledError(f"cannot {where}: AWS is throttling requests and retries were"
                              f" exhausted: {detail}")
    if code == IN_USE:
        return ConflictError(f"cannot {where}: another operation on the node group is still"
                             f" in progress after waiting: {detail}")
    if code in VALIDATION_CODES or (400 <= status < 500 and status != 404):
        field = _field_in(message)
        hint = f"; check {field}" if field else ""
        return ProviderValidationError(f"EKS rejected the request to {where}: {detail}{hint}")
    if status >= 500:
        return ProviderError(f"cannot {where}: AWS answered HTTP {status} and retries were"
                             f" exhausted: {detail}")
    return ProviderError(f"cannot {where}: HTTP {status}: {detail}")


def _field_in(message: str) -> str | None:
    """The file field an EKS validation message is about, when it names a parameter."""
    for word, field in FIELDS:
        if re.search(rf"\b{re.escape(word)}", message, flags=re.IGNORECASE):
            return field
    return None


def retry_in_use(call: Callable[[], T], *, timeout: float, backoff: float,
                 on_wait: Callable[[], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``, waiting out ResourceInUseException for up to ``timeout`` seconds.

    The last one is re-raised when the next wait would pass the deadline; ``on_wait`` is
    told before each wait.
    """
    deadline = time.monotonic() + timeout
    delay = max(backoff, 0.01)
    while True:
        try:
            return call()
        except ClientError as err:
            if not is_in_use(err) or time.monotonic() + delay > deadline:
                raise
        if on_wait:
            on_wait()
        sleep(delay)
        delay = min(delay * 2, MAX_BUSY_BACKOFF)


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"

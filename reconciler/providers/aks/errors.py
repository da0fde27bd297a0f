"""HTTP and SDK failures -> reconciler error types, and the wait-out-a-409 loop.

This is the only place where AKS's status codes and error codes are interpreted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from reconciler.errors import (
    AuthError,
    ConflictError,
    ProviderError,
    ProviderValidationError,
    StaleError,
    ThrottledError,
)

T = TypeVar("T")
# 400 codes that are the driver's fault, not the user's input.
PROTOCOL_CODES = ("InvalidApiVersionParameter", "MissingApiVersionParameter")
MAX_CONFLICT_BACKOFF = 60.0
SIGN_IN_REMEDY = {
    "cli": "install the Azure CLI and run `az login`, or use auth: default",
    "default": "run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and"
               " AZURE_FEDERATED_TOKEN_FILE (workload identity) or AZURE_CLIENT_SECRET,"
               " or run where a managed identity is assigned",
    "token": "set AZURE_ACCESS_TOKEN to a valid ARM token",
}


def aks_error(err: HttpResponseError) -> tuple[str, str]:
    """AKS's (code, message), from ``{"error": {...}}`` or the bare ``{code, message}``."""
    detail: dict[str, Any] = {}
    try:
        body = json.loads(err.response.text()) if err.response is not None else None
    except (ValueError, TypeError, AttributeError):
        body = None
    if isinstance(body, dict):
        nested = body.get("error")
        detail = nested if isinstance(nested, dict) else body
    code = detail.get("code") or getattr(err.error, "code", None) or ""
    message = detail.get("message") or getattr(err.error, "message", None) or err.reason or ""
    return str(code), str(message)


# 409 codes that mean "busy, try again later"; any other 409 (ScopeLocked: a resource lock,
# and the like) is permanent and reported at once.
_BUSY_CODES = frozenset({"OperationNotAllowed", "AnotherOperationInProgress", "Conflict",
                         "EtagConflict", "OperationPreempted"})


def is_conflict(err: Exception) -> bool:
    """A 409 saying another operation on the pool or cluster is still running."""
    if not isinstance(err, HttpResponseError) or err.status_code != 409:
        return False
    code, message = aks_error(err)
    return code in _BUSY_CODES or "in progress" in message.lower() or not code


def lro_failed(err: HttpResponseError) -> bool:
    """The poller's error for an operation that ended Failed/Canceled (not an HTTP error)."""
    return err.status_code is not None and err.status_code < 400


def map_error(err: Exception, *, action: str, pool: str, auth: str,
              endpoint: str) -> ProviderError:
    """The reconciler error for an SDK failure while ``action``-ing ``pool``.

    Messages carry AKS's code and message, never a credential.
    """
    where = f"{action} pool '{pool}'" if pool else action
    if isinstance(err, ClientAuthenticationError) and err.response is None:
        return AuthError(f"could not get an Azure token with auth '{auth}':"
                         f" {_first_line(err.message)}; {SIGN_IN_REMEDY.get(auth, '')}"
                         " (RECONCILER_LOG=debug shows each credential's answer)")
    if isinstance(err, HttpResponseError) and err.status_code is not None:
        return _from_status(err, where, pool, auth)
    if isinstance(err, ServiceRequestError | ServiceResponseError):
        return ProviderError(f"cannot {where}: no answer from {endpoint} "
                             f"({_first_line(err.message)})")
    if isinstance(err, AzureError):
        return ProviderError(f"cannot {where}: {_first_line(err.message)}")
    return ProviderError(f"cannot {where}: {type(err).__name__}: {err}")


def _from_status(err: HttpResponseError, where: str, pool: str, auth: str) -> ProviderError:
    status = err.status_code or 0
    code, message = aks_error(err)
    detail = f"{message} ({code})" if code else message
    if lro_failed(err):
        return ProviderError(f"AKS could not {where}: the operation ended Failed: {detail}")
    if status == 403:
        return AuthError(f"the identity from auth '{auth}' is not authorised to {where}"
                         f" (HTTP 403): {detail}; it needs Azure Kubernetes Service"
                         " Contributor Role on the cluster, or an equivalent role")
    if status == 401:
        return AuthError(f"AKS refused the credentials from auth '{auth}' while trying to "
                         f"{where} (HTTP 401): {detail}")
    if status == 412 and where.startswith("create"):
        return StaleError(f"pool '{pool}' already exists (created since the plan); "
                          "run plan again")
    if status == 412:
        return StaleError(f"pool '{pool}' changed since the plan; run plan again")
    if status == 400 and code not in PROTOCOL_CODES:
        return ProviderValidationError(f"AKS rejected the request to {where}: {detail}")
    if status == 409 and not is_conflict(err):
        return ProviderError(f"cannot {where}: {detail}")  # e.g. ScopeLocked: not retried
    if status == 409:
        return ConflictError(f"cannot {where}: another operation is still in progress "
                             f"after waiting: {detail}")
    if status == 429:
        return ThrottledError(f"cannot {where}: AKS is throttling requests (HTTP 429), "
                              f"retries exhausted: {detail}")
    if status >= 500:  # the SDK's retry policy has already retried these
        return ProviderError(f"cannot {where}: AKS answered HTTP {status} and retries were"
                             f" exhausted: {detail}")
    return ProviderError(f"cannot {where}: HTTP {status}: {detail}")


def scrub_credentials(err: BaseException) -> None:
    """Drop Authorization headers from the requests kept by ``err`` and its causes.

    The SDK's errors keep the failed request; our errors keep the SDK's as their cause,
    so without this the bearer token would live on inside every raised error.
    """
    seen: set[int] = set()
    current: Any = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        # azure-core's request, the transport's own (requests.PreparedRequest) behind it,
        # and the request of a connection error the SDK wrapped.
        for request in (getattr(response, "request", None),
                        getattr(getattr(response, "internal_response", None), "request", None),
                        getattr(getattr(current, "exc_value", None), "request", None),
                        getattr(getattr(current, "inner_exception", None), "request", None)):
            _drop_authorization(getattr(request, "headers", None))
        current = (current.__cause__ or current.__context__
                   or getattr(current, "inner_exception", None))


def _drop_authorization(headers: Any) -> None:
    if headers is None:
        return
    for key in [k for k in headers if str(k).lower() == "authorization"]:
        del headers[key]


def retry_conflicts(call: Callable[[], T], *, timeout: float, backoff: float,
                    on_wait: Callable[[], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``, waiting out 409 "operation in progress" answers for up to ``timeout``.

    The last 409 is re-raised when the next wait would pass the deadline; ``on_wait`` is
    told before each wait.
    """
    deadline = time.monotonic() + timeout
    delay = max(backoff, 0.01)
    while True:
        try:
            return call()
        except HttpResponseError as err:
            if not is_conflict(err) or time.monotonic() + delay > deadline:
                raise
        if on_wait:
            on_wait()
        sleep(delay)
        delay = min(delay * 2, MAX_CONFLICT_BACKOFF)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "unknown error"

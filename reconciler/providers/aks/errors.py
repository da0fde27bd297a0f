"""HTTP and SDK failures -> reconciler error types.

This is the only place where AKS's status codes and error codes are interpreted; the
executor learns "busy, retry later" from ``BusyError`` alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)

from reconciler.errors import (
    AuthError,
    BusyError,
    ProviderError,
    ProviderValidationError,
    StaleError,
    ThrottledError,
)

# 400 codes that are the driver's fault, not the user's input.
PROTOCOL_CODES = ("InvalidApiVersionParameter", "MissingApiVersionParameter")
MAX_DETAIL_DEPTH = 4  # nested ``details`` shown, at most this deep ...
MAX_DETAILS = 10  # ... and this many at each level
SIGN_IN_REMEDY = {
    "cli": "install the Azure CLI and run `az login`, or use auth: default",
    "default": "run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and"
               " AZURE_FEDERATED_TOKEN_FILE (workload identity) or AZURE_CLIENT_SECRET,"
               " or run where a managed identity is assigned",
    "token": "set AZURE_ACCESS_TOKEN to a valid ARM token",
}


def _error_object(err: HttpResponseError) -> dict[str, Any]:
    """AKS's error object: ``{"error": {...}}``, the bare ``{code, message}``, or the
    ``error`` of a long-running operation's status (``{"status": "Failed", "error"}``)."""
    try:
        body = json.loads(err.response.text()) if err.response is not None else None
    except (ValueError, TypeError, AttributeError):
        body = None
    if not isinstance(body, dict):
        return {}
    nested = body.get("error")
    return nested if isinstance(nested, dict) else body


def aks_error(err: HttpResponseError) -> tuple[str, str]:
    """AKS's (code, message), from ``{"error": {...}}`` or the bare ``{code, message}``."""
    detail = _error_object(err)
    code = detail.get("code") or getattr(err.error, "code", None) or ""
    message = detail.get("message") or getattr(err.error, "message", None) or err.reason or ""
    return str(code), str(message)


def aks_detail(err: HttpResponseError) -> str:
    """AKS's words on one line: ``message (code)``, then its nested ``details`` the same
    way in brackets (the inner errors usually say what actually went wrong)."""
    code, message = aks_error(err)
    text = f"{message} ({code})" if code else message
    inner = _details(_error_object(err).get("details"), depth=1)
    return f"{text} [details: {inner}]" if inner else text


def _details(details: Any, depth: int) -> str:
    if not isinstance(details, list) or depth > MAX_DETAIL_DEPTH:
        return ""
    parts = []
    for item in details[:MAX_DETAILS]:
        if not isinstance(item, dict):
            continue
        code, message = str(item.get("code") or ""), str(item.get("message") or "")
        text = f"{message} ({code})" if code and message else message or code
        inner = _details(item.get("details"), depth + 1)
        text = f"{text} [details: {inner}]" if inner else text
        if text:
            parts.append(text)
    return "; ".join(parts)


def _all_words(err: HttpResponseError) -> tuple[set[str], str]:
    """Every code and every message in the error, nested details included."""
    codes: set[str] = set()
    texts: list[str] = []

    def walk(item: Any, depth: int) -> None:
        if not isinstance(item, dict) or depth > MAX_DETAIL_DEPTH:
            return
        codes.add(str(item.get("code") or ""))
        texts.append(str(item.get("message") or ""))
        for inner in item.get("details") or []:
            walk(inner, depth + 1)

    code, message = aks_error(err)
    walk({"code": code, "message": message, "details": _error_object(err).get("details")}, 0)
    return codes - {""}, " ".join(texts)


# "Busy, try again later": AKS runs one operation at a time per agent pool, and refuses
# (409 OperationNotAllowed) a pool operation while another pool or the cluster is busy:
# "Operation is not allowed: Another agentpool operation (nodepool1 - Creating) is in
# progress, please wait for it to finish before starting a new operation." An operation it
# accepted may instead end early, "preempted" (AKSOperationPreempted: "This operation has
# been preempted by another operation with ID ...") or, in older clusters, Canceled: "The
# operation was overriden and canceled by a later operation <id>." (sic). Any other 409
# (ScopeLocked: a resource lock; "Cluster in a failed state") is permanent. Preemption by a
# delete (AKSOperationPreemptedByDelete) is someone removing the pool: not retried.
_BUSY_TEXT = re.compile(r"\bin progress\b|preempted by another operation"
                        r"|canceled by a later operation", re.IGNORECASE)
_PREEMPTED_CODES = frozenset({"AKSOperationPreempted"})
_DELETED_TEXT = re.compile(r"preempted by delet", re.IGNORECASE)
_OTHER_OPERATION = re.compile(r"another (?:agentpool )?operation \(([^)]*?) - [^)]*\)",
                              re.IGNORECASE)


def is_busy(err: Exception) -> bool:
    """A 409, or an operation that ended early, saying "busy: try again later"."""
    if not isinstance(err, HttpResponseError) or not (err.status_code == 409
                                                      or lro_failed(err)):
        return False
    codes, text = _all_words(err)
    if "AKSOperationPreemptedByDelete" in codes or _DELETED_TEXT.search(text):
        return False
    return bool(codes & _PREEMPTED_CODES) or _BUSY_TEXT.search(text) is not None


def busy_scope(err: HttpResponseError, pool: str) -> str:
    """"pool" when AKS names this pool as the one busy, else "cluster" (another pool, the
    cluster, or a message that names none: running fewer writes at once can only help)."""
    named = _OTHER_OPERATION.search(_all_words(err)[1])
    return "pool" if named and pool and named[1].strip() == pool else "cluster"


def lro_failed(err: HttpResponseError) -> bool:
    """The poller's error for an operation that ended Failed/Canceled (not an HTTP error)."""
    return err.status_code is not None and err.status_code < 400


def _final_status(err: HttpResponseError) -> str:
    """The status a long-running operation ended with (Failed, Canceled)."""
    try:
        body = json.loads(err.response.text()) if err.response is not None else None
    except (ValueError, TypeError, AttributeError):
        body = None
    status = body.get("status") if isinstance(body, dict) else None
    return str(status) if status else "Failed"


def map_error(err: Exception, *, action: str, pool: str, auth: str, endpoint: str,
              conflict_backoff: float = 5.0, conflict_timeout: float = 600.0) -> ProviderError:
    """The reconciler error for an SDK failure while ``action``-ing ``pool``.

    Messages carry AKS's code and message (and nested details), never a credential. A
    "busy" answer becomes ``BusyError``, which the executor retries after
    ``conflict_backoff`` seconds (doubling) for up to ``conflict_timeout``.
    """
    where = f"{action} pool '{pool}'" if pool else action
    if isinstance(err, ClientAuthenticationError) and \
            (err.response is None or _from_token_endpoint(err)):
        return AuthError(f"could not get an Azure token with auth '{auth}':"
                         f" {_first_line(err.message)}; {SIGN_IN_REMEDY.get(auth, '')}"
                         " (RECONCILER_LOG=debug shows each credential's answer)")
    if isinstance(err, HttpResponseError) and is_busy(err):
        said = "another operation is still in progress" if err.status_code == 409 else \
            f"AKS ended it {_final_status(err)} in favour of another operation"
        return BusyError(f"cannot {where}: {said}: {aks_detail(err)}",
                         scope=busy_scope(err, pool), retry_after=conflict_backoff,
                         timeout=conflict_timeout)
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
    code, _message = aks_error(err)
    detail = aks_detail(err)
    if lro_failed(err):
        return ProviderError(f"AKS could not {where}: the operation ended"
                             f" {_final_status(err)}: {detail}")
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
    if status == 409:  # not "busy" (see is_busy): a lock, a failed cluster... not retried
        return ProviderError(f"cannot {where}: AKS refused it (HTTP 409): {detail}")
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


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "unknown error"


def _from_token_endpoint(err: ClientAuthenticationError) -> bool:
    """The answer came from Microsoft Entra's token endpoint (signing in failed), not from
    AKS: azure-identity raises with the token endpoint's HTTP response attached."""
    request = getattr(err.response, "request", None)
    return "/oauth2/" in str(getattr(request, "url", ""))

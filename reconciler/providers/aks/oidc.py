"""GitHub Actions OIDC for ``auth: default``: a federated assertion fetched afresh for
every Azure token, so an apply that outlives its first token (about an hour) signs in again
instead of failing half-way.

azure-identity's ``WorkloadIdentityCredential`` (inside DefaultAzureCredential) already
covers a token *file* (``AZURE_FEDERATED_TOKEN_FILE``, which Kubernetes' workload identity
keeps fresh): it re-reads the file at most every 10 minutes whenever it needs a new Azure
token. GitHub Actions has no such file: its OIDC token is requested from
``ACTIONS_ID_TOKEN_REQUEST_URL`` and is short-lived, and ``azure/login`` only signs the
Azure CLI in once, whose token ends after an hour. So when a workflow grants
``id-token: write`` (the request URL and token are set) and names the app registration
(``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID``), and no token file is given, ``auth: default``
uses a ``ClientAssertionCredential`` whose callback asks GitHub for a new OIDC token each
time Entra ID is asked for an Azure token.

Every token seen here is remembered by ``reconciler.redact``, so none can be printed.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from reconciler.redact import remember

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
AUDIENCE = "api://AzureADTokenExchange"  # what Entra ID federation expects by default
NEEDED = (REQUEST_URL, REQUEST_TOKEN, "AZURE_CLIENT_ID", "AZURE_TENANT_ID")


def github_oidc_configured(env: Mapping[str, str]) -> bool:
    """GitHub Actions OIDC is available and no token file takes precedence."""
    return all(env.get(name) for name in NEEDED) and not env.get("AZURE_FEDERATED_TOKEN_FILE")


class GitHubOidcAssertion:
    """The ``func`` of a ClientAssertionCredential: a fresh GitHub OIDC token per call."""

    def __init__(self, url: str, token: str, *, verify: str | bool = True,
                 audience: str = AUDIENCE) -> None:
        if urllib.parse.urlsplit(url).scheme != "https":
            raise ClientAuthenticationError(f"{REQUEST_URL} must be an https:// URL")
        remember(token, "${" + REQUEST_TOKEN + "}")
        joiner = "&" if urllib.parse.urlsplit(url).query else "?"
        self._url = f"{url}{joiner}{urllib.parse.urlencode({'audience': audience})}"
        self._token = token
        self._context = ssl.create_default_context(
            cafile=verify if isinstance(verify, str) else None)
        self.fetched = 0  # how many assertions were requested (for --debug and tests)

    def __call__(self) -> str:
        request = urllib.request.Request(self._url, headers={
            "Authorization": f"Bearer {self._token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._context) as answer:
                value = json.loads(answer.read()).get("value")
        except urllib.error.HTTPError as err:
            raise ClientAuthenticationError(
                f"GitHub OIDC token request failed: HTTP {err.code} (does the job have"
                " 'permissions: id-token: write'?)") from None
        except (OSError, ValueError) as err:
            raise ClientAuthenticationError(
                f"GitHub OIDC token request failed: {type(err).__name__}") from None
        if not isinstance(value, str) or not value:
            raise ClientAuthenticationError("GitHub OIDC token request returned no token")
        remember(value, "<github-oidc-token>")
        self.fetched += 1
        return value

    def __repr__(self) -> str:
        return "GitHubOidcAssertion(<redacted>)"


class RememberingCredential(TokenCredential):
    """A credential whose every access token is remembered by the redaction layer."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """The inner credential's token (a fresh one when the last is about to expire)."""
        token: AccessToken = self.inner.get_token(*scopes, **kwargs)
        remember(token.token, "<azure-access-token>")
        return token

    def close(self) -> None:
        """Close the inner credential's transport."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"RememberingCredential({type(self.inner).__name__})"


def github_oidc_credential(env: Mapping[str, str], verify: str | bool,
                           authority: str | None) -> TokenCredential:
    """A ClientAssertionCredential signing in with a fresh GitHub OIDC token each time."""
    from azure.identity import ClientAssertionCredential

    assertion = GitHubOidcAssertion(env[REQUEST_URL], env[REQUEST_TOKEN], verify=verify)
    extra: dict[str, Any] = {"authority": authority} if authority else {}
    credential = ClientAssertionCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                           assertion, **extra)
    return RememberingCredential(credential)

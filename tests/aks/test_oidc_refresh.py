"""``auth: default`` under GitHub Actions OIDC: an apply that outlives its Azure token signs
in again with a fresh GitHub OIDC token, and no token is ever printed.

Three real HTTPS servers on 127.0.0.1: GitHub's OIDC token endpoint
(``ACTIONS_ID_TOKEN_REQUEST_URL``), Entra ID's token endpoint (``AZURE_AUTHORITY_HOST``)
and the ARM emulator. Entra takes each GitHub token once (they are short-lived: a reused
one is refused, as an expired one would be) and issues Azure tokens that live one second,
while each write's long-running operation takes longer than that (the hour of a real token,
scaled down); the emulator refuses a token a second after its client saw it expire.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from emulator_session import EmulatorSession, arm_pool

from reconciler.cli import cli
from reconciler.emulator.tls import make_tls

REQUEST_TOKEN = "gh-request-token-that-must-not-leak-1234"
TOKEN_SECONDS = 1  # an Azure token's life here; each write's LRO runs longer (LRO_SECONDS)
LRO_SECONDS = 3.0
GRACE = 1.0  # the emulator's allowance for a request sent just before its token expired
TENANT, CLIENT = "00000000-0000-0000-0000-00000000000t", "00000000-0000-0000-0000-00000000000c"


class Identity:
    """The fake GitHub OIDC and Entra ID endpoints' shared record."""

    def __init__(self, emulator: EmulatorSession) -> None:
        self.emulator = emulator
        self.issued: list[str] = []  # GitHub OIDC tokens, in order
        self.redeemed: list[str] = []  # GitHub tokens Entra accepted
        self.refused: list[str] = []  # why Entra said no
        self.access_tokens: list[str] = []
        self.expiry: dict[str, float] = {}  # access token -> when the emulator stops taking it
        self.lock = threading.Lock()


def _handler(identity: Identity) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - GitHub's OIDC token endpoint
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            if url.path != "/oidc/token" or \
                    self.headers.get("Authorization") != f"Bearer {REQUEST_TOKEN}":
                return self._json(401, {"message": "Bad credentials"})
            if query.get("audience") != ["api://AzureADTokenExchange"]:
                return self._json(400, {"message": "audience"})
            with identity.lock:
                token = f"gh-oidc-jwt-{len(identity.issued) + 1}-must-not-leak"
                identity.issued.append(token)
            return self._json(200, {"value": token, "count": 1})

        def do_POST(self) -> None:  # noqa: N802 - Entra ID's token endpoint
            length = int(self.headers.get("Content-Length", 0))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if self.path != f"/{TENANT}/oauth2/v2.0/token":
                return self._json(404, {"error": "not_found"})
            assertion = form.get("client_assertion", [""])[0]
            with identity.lock:
                if form.get("client_id") != [CLIENT] or assertion not in identity.issued \
                        or assertion in identity.redeemed:
                    identity.refused.append(assertion)
                    return self._json(400, {"error": "invalid_client", "error_description":
                                            "AADSTS700024: Client assertion is not within"
                                            " its valid time range."})
                identity.redeemed.append(assertion)
                token = f"azure-access-token-{len(identity.access_tokens) + 1}-secret"
                identity.access_tokens.append(token)
                identity.expiry[token] = time.monotonic() + TOKEN_SECONDS + GRACE
            return self._json(200, {"token_type": "Bearer", "expires_in": TOKEN_SECONDS,
                                    "ext_expires_in": TOKEN_SECONDS, "access_token": token})
    return Handler


@pytest.fixture
def identity(aks_emulator: EmulatorSession, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Identity]:
    aks_emulator.reset([arm_pool("system", "System", count=1,
                                 tags={"managed-by": "reconciler"})], lro_seconds=LRO_SECONDS)
    record = Identity(aks_emulator)
    aks_emulator.config.accepts_token = \
        lambda token: time.monotonic() < record.expiry.get(token, 0.0)
    tls = make_tls()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(record))
    server.socket = tls.context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    base = f"https://127.0.0.1:{server.server_address[1]}"
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text(Path(aks_emulator.ca_path).read_text() + tls.ca_path.read_text())
    for name in ("AZURE_ACCESS_TOKEN", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_SECRET",
                 "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("RECONCILER_TRUSTED_ENDPOINTS", aks_emulator.url)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", base)
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", f"{base}/oidc/token?api-version=2.0")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    yield record
    server.shutdown()
    server.server_close()
    tls.cleanup()


POOLS = """\
nodePools:
  - {name: system, mode: system, autoscaling: {enabled: true, min: 1, max: 3}}
  - {name: apps, mode: user, instanceType: Standard_D4s_v5,
     autoscaling: {enabled: false, desired: 2}}
  - {name: batch, mode: user, instanceType: Standard_D8s_v5,
     autoscaling: {enabled: false, desired: 1}}
"""


def test_an_apply_outliving_its_token_fetches_a_new_assertion(
        identity: Identity, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    desired = identity.emulator.write_desired(tmp_path / "pools.yaml", POOLS, auth="default")
    result = CliRunner().invoke(cli, ["apply", str(desired), "--yes", "--debug"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert {p["name"] for p in identity.emulator.store.list()} >= {"system", "apps", "batch"}
    # The first Azure token expired during the apply; later writes were signed with newer
    # tokens, each from its own, fresh GitHub OIDC token (a reused one is refused).
    assert len(identity.access_tokens) >= 2
    assert sorted(identity.redeemed) == sorted(identity.issued) and identity.refused == []
    writes = [e for e in identity.emulator.request_log.entries if e.method in ("PUT", "POST")]
    assert writes and all(e.status < 400 for e in identity.emulator.request_log.entries)
    shown = result.output + caplog.text
    for secret in (REQUEST_TOKEN, *identity.issued, *identity.access_tokens):
        assert secret not in shown


def failed_plan(identity: Identity, tmp_path: Path) -> Result:
    """``plan`` with auth: default, which must fail (exit 1)."""
    desired = identity.emulator.write_desired(tmp_path / "pools.yaml", POOLS, auth="default")
    result = CliRunner().invoke(cli, ["plan", str(desired)])
    assert result.exit_code == 1, result.output
    return result


def test_a_refused_github_token_request_is_a_clear_auth_error(
        identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "wrong-request-token-0123456789")
    result = failed_plan(identity, tmp_path)
    assert "GitHub OIDC token request failed: HTTP 401" in result.output
    assert "id-token: write" in result.output and "Traceback" not in result.output
    assert "wrong-request-token-0123456789" not in result.output


def test_entra_refusing_the_assertion_is_an_auth_error_not_an_aks_one(
        identity: Identity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entra's token endpoint answers 400: that is signing in failing, not AKS refusing."""
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000000ff")
    result = failed_plan(identity, tmp_path)
    assert "could not get an Azure token with auth 'default'" in result.output
    assert "AADSTS700024" in result.output and "AKS rejected" not in result.output
    assert identity.emulator.request_log.entries == []  # nothing reached AKS

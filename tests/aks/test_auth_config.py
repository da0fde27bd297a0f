"""Settings, credentials and TLS: errors name the key or auth method, never the token."""

from __future__ import annotations

import contextlib
import logging
import traceback

import pytest
from emulator_session import EmulatorSession

from reconciler.errors import AuthError, ConfigError, ProviderError, ReconcilerError
from reconciler.model import Cluster, NodePool
from reconciler.providers.aks.driver import AksDriver
from reconciler.registry import driver_for

SECRET = "s3cr3t-token-value-that-must-not-leak"


def test_driver_found_by_provider_name(aks: EmulatorSession) -> None:
    assert isinstance(driver_for(aks.cluster_spec()), AksDriver)


@pytest.mark.parametrize("key", ["subscriptionId", "resourceGroup", "clusterName", "location"])
def test_missing_setting_is_named(aks: EmulatorSession, key: str) -> None:
    settings = aks.settings()
    del settings[key]
    with pytest.raises(ConfigError, match=f"missing setting '{key}'"):
        AksDriver(Cluster("c", "aks", settings))


def test_unknown_setting_suggests_the_right_one(aks: EmulatorSession) -> None:
    with pytest.raises(ConfigError, match="did you mean 'clusterName'"):
        AksDriver(aks.cluster_spec(clustername="x"))


def test_bad_auth_method(aks: EmulatorSession) -> None:
    with pytest.raises(ConfigError, match="'auth' must be one of default, cli, token"):
        AksDriver(aks.cluster_spec(auth="password"))


def test_token_auth_needs_the_env_var(aks: EmulatorSession,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_ACCESS_TOKEN")
    with pytest.raises(ConfigError, match="AZURE_ACCESS_TOKEN"):
        AksDriver(aks.cluster_spec()).list()


def test_rejected_token_is_an_auth_error_without_the_token(
        aks: EmulatorSession, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", SECRET)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError, match="auth 'token'") as caught:
        AksDriver(aks.cluster_spec()).list()
    assert "401" in str(caught.value)
    text = "".join(traceback.format_exception(caught.value))
    assert SECRET not in text and SECRET not in caplog.text
    kept_request = caught.value.__cause__.response.request  # the SDK error stays as the cause
    assert SECRET not in str(dict(kept_request.headers))
    assert [e.status for e in aks.request_log.entries] == [401]
    assert all(SECRET not in str(e.headers) for e in aks.request_log.entries)


def test_no_token_in_sdk_logs_on_success(aks: EmulatorSession, driver: AksDriver,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    driver.list()
    driver.delete("legacy")
    assert aks.token not in caplog.text


def test_tls_is_verified(aks: EmulatorSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED"):
        AksDriver(aks.cluster_spec(retryTotal=0)).list()


def test_ssl_cert_file_is_honoured(aks: EmulatorSession,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("SSL_CERT_FILE", str(aks.ca_path))
    assert len(AksDriver(aks.cluster_spec()).list()) == 3


def test_arm_endpoint_must_be_https(aks: EmulatorSession) -> None:
    with pytest.raises(ConfigError, match="armEndpoint"):
        AksDriver(aks.cluster_spec(armEndpoint="http://127.0.0.1:1"))


def test_forbidden_is_an_auth_error(aks: EmulatorSession, driver: AksDriver) -> None:
    aks.faults.add(method="PUT", status=403, code="AuthorizationFailed",
                   message="The client does not have authorization to perform action")
    with pytest.raises(AuthError, match="auth 'token'.*HTTP 403.*AuthorizationFailed"):
        driver.update(NodePool(name="batch", labels={"team": "b"}))


def test_unavailable_cli_credential_names_the_method(aks: EmulatorSession,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no `az` to ask for a token
    with pytest.raises(AuthError, match="auth 'cli'"):
        AksDriver(aks.cluster_spec(auth="cli")).list()
    assert aks.request_log.entries == []


def reachable_text(root: object, limit: int = 20_000) -> str:
    """Every string reachable from ``root`` through attributes, mappings and sequences."""
    seen: set[int] = set()
    found: list[str] = []
    stack = [root]
    while stack and len(seen) < limit:
        item = stack.pop()
        if id(item) in seen or item is None or isinstance(item, int | float | bool):
            continue
        seen.add(id(item))
        if isinstance(item, str | bytes):
            found.append(item if isinstance(item, str) else item.decode("latin-1"))
            continue
        if isinstance(item, dict):
            stack.extend([*item.keys(), *item.values()])
        elif isinstance(item, list | tuple | set):
            stack.extend(item)
        elif hasattr(item, "items") and callable(item.items):  # header mappings
            with contextlib.suppress(Exception):  # some containers refuse iteration
                stack.extend(str(pair) for pair in item.items())
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, *item.args])
        stack.extend(getattr(item, "__dict__", {}).values())
    return "\n".join(found)


@pytest.mark.parametrize("fault", [{"status": 401, "code": "InvalidAuthenticationToken"},
                                   {"status": 500}, {"action": "drop"}])
def test_no_token_anywhere_inside_a_raised_error(aks: EmulatorSession,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 fault: dict[str, object]) -> None:
    aks.config.token = SECRET
    monkeypatch.setenv("AZURE_ACCESS_TOKEN", SECRET)
    aks.faults.add(method="GET", times=100, **fault)
    with pytest.raises(ReconcilerError) as caught:
        AksDriver(aks.cluster_spec(retryTotal=0)).list()
    text = reachable_text(caught.value)
    assert "Bearer" in text or "agentPools" in text  # the walk does reach the SDK's objects
    assert SECRET not in text


@pytest.mark.parametrize(("endpoint", "authority"), [
    ("https://management.chinacloudapi.cn", "login.chinacloudapi.cn"),
    ("https://management.usgovcloudapi.net/", "login.microsoftonline.us"),
    ("https://management.azure.com", None),
])
def test_sovereign_clouds_sign_in_at_their_own_authority(
        endpoint: str, authority: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.providers.aks.client import authority_for

    monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    assert authority_for(endpoint) == authority
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "login.example")  # the user's word wins
    assert authority_for(endpoint) is None

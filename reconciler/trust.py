"""Which endpoints a desired file may send credentials to: the environment decides.

A desired file can come from a stranger's pull request, so an endpoint written in it is
used only when it is one of the provider's own public or sovereign clouds, or an origin
listed in ``RECONCILER_TRUSTED_ENDPOINTS`` (comma-separated ``https://host[:port]``) by
whoever runs the tool. Every endpoint setting of every provider goes through
:func:`trusted_endpoint` before the driver makes its first request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from reconciler.errors import ConfigError

TRUST_ENV = "RECONCILER_TRUSTED_ENDPOINTS"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def origin(url: str) -> str | None:
    """``scheme://host:port`` of ``url`` (lower case, port explicit), or None if it has none.

    Only a bare origin counts: a path, query, fragment or user name makes it None, so a
    trusted origin cannot be stretched to another service on the same host.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None
    if not parts.hostname or parts.scheme.lower() not in _DEFAULT_PORTS or port is None:
        return None
    if parts.username is not None or parts.password is not None or parts.query \
            or parts.fragment or parts.path not in ("", "/"):
        return None
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}:{port}"


def trusted_origins(environ: dict[str, str] | None = None) -> frozenset[str]:
    """The origins listed in ``RECONCILER_TRUSTED_ENDPOINTS``; an unusable entry is an error."""
    raw = (os.environ if environ is None else environ).get(TRUST_ENV, "")
    origins = set()
    for entry in (item.strip() for item in raw.split(",")):
        if not entry:
            continue
        parsed = origin(entry)
        if parsed is None:
            raise ConfigError(f"{TRUST_ENV}: '{entry}' is not an origin; write entries as"
                              " https://host[:port], separated by commas")
        origins.add(parsed)
    return frozenset(origins)


def trusted_endpoint(url: str, *, setting: str, builtin: Iterable[str],
                     environ: dict[str, str] | None = None) -> str:
    """``url`` without a trailing slash, if the environment trusts it; else ConfigError.

    ``builtin`` holds the provider's public and sovereign cloud endpoints, trusted
    everywhere. The message names the origin and the variable that would trust it.
    """
    found = origin(url)
    if found is None:
        raise ConfigError(f"setting '{setting}' must be an https://host[:port] origin with"
                          " no path")
    if not found.startswith("https://"):
        raise ConfigError(f"setting '{setting}' must be an https:// origin")
    if found not in {origin(b) for b in builtin} and found not in trusted_origins(environ):
        raise ConfigError(f"setting '{setting}': {found} is not a trusted endpoint; to send"
                          f" credentials there, add it to {TRUST_ENV} (comma-separated"
                          " origins) in the environment that runs reconciler")
    return url.strip().rstrip("/")

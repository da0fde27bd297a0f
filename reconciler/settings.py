"""The checks every provider runs first on its ``cluster.settings``: no unknown key (with a
"did you mean"), no required key missing. ConfigError names the key."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from reconciler.errors import ConfigError


def check_setting_keys(provider: str, settings: Mapping[str, Any], known: Collection[str],
                       required: Iterable[str]) -> None:
    """Raise ConfigError for the first unknown key, else for the first missing one."""
    for key in settings:
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{provider}: unknown setting '{key}'{suggestion}")
    missing = [key for key in required if not settings.get(key)]
    if missing:
        raise ConfigError(f"{provider}: missing setting '{missing[0]}' in cluster.settings")

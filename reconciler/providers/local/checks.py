"""The checks AKS makes on an agent pool PUT, raising errors worded as AKS words them.

Pure functions over ARM ``properties`` dicts; ``rules.AgentPoolStore`` calls them.
"""

from __future__ import annotations

import re
from typing import Any

import reconciler.providers.aks.rules as rules
from reconciler.providers.aks.capabilities import IMMUTABLE_PROPERTIES, NAME_PATTERN
from reconciler.providers.aks.rules import (
    WINDOWS_NAME_MAX,
    sku_change_allowed,
    spot_system,
    windows_name_too_long,
    windows_system,
)

LAST_SYSTEM_POOL = "There has to be at least one system agent pool."
MAX_COUNT = 1000


class AksApiError(Exception):
    """An AKS error response: HTTP status, AKS error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def to_body(self) -> dict[str, Any]:
        """The ARM error envelope, as an HTTP response body."""
        return {"error": {"code": self.code, "message": self.message}}


def invalid(message: str) -> AksApiError:
    """A 400 InvalidParameter error."""
    return AksApiError(400, "InvalidParameter", message)


def check_name(name: str, os_type: str | None) -> None:
    """Agent pool names: the spec's pattern, and at most 6 characters for Windows."""
    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise invalid(
            f"The agent pool name '{name}' is invalid. Agent pool names must start with a "
            "lowercase letter, have at most 12 characters and contain only lowercase "
            "letters and numbers.")
    if windows_name_too_long(name, os_type):
        raise invalid(
            f"The agent pool name '{name}' is invalid. Windows agent pool names must have "
            f"at most {WINDOWS_NAME_MAX} characters.")


def check_pool(name: str, props: dict[str, Any]) -> None:
    """Rules every stored pool satisfies: spot and Windows are User-only, counts, bounds."""
    system = props.get("mode") == "System"
    if windows_system(props.get("mode"), props.get("osType")):
        raise invalid(f"The agent pool '{name}' cannot be a System pool: System agent pools "
                      "must run Linux (osType Linux).")
    if spot_system(props.get("mode"), props.get("scaleSetPriority")):
        raise invalid(f"The agent pool '{name}' cannot be a Spot pool in System mode: "
                      "Spot agent pools must be User mode pools.")
    floor = 1 if system else 0
    for key in ("count", "minCount", "maxCount"):
        value = props.get(key)
        if value is not None and not floor <= value <= MAX_COUNT:
            kind = "System" if system else "User"
            raise invalid(f"The value of parameter {key} is invalid: {value}. {kind} agent "
                          f"pools allow {floor} to {MAX_COUNT} nodes.")
    for key in props.get("nodeLabels") or {}:
        if rules.reserved_label_domain(key):
            raise invalid(f"The node label '{key}' is not allowed: label keys with the "
                          "kubernetes.io or k8s.io prefix are reserved.")
    if props.get("scaleSetPriority") == "Spot" and \
            (props.get("upgradeSettings") or {}).get("maxSurge"):
        raise invalid(f"The agent pool '{name}' is a Spot pool: upgradeSettings.maxSurge is "
                      "not supported for Spot agent pools.")
    if not props.get("enableAutoScaling"):
        return
    low, high = props.get("minCount"), props.get("maxCount")
    if low is None or high is None:
        raise invalid("minCount and maxCount must be set when enableAutoScaling is true.")
    if low > high:
        raise invalid(f"The value of parameter minCount ({low}) must be less than or equal "
                      f"to maxCount ({high}).")
    count = props.get("count")
    if count is not None and not low <= count <= high:
        raise invalid(f"The value of parameter count ({count}) must be between minCount "
                      f"({low}) and maxCount ({high}) when enableAutoScaling is true.")


def check_version(name: str, version: object, control_plane: str) -> None:
    """A pool runs at most the control plane's version, and at most two minor versions
    behind it (AKS's node pool version rule)."""
    problem = rules.version_skew_problem(version, control_plane)
    if problem:
        raise AksApiError(400, "NodePoolMcVersionIncompatible",
                          f"The agent pool '{name}': {problem}.")


def check_update(live: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Immutable properties, osSKU family and version downgrades on an existing pool."""
    for key in IMMUTABLE_PROPERTIES:
        # A property the live pool never showed holds the server default.
        before = _comparable(key, live.get(key, defaults.get(key)))
        if before != _comparable(key, new.get(key, defaults.get(key))):
            raise property_change(key)
    old_sku, new_sku = live.get("osSKU"), new.get("osSKU")
    if old_sku and not sku_change_allowed(old_sku, new_sku):
        raise property_change("osSKU")
    old_version, new_version = live.get("orchestratorVersion"), new.get("orchestratorVersion")
    if old_version and new_version and is_downgrade(old_version, new_version):
        raise AksApiError(400, "OperationNotAllowed",
                          f"Downgrading orchestratorVersion from '{old_version}' to "
                          f"'{new_version}' is not allowed.")


SCALING_PROPERTIES = ("count", "enableAutoScaling", "minCount", "maxCount")


def power_transition(name: str, live: dict[str, Any], new: dict[str, Any]) -> None:
    """Stopping and starting: only user pools stop; a stopped pool is not scaled; a stop
    deallocates every node (count 0, no autoscaler), as AKS reports a stopped pool."""
    was = rules.power_code(live.get("powerState")) or rules.RUNNING
    now = rules.power_code(new.get("powerState")) or was
    if now == rules.STOPPED and was != rules.STOPPED:
        if new.get("mode", live.get("mode")) == "System":
            raise AksApiError(400, "OperationNotAllowed", f"The agent pool '{name}' is a "
                              "System pool; System agent pools cannot be stopped.")
        new.update(count=0, enableAutoScaling=False)
    elif now == rules.STOPPED and any(new.get(key) != live.get(key)
                                      for key in SCALING_PROPERTIES):
        raise AksApiError(400, "OperationNotAllowed", f"The agent pool '{name}' is stopped; "
                          "start it before changing its node count or autoscaler.")
    if now != was or "powerState" in new:
        new["powerState"] = {"code": now}


def property_change(key: str) -> AksApiError:
    """The 400 PropertyChangeNotAllowed error AKS sends for an immutable property."""
    message = f"Changing property '{key}' is not allowed."
    return AksApiError(400, "PropertyChangeNotAllowed", message)


def is_downgrade(old: str, new: str) -> bool:
    """AKS's downgrade rule (``rules.is_downgrade``), after AKS's check of the version."""
    if not all(part.isdigit() for part in new.split(".")):
        raise invalid(f"The orchestratorVersion '{new}' is not a valid version.")
    return rules.is_downgrade(old, new)


def _comparable(key: str, value: Any) -> Any:
    """Normalise a property so equal settings compare equal (zones as a set, prices as floats)."""
    if key == "availabilityZones":
        return frozenset(str(z) for z in value or ())
    if key == "spotMaxPrice" and value is not None:
        return float(value)
    return value

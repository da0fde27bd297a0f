"""AKS's pool rules, each written once: the facts, the check ``validate`` runs on a file,
and the checks ``plan`` runs before any write. The simulated AKS server
(``providers/local/checks``) enforces the same facts from here.

They reach the provider-neutral planner through ``Capabilities`` hooks (see
``capabilities.aks_capabilities``); nothing outside this package imports them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from reconciler.model import OWNER_TAG_KEY, NodePool
from reconciler.plan import Action, FieldChange, PlanError
from reconciler.providers.aks.mapping import SPOT_TAINT

WINDOWS_NAME_MAX = 6
SYSTEM_MIN_NODES = 1
# osSKU may change in place only within this family.
# osSKU moves in place between the Ubuntu* and AzureLinux* SKUs (Terraform's CustomizeDiff
# for kubernetes_cluster_node_pool: any other change rotates the pool).
LINUX_SKU_PREFIXES = ("Ubuntu", "AzureLinux")
VERSION_FIELD = ("extensions", "aks", "orchestratorVersion")
POWER_FIELD = ("extensions", "aks", "powerState")
STOPPED, RUNNING = "Stopped", "Running"
OS_SKU_FIELD = ("extensions", "aks", "osSKU")


# -- the facts ------------------------------------------------------------------------


def spot_system(mode: object, priority: object) -> bool:
    """Spot pools must be user pools."""
    return str(mode).lower() == "system" and str(priority).lower() == "spot"


def windows_system(mode: object, os_type: object) -> bool:
    """System pools run Linux."""
    return str(mode).lower() == "system" and str(os_type).lower() == "windows"


def windows_name_too_long(name: str, os_type: object) -> bool:
    """Windows pool names have at most WINDOWS_NAME_MAX characters."""
    return str(os_type).lower() == "windows" and len(name) > WINDOWS_NAME_MAX


def sku_change_allowed(before: object, after: object) -> bool:
    """osSKU changes in place only between Ubuntu and Azure Linux SKUs."""
    return before == after or all(str(sku).startswith(LINUX_SKU_PREFIXES)
                                  for sku in (before, after))


RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
MAX_MINOR_SKEW = 2


def reserved_label_domain(key: str) -> bool:
    """Label keys under kubernetes.io or k8s.io (and their subdomains) are Kubernetes's;
    AKS refuses them in nodeLabels."""
    prefix, sep, _ = key.rpartition("/")
    return bool(sep) and any(prefix == domain or prefix.endswith("." + domain)
                             for domain in RESERVED_LABEL_DOMAINS)


def version_skew_problem(version: object, control_plane: str) -> str | None:
    """Why AKS would refuse a pool at ``version`` under a control plane at
    ``control_plane``: newer than it, or more than two minor versions behind."""
    if not version:
        return None
    pool, plane = _parts(version), _parts(control_plane)
    if len(pool) < 2 or len(plane) < 2:
        return None
    if pool > plane[:len(pool)]:
        return (f"version {version} is newer than the control plane's {control_plane}; "
                "upgrade the control plane first")
    if pool[0] != plane[0] or plane[1] - pool[1] > MAX_MINOR_SKEW:
        return (f"version {version} is more than {MAX_MINOR_SKEW} minor versions behind the"
                f" control plane's {control_plane}")
    return None


def is_downgrade(before: object, after: object) -> bool:
    """True when ``after`` is an older version, comparing only the parts both give
    ("1.30" against "1.30.4" is not a downgrade)."""
    if before is None or after is None:
        return False
    wanted = _parts(after)
    return wanted < _parts(before)[:len(wanted)]


def _parts(version: object) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(version)))


# -- validate: one pool as written in a file ------------------------------------------


def pool_problems(pool: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(field, message) for each AKS rule a file's pool breaks on its own."""
    aks = _extension(pool.get("extensions"))
    if spot_system(pool.get("mode"), pool.get("priority")):
        yield ("priority",), "spot pools must be user pools (mode: user); system pools need" \
            " regular VMs"
    labels = pool.get("labels")
    for key in labels if isinstance(labels, dict) else ():
        if isinstance(key, str) and reserved_label_domain(key):
            yield ("labels", key), f"label '{key}': keys under kubernetes.io and k8s.io are" \
                " reserved by Kubernetes and AKS refuses them"
    surge = aks.get("upgradeSettings", {}).get("maxSurge") if isinstance(
        aks.get("upgradeSettings"), dict) else None
    if str(pool.get("priority", "")).lower() == "spot" and surge:
        yield ("extensions", "aks", "upgradeSettings", "maxSurge"), "spot pools do not" \
            " support maxSurge (AKS refuses it); remove it"
    if str(pool.get("mode", "")).lower() == "system" and power_code(aks.get("powerState")) \
            == STOPPED:
        yield (*POWER_FIELD, "code"), "AKS cannot stop a system pool; stop user pools," \
            " or stop the whole cluster"
    name = pool.get("name")
    if isinstance(name, str) and windows_name_too_long(name, aks.get("osType")):
        yield ("name",), f"invalid pool name '{name}': Windows pools have at most" \
            f" {WINDOWS_NAME_MAX} characters"


def _extension(extensions: object) -> dict[str, Any]:
    aks = extensions.get("aks") if isinstance(extensions, dict) else None
    return aks if isinstance(aks, dict) else {}


# -- plan: changes and actions, with the live pools -----------------------------------


def change_problem(pool: str, change: FieldChange) -> PlanError | None:
    """A change AKS refuses on an existing pool for a reason other than immutability."""
    if change.path == OS_SKU_FIELD and change.before is not None \
            and not sku_change_allowed(change.before, change.after):
        return PlanError(pool, change.path, change.before, change.after,
                         "osSKU can only change between Ubuntu and Azure Linux SKUs; add a new pool"
                         f" with the new osSKU and remove '{pool}'; the plan creates before it"
                         " deletes")
    if change.path == VERSION_FIELD and is_downgrade(change.before, change.after):
        return PlanError(pool, change.path, change.before, change.after,
                         "Kubernetes versions can only be upgraded, never downgraded; keep"
                         f" {change.before} or a later version")
    return None


def power_code(value: object) -> str | None:
    """``Running`` / ``Stopped`` from a powerState object (``{"code": "Stopped"}``)."""
    code = value.get("code") if isinstance(value, dict) else None
    return str(code) if code is not None else None


def _stops(change: FieldChange) -> bool:
    if change.path == (*POWER_FIELD, "code"):
        return change.after == STOPPED
    return change.path == POWER_FIELD and power_code(change.after) == STOPPED


def frozen_fields(desired: NodePool, live: NodePool) -> tuple[tuple[str, ...], str] | None:
    """A stopped pool has no nodes and no autoscaler (AKS reports count 0): its scaling
    cannot change, and is not compared, until the file starts it; stopping it likewise."""
    wanted, have = power_code(_aks_value(desired, "powerState")), \
        power_code(_aks_value(live, "powerState"))
    if have == STOPPED and wanted != RUNNING:
        return ("autoscaling",), "the pool is stopped; its scaling applies once it runs" \
            " (extensions.aks.powerState.code: Running starts it)"
    if wanted == STOPPED and have != STOPPED:
        return ("autoscaling",), "the pool is being stopped; AKS sets its count to 0"
    return None


def action_problems(creates: Sequence[Action], updates: Sequence[Action]) -> list[PlanError]:
    """Rules on what a pool is after the action: the file's values, else the live ones."""
    errors = []
    for action in (*creates, *updates):
        desired, live = action.desired, action.live
        mode = _effective(desired, live, "mode")
        if action.live is not None and spot_system(mode, _effective(desired, live, "priority")):
            errors.append(PlanError(action.pool, ("mode",), live.mode if live else None, mode,
                                    f"'{action.pool}' is a spot pool and spot pools must be user"
                                    " pools; add a regular-priority pool with mode: system"))
        if windows_system(mode, _aks_value(desired, "osType") or _aks_value(live, "osType")):
            errors.append(PlanError(action.pool, ("mode",), live.mode if live else None,
                                    "system", f"'{action.pool}' is a Windows pool and system"
                                    " pools must run Linux; add a Linux pool with mode: system"))
        if live is not None:
            errors.extend(_system_nodes(action, str(mode).lower()))
        surge = _aks_value(desired, "upgradeSettings")
        if action.live is not None and isinstance(surge, dict) and surge.get("maxSurge") \
                and str(_effective(desired, live, "priority")).lower() == "spot":
            errors.append(PlanError(action.pool, ("extensions", "aks", "upgradeSettings",
                                                  "maxSurge"), None, surge.get("maxSurge"),
                                    f"'{action.pool}' is a spot pool and spot pools do not"
                                    " support maxSurge (AKS refuses it); remove it"))
        stop = next((change for change in action.changes if _stops(change)), None)
        if stop is not None and str(mode).lower() == "system":
            errors.append(PlanError(action.pool, stop.path, stop.before, stop.after,
                                    f"'{action.pool}' is a system pool and AKS cannot stop"
                                    " system pools; stop user pools, or the whole cluster"))
    return errors


def _system_nodes(action: Action, mode: str) -> list[PlanError]:
    """A pool that is (or becomes) a system pool needs a node, live or planned."""
    assert action.live is not None
    scaling = (action.desired.autoscaling if action.desired else None) or action.live.autoscaling
    if mode != "system" or scaling is None:
        return []
    path, count = (("autoscaling", "min"), scaling.min) if scaling.enabled else \
        (("autoscaling", "desired"), scaling.desired)
    field = ".".join(path)
    if count is None or count >= SYSTEM_MIN_NODES:
        return []
    return [PlanError(action.pool, path, None, None,
                      f"'{action.pool}' would be a system pool with {field} {count}; system"
                      f" pools need at least {SYSTEM_MIN_NODES} node: set {field} to"
                      f" {SYSTEM_MIN_NODES} or more")]


def _effective(desired: NodePool | None, live: NodePool | None, attr: str) -> Any:
    value = getattr(desired, attr, None) if desired is not None else None
    if value is None and live is not None:
        value = getattr(live, attr, None)
    return str(value).lower() if value is not None else None


def _aks_value(pool: NodePool | None, key: str) -> object:
    return ((pool.extensions or {}).get("aks") or {}).get(key) if pool is not None else None


# -- comparing and exporting extensions.aks values ------------------------------------


def extension_value(key: str, value: Any) -> Any:
    """``extensions.aks.KEY`` as compared and exported: without what AKS or the tool adds
    (the spot taint, the ownership tag), taints as a sorted set, and none the same as an
    empty list or mapping."""
    if key == "nodeTaints" and isinstance(value, list | tuple | None):
        return sorted(str(taint) for taint in value or () if taint != SPOT_TAINT)
    if key == "tags" and isinstance(value, dict | None):
        return {k: v for k, v in (value or {}).items() if k != OWNER_TAG_KEY}
    return value


def extension_satisfied(key: str, wanted: Any, live: Any) -> bool:
    """A live value that meets what the file asks without being equal to it: a version
    prefix ("1.30" asks for the 1.30 line; a live 1.30.4 satisfies it)."""
    if key != "orchestratorVersion" or not isinstance(wanted, str) or \
            not isinstance(live, str):
        return False
    want, have = wanted.split("."), live.split(".")
    return len(want) < len(have) and have[:len(want)] == want


def owner_of(pool: NodePool) -> str | None:
    """The ownership marker's value on a live pool (another tool's name, when adopting)."""
    owner = ((pool.extensions or {}).get("aks") or {}).get("tags", {}).get(OWNER_TAG_KEY)
    return str(owner) if owner is not None else None


# -- replacing a pool (immutableChanges: replace) -------------------------------------

# The live pool's properties a replacement keeps where the file is silent: what workloads
# and the network rely on. Spot settings follow only a pool that stays spot; the power
# state, versions of the image and create-only profiles start afresh.
KEPT_ON_REPLACE = ("nodeTaints", "tags", "maxPods", "osType", "osSKU", "orchestratorVersion",
                   "upgradeSettings", "kubeletDiskType", "vnetSubnetID", "podSubnetID",
                   "scaleDownMode", "enableNodePublicIP", "kubeletConfig", "linuxOSConfig",
                   "enableEncryptionAtHost", "enableFIPS", "workloadRuntime")
KEPT_WHEN_SPOT = ("spotMaxPrice", "scaleSetEvictionPolicy")


def replacement_extensions(desired: NodePool, live: NodePool) -> dict[str, dict[str, Any]]:
    """``extensions.aks`` of the pool replacing ``live``: the file's values, and the live
    ones of ``KEPT_ON_REPLACE`` (and of ``KEPT_WHEN_SPOT`` for a spot pool) it lacks."""
    have = (live.extensions or {}).get("aks") or {}
    priority = str(desired.priority or live.priority or "regular").lower()
    keys = KEPT_ON_REPLACE + (KEPT_WHEN_SPOT if priority == "spot" else ())
    aks = {key: have[key] for key in keys if key in have and have[key] is not None}
    aks.update((desired.extensions or {}).get("aks") or {})
    return {**(desired.extensions or {}), "aks": aks} if aks else dict(desired.extensions or {})

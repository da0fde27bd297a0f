"""What the planner may know about AKS agent pools before any write (see docs/aks.md)."""

from __future__ import annotations

import reconciler.providers.aks.mapping as mapping
import reconciler.providers.aks.rules as rules
from reconciler.model import Capabilities

# Agent pool names: the 2026-08-01 spec's pattern; Windows pools are further capped at 6.
NAME_PATTERN = r"^[a-z][a-z0-9]{0,11}$"
NAME_RULE = (
    "lowercase letter first, then up to 11 lowercase letters or digits; "
    "Windows pools at most 6 characters"
)
MAX_POOLS = 100
RESERVED_LABEL_PREFIXES = ("kompox.dev/", "kubernetes.azure.com/")

# How each agentPool property may change on an existing pool, with the evidence (one table;
# docs/aks.md shows it and a test keeps the two equal). "no": rejected at plan time with
# the remedy; "yes": in place; "family"/"upgrade": in place within a rule of rules.py.
# TF: terraform-provider-azurerm kubernetes_cluster_node_pool (ForceNew, or in the list of
# properties it can only change by rotating the pool); CLI: az aks nodepool update.
TF_FORCE_NEW = "Terraform: ForceNew"
TF_ROTATES = "Terraform: changed only by rotating the pool"
CREATE_ONLY = "no update path in the API docs, az aks nodepool update or Terraform"
MUTABILITY: dict[str, tuple[str, str]] = {
    "vmSize": ("no", TF_ROTATES + " (in-place resize is preview-only)"),
    "osDiskType": ("no", TF_ROTATES),
    "osDiskSizeGB": ("no", TF_ROTATES),
    "scaleSetPriority": ("no", TF_FORCE_NEW),
    "availabilityZones": ("no", TF_ROTATES),
    "mode": ("yes", "CLI --mode; the last System pool cannot become User"),
    "nodeLabels": ("yes", "CLI --labels"),
    "enableAutoScaling": ("yes", "CLI --enable-cluster-autoscaler"),
    "minCount": ("yes", "CLI --min-count"),
    "maxCount": ("yes", "CLI --max-count"),
    "count": ("yes", "az aks nodepool scale"),
    "nodeTaints": ("yes", "CLI --node-taints"),
    "tags": ("yes", "CLI --tags"),
    "orchestratorVersion": ("upgrade", "az aks nodepool upgrade; never a downgrade"),
    "upgradeSettings": ("yes", "CLI --max-surge, --drain-timeout, --undrainable-node-behavior"),
    "powerState": ("yes", "az aks nodepool stop / start (user pools)"),
    "scaleDownMode": ("yes", "CLI --scale-down-mode"),
    "enableFIPS": ("yes", "CLI --enable-fips-image / --disable-fips-image (2.64+, reimages"
                   " nodes); Terraform still rotates"),
    "osSKU": ("family", "Terraform CustomizeDiff: in place between Ubuntu* and AzureLinux*"
              " SKUs, otherwise rotation"),
    "maxPods": ("no", TF_ROTATES),
    "osType": ("no", TF_FORCE_NEW),
    "spotMaxPrice": ("no", TF_FORCE_NEW),
    "scaleSetEvictionPolicy": ("no", TF_FORCE_NEW),
    "kubeletDiskType": ("no", TF_ROTATES),
    "kubeletConfig": ("no", TF_ROTATES),
    "linuxOSConfig": ("no", TF_ROTATES),
    "vnetSubnetID": ("no", TF_ROTATES),
    "podSubnetID": ("no", TF_ROTATES),
    "podIPAllocationMode": ("no", CREATE_ONLY),
    "enableNodePublicIP": ("no", TF_ROTATES),
    "nodePublicIPPrefixID": ("no", TF_FORCE_NEW),
    "proximityPlacementGroupID": ("no", TF_FORCE_NEW),
    "capacityReservationGroupID": ("no", TF_FORCE_NEW),
    "hostGroupID": ("no", TF_FORCE_NEW),
    "enableEncryptionAtHost": ("no", TF_ROTATES),
    "enableUltraSSD": ("no", TF_ROTATES),
    "creationData": ("no", TF_ROTATES + " (snapshot_id)"),
    "gpuInstanceProfile": ("no", TF_FORCE_NEW),
    "gpuProfile": ("no", TF_FORCE_NEW + " (gpu_driver)"),
    "windowsProfile": ("no", TF_FORCE_NEW),
    "workloadRuntime": ("no", CREATE_ONLY),
    "messageOfTheDay": ("no", CREATE_ONLY),
    "type": ("no", CREATE_ONLY),
    "networkProfile": ("no", CREATE_ONLY),
    "securityProfile": ("no", CREATE_ONLY),
    "gatewayProfile": ("no", CREATE_ONLY),
    "artifactStreamingProfile": ("no", CREATE_ONLY),
    "virtualMachinesProfile": ("no", CREATE_ONLY),
    "localDNSProfile": ("no", CREATE_ONLY),
}
# Neutral model fields -> the agentPool property they map to (the rest are extensions.aks).
NEUTRAL_FIELDS = {"instanceType": "vmSize", "osDiskType": "osDiskType",
                  "osDiskSizeGiB": "osDiskSizeGB", "priority": "scaleSetPriority",
                  "zones": "availabilityZones"}


def _plan_path(prop: str) -> tuple[str, ...]:
    neutral = {v: k for k, v in NEUTRAL_FIELDS.items()}
    return (neutral[prop],) if prop in neutral else ("extensions", "aks", prop)


# Plan field paths that AKS refuses to change on an existing pool.
IMMUTABLE_FIELDS = frozenset(_plan_path(prop) for prop, (how, _) in MUTABILITY.items()
                             if how == "no")
IMMUTABLE_PROPERTIES = tuple(prop for prop, (how, _) in MUTABILITY.items() if how == "no")

# Extension fields worth pinning in an exported file; versions and upgrade knobs are left to
# the user (kept and refreshed only when the existing file already pins them).
EXPORTED_EXTENSIONS = ("nodeTaints", "tags", "maxPods", "osType", "osSKU", "spotMaxPrice",
                       "scaleSetEvictionPolicy", "powerState")


def aks_capabilities(location: str | None) -> Capabilities:
    """The AKS rules shared by the ``aks`` and ``local`` providers."""
    return Capabilities(
        immutable_fields=IMMUTABLE_FIELDS,
        name_pattern=NAME_PATTERN,
        name_rule=NAME_RULE,
        max_pools=MAX_POOLS,
        location=location,
        reserved_label_prefixes=RESERVED_LABEL_PREFIXES,
        extension_namespace="aks",
        exported_extensions=EXPORTED_EXTENSIONS,
        pool_problems=rules.pool_problems,
        change_problem=rules.change_problem,
        action_problems=rules.action_problems,
        extension_value=rules.extension_value,
        extension_satisfied=rules.extension_satisfied,
        owner_of=rules.owner_of,
        zone_label=mapping.zone_label,
        frozen_fields=rules.frozen_fields,
        export_defaults={"powerState": {"code": rules.RUNNING}},
        replaces=True,
        replacement_extensions=rules.replacement_extensions,
    )

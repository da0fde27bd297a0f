"""NodePool <-> ARM agentPool mapping, checked against the real AKS example payloads."""

from __future__ import annotations

import copy

import pytest
from aks_examples import POOL_EXAMPLES, example

from reconciler.model import Autoscaling, NodePool, PoolStatus
from reconciler.providers.aks.capabilities import aks_capabilities
from reconciler.providers.aks.mapping import (
    SPOT_TAINT,
    arm_for_create,
    arm_for_update,
    pool_from_arm,
)

SPOT_LABEL = {"kubernetes.azure.com/scalesetpriority": "spot"}


def spot_live() -> dict:
    """The Spot example as AKS really lists it: with the server's label and taint."""
    raw = example("AgentPoolsCreate_Spot.json")
    props = raw["properties"]
    props["nodeLabels"] = {**props["nodeLabels"], **SPOT_LABEL,
                           "kompox.dev/node-pool": "agentpool1"}
    props["nodeTaints"] = [*props["nodeTaints"], SPOT_TAINT]
    props["tags"] = {**props["tags"], "managed-by": "reconciler"}
    props["eTag"] = "abcdefghijk"
    return raw


def test_get_example_reads_as_the_model() -> None:
    pool = pool_from_arm(example("AgentPoolsGet.json"), "eastus")
    assert pool == NodePool(
        name="agentpool1", provider_name="agentpool1", mode=None, labels={}, zones=(),
        instance_type="Standard_DS1_v2", priority="regular",
        autoscaling=Autoscaling(enabled=False, desired=3),
        status=PoolStatus("Succeeded", 3),
        extensions={"aks": {"orchestratorVersion": "1.9.6", "maxPods": 110, "osType": "Linux",
                            "upgradeSettings": {"maxSurge": "33%"}}},
        managed=False)
    assert pool.etag == "ebwiyfneowv"


def test_autoscaler_example_reads_min_max_and_spot() -> None:
    pool = pool_from_arm(example("AgentPools_Update.json"), None)
    assert pool.autoscaling == Autoscaling(enabled=True, min=2, max=2, desired=3)
    assert pool.priority == "spot"
    assert pool.extensions["aks"]["scaleSetEvictionPolicy"] == "Delete"


def test_spot_noise_and_ownership_tag_are_not_user_settings() -> None:
    pool = pool_from_arm(spot_live(), "eastus")
    assert pool.extensions["aks"]["nodeTaints"] == ["Key1=Value1:NoSchedule"]
    assert pool.extensions["aks"]["tags"] == {"name1": "val1"}
    assert pool.managed is True
    # Labels come back whole: the planner filters reserved prefixes itself.
    assert pool.labels == {"key1": "val1", **SPOT_LABEL, "kompox.dev/node-pool": "agentpool1"}


@pytest.mark.parametrize(("zones", "location", "expected"), [
    (["2", "1"], "japaneast", ("japaneast-1", "japaneast-2")),
    (["3"], None, ("3",)),
    ([], "japaneast", ()),
])
def test_zones_read_as_a_sorted_set_in_model_form(zones, location, expected) -> None:
    raw = example("AgentPoolsGet.json")
    raw["properties"]["availabilityZones"] = zones
    assert pool_from_arm(raw, location).zones == expected


def test_create_body_maps_every_set_field_and_marks_ownership() -> None:
    pool = NodePool(
        name="batch", mode="user", labels={"team": "data"},
        zones=("japaneast-2", "japaneast-1"), instance_type="Standard_D8s_v5",
        os_disk_type="Ephemeral", os_disk_size_gib=64, priority="spot",
        autoscaling=Autoscaling(enabled=True, min=2, max=5, desired=9),
        extensions={"aks": {"nodeTaints": ["workload=batch:NoSchedule"], "maxPods": 50,
                            "tags": {"cost": "x"}, "upgradeSettings": {"maxSurge": "1"}}})
    assert arm_for_create(pool) == {"properties": {
        "mode": "User", "vmSize": "Standard_D8s_v5", "osDiskType": "Ephemeral",
        "osDiskSizeGB": 64, "scaleSetPriority": "Spot", "availabilityZones": ["1", "2"],
        "enableAutoScaling": True, "minCount": 2, "maxCount": 5, "count": 2,
        "nodeTaints": ["workload=batch:NoSchedule"], "maxPods": 50,
        "tags": {"cost": "x", "managed-by": "reconciler"},
        "upgradeSettings": {"maxSurge": "1"},
        # two zones: no kompox.dev/node-zone, which would mislabel the other zone's nodes
        "nodeLabels": {"team": "data", "kompox.dev/node-pool": "batch"},
    }}


def test_create_without_autoscaler_sends_desired_as_count() -> None:
    body = arm_for_create(NodePool(name="web", priority="regular",
                                   autoscaling=Autoscaling(enabled=False, desired=4)))
    assert body == {"properties": {
        "scaleSetPriority": "Regular", "count": 4,
        "tags": {"managed-by": "reconciler"},
        "nodeLabels": {"kompox.dev/node-pool": "web"}}}


def test_zone_label_is_kompox_form_and_only_for_one_zone() -> None:
    """Kompox's own template labels npuser1 (zone 1) with node-zone '1', and apps select
    on that value; a pool in two zones gets no zone label at all."""
    one = arm_for_create(NodePool(name="web", zones=("westus2-1",)))
    assert one["properties"]["availabilityZones"] == ["1"]
    assert one["properties"]["nodeLabels"]["kompox.dev/node-zone"] == "1"
    two = arm_for_create(NodePool(name="web", zones=("3", "2")))
    assert two["properties"]["availabilityZones"] == ["2", "3"]
    assert "kompox.dev/node-zone" not in two["properties"]["nodeLabels"]


def test_create_keeps_scheduling_labels_the_pool_gives() -> None:
    body = arm_for_create(NodePool(name="npuser1", zones=("1",), labels={
        "kompox.dev/node-pool": "user", "team": "a"}))
    assert body["properties"]["nodeLabels"] == {
        "kompox.dev/node-pool": "user", "kompox.dev/node-zone": "1", "team": "a"}


@pytest.mark.parametrize("file_name", POOL_EXAMPLES)
def test_listed_pool_patched_with_itself_changes_nothing(file_name: str) -> None:
    listed = example(file_name)
    assert arm_for_update(listed, pool_from_arm(listed, "eastus")) is None


def test_update_changes_only_the_planned_field_and_strips_read_only() -> None:
    listed = example("AgentPoolsGet.json")
    body = arm_for_update(listed, NodePool(name="agentpool1",
                                           autoscaling=Autoscaling(desired=5)))
    assert body == {"properties": {
        "count": 5, "maxPods": 110, "orchestratorVersion": "1.9.6", "osType": "Linux",
        "upgradeSettings": {"maxSurge": "33%"}, "vmSize": "Standard_DS1_v2"}}
    assert listed == example("AgentPoolsGet.json")  # the listed pool is not modified


def test_update_never_sends_power_state_back() -> None:
    body = arm_for_update(example("AgentPools_Stop.json"),
                          NodePool(labels={"a": "b"}))
    assert "powerState" not in body["properties"]
    assert "provisioningState" not in body["properties"]


def test_labels_replace_user_labels_and_keep_server_and_driver_labels() -> None:
    listed = spot_live()
    body = arm_for_update(listed, NodePool(labels={"team": "x", "kubernetes.azure.com/y": "z"}))
    assert body["properties"]["nodeLabels"] == {
        "team": "x", **SPOT_LABEL, "kompox.dev/node-pool": "agentpool1"}


def test_taints_are_the_complete_list_but_keep_the_spot_taint() -> None:
    patch = NodePool(extensions={"aks": {"nodeTaints": ["a=b:NoExecute"]}})
    body = arm_for_update(spot_live(), patch)
    assert body["properties"]["nodeTaints"] == ["a=b:NoExecute", SPOT_TAINT]
    same = NodePool(extensions={"aks": {"nodeTaints": ["Key1=Value1:NoSchedule"]}})
    assert arm_for_update(spot_live(), same) is None


def test_tags_replace_user_tags_and_keep_the_ownership_tag() -> None:
    body = arm_for_update(spot_live(), NodePool(extensions={"aks": {"tags": {"env": "prod"}}}))
    assert body["properties"]["tags"] == {"env": "prod", "managed-by": "reconciler"}


def test_adopting_a_pool_adds_the_ownership_tag_and_only_the_labels_the_patch_names() -> None:
    listed = example("AgentPoolsCreate_Update.json")
    listed["properties"]["availabilityZones"] = ["2", "1"]
    listed["properties"]["nodeLabels"] = {"key1": "val1", "kompox.dev/node-pool": "user",
                                          "kompox.dev/node-zone": "1"}
    body = arm_for_update(listed, NodePool(managed=True))
    assert body["properties"]["tags"] == {"name1": "val1", "managed-by": "reconciler"}
    # Kompox's own values stay: the plan showed no change to them
    assert body["properties"]["nodeLabels"] == listed["properties"]["nodeLabels"]
    relabel = arm_for_update(listed, NodePool(managed=True, labels={
        "key1": "val1", "kompox.dev/node-pool": "apps"}))
    assert relabel["properties"]["nodeLabels"] == {
        "key1": "val1", "kompox.dev/node-pool": "apps", "kompox.dev/node-zone": "1"}


def test_zones_in_another_order_or_form_change_nothing() -> None:
    listed = example("AgentPoolsGet.json")
    listed["properties"]["availabilityZones"] = ["2", "1"]
    assert arm_for_update(listed, NodePool(zones=("japaneast-1", "2"))) is None
    body = arm_for_update(listed, NodePool(zones=("1",)))
    assert body["properties"]["availabilityZones"] == ["1"]


def test_turning_the_autoscaler_off_clears_bounds_and_sets_the_count() -> None:
    listed = example("AgentPools_Update.json")
    body = arm_for_update(listed, NodePool(autoscaling=Autoscaling(enabled=False, desired=4)))
    props = body["properties"]
    assert (props["enableAutoScaling"], props["count"]) == (False, 4)
    assert props["minCount"] is None and props["maxCount"] is None


def test_new_autoscaler_bounds_pull_the_count_inside_them() -> None:
    listed = example("AgentPools_Update.json")  # count 3, min 2, max 2
    body = arm_for_update(listed, NodePool(autoscaling=Autoscaling(min=4, max=6)))
    assert (body["properties"]["minCount"], body["properties"]["count"]) == (4, 4)


def test_desired_is_ignored_while_the_autoscaler_is_on() -> None:
    listed = example("AgentPools_Update.json")
    assert arm_for_update(listed, NodePool(autoscaling=Autoscaling(desired=10))) is None


def test_update_does_not_mutate_its_inputs() -> None:
    listed, patch_taints = spot_live(), ["a=b:NoSchedule"]
    before = copy.deepcopy(listed)
    arm_for_update(listed, NodePool(extensions={"aks": {"nodeTaints": patch_taints}}))
    assert listed == before and patch_taints == ["a=b:NoSchedule"]


def test_capabilities_name_the_immutable_fields_and_name_rule() -> None:
    caps = aks_capabilities("japaneast")
    assert {("instanceType",), ("zones",), ("extensions", "aks", "maxPods")} \
        <= caps.immutable_fields
    assert ("mode",) not in caps.immutable_fields and ("labels",) not in caps.immutable_fields
    assert caps.location == "japaneast" and caps.max_pools == 100
    assert caps.reserved_label_prefixes == ("kompox.dev/", "kubernetes.azure.com/")


def test_update_of_one_upgrade_setting_keeps_the_others() -> None:
    listed = example("AgentPoolsGet.json")
    listed["properties"]["upgradeSettings"] = {"maxSurge": "10%", "drainTimeoutInMinutes": 45}
    body = arm_for_update(listed, NodePool(name="agentpool1", extensions={
        "aks": {"upgradeSettings": {"maxSurge": "33%"}}}))
    assert body is not None
    assert body["properties"]["upgradeSettings"] == {"maxSurge": "33%",
                                                     "drainTimeoutInMinutes": 45}


def test_adoption_of_a_pool_whose_tags_are_null() -> None:
    listed = example("AgentPoolsGet.json")
    listed["properties"]["tags"] = None
    body = arm_for_update(listed, NodePool(name="agentpool1", managed=True))
    assert body is not None and body["properties"]["tags"] == {"managed-by": "reconciler"}

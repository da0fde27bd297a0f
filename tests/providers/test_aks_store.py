"""AgentPoolStore: the AKS server-side rules shared by the local provider and the emulator."""

from __future__ import annotations

import pytest
from aks_examples import example, example_request

from reconciler.providers.aks.mapping import SPOT_TAINT
from reconciler.providers.local.store import AgentPoolStore, AksApiError

LAST_SYSTEM = "There has to be at least one system agent pool."


def body(**props: object) -> dict:
    """A PUT body with the given properties."""
    return {"properties": dict(props)}


def edit(store: AgentPoolStore, name: str, **props: object) -> dict:
    """The PUT body a client sends to change ``props`` (None: remove) of pool ``name``: the
    pool as it is, with those changes, since a PUT replaces the pool (ARM semantics); a
    plain body for a pool that does not exist yet."""
    live = store.get(name)
    if live is None:
        return body(**props)
    current = {k: v for k, v in live["properties"].items()
               if k not in {"eTag", "provisioningState", "currentOrchestratorVersion"}}
    current.update(props)
    return {"properties": {k: v for k, v in current.items() if v is not None}}


@pytest.fixture
def store() -> AgentPoolStore:
    """A cluster with one System pool and one User pool."""
    store = AgentPoolStore(location="japaneast", kubernetes_version="1.30.2",
                           subscription_id="sub", resource_group="rg", cluster_name="demo")
    store.put("system", body(mode="System", count=2, availabilityZones=["1", "2"]))
    store.put("user", body(vmSize="Standard_D8s_v5", count=0))
    return store


def rejects(call, status: int, code: str, message: str) -> None:
    """Assert that ``call`` fails as AKS would, with ``message`` in the text."""
    with pytest.raises(AksApiError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code)
    assert message in caught.value.message


def test_create_fills_aks_defaults_and_server_fields(store: AgentPoolStore) -> None:
    pool, created = store.put("web", body(count=2))
    assert created is True
    assert pool["id"] == ("/subscriptions/sub/resourceGroups/rg/providers/Microsoft."
                          "ContainerService/managedClusters/demo/agentPools/web")
    assert pool["type"] == "Microsoft.ContainerService/managedClusters/agentPools"
    props = pool["properties"]
    assert {k: props[k] for k in ("mode", "osType", "osDiskType", "osDiskSizeGB", "maxPods",
                                  "scaleSetPriority", "orchestratorVersion",
                                  "currentOrchestratorVersion", "provisioningState", "count")} == {
        "mode": "User", "osType": "Linux", "osDiskType": "Managed", "osDiskSizeGB": 128,
        "maxPods": 110, "scaleSetPriority": "Regular", "orchestratorVersion": "1.30.2",
        "currentOrchestratorVersion": "1.30.2", "provisioningState": "Succeeded", "count": 2}
    assert props["nodeImageVersion"] and len(props["eTag"]) >= 8


def test_spot_example_request_gains_the_server_noise() -> None:
    store = AgentPoolStore()
    pool, _ = store.put("agentpool1", example_request("AgentPoolsCreate_Spot.json"))
    props = pool["properties"]
    assert props["nodeLabels"] == {"key1": "val1", "kubernetes.azure.com/scalesetpriority": "spot"}
    assert props["nodeTaints"] == ["Key1=Value1:NoSchedule", SPOT_TAINT]
    assert (props["spotMaxPrice"], props["scaleSetEvictionPolicy"]) == (-1, "Delete")
    # Rewriting the labels does not remove the server's spot label.
    again, created = store.put("agentpool1", edit(store, "agentpool1", nodeLabels={}))
    assert created is False
    assert again["properties"]["nodeLabels"] == {"kubernetes.azure.com/scalesetpriority": "spot"}


def test_every_write_gets_a_new_etag(store: AgentPoolStore) -> None:
    seen = {store.get("user")["properties"]["eTag"]}
    for count in (1, 2, 2):  # even a write that changes nothing
        seen.add(store.put("user", edit(store, "user", count=count))[0]["properties"]["eTag"])
    assert len(seen) == 4


def test_if_match_accepts_the_current_etag_only(store: AgentPoolStore) -> None:
    etag = store.get("user")["properties"]["eTag"]
    store.put("user", edit(store, "user", count=3), if_match=etag)
    rejects(lambda: store.put("user", edit(store, "user", count=4), if_match=etag),
            412, "PreconditionFailed", "eTag")
    rejects(lambda: store.delete("user", if_match=etag), 412, "PreconditionFailed", "eTag")
    rejects(lambda: store.put("ghost", body(), if_match=etag), 412, "PreconditionFailed", "")
    assert store.get("user")["properties"]["count"] == 3
    assert store.get("ghost") is None


def test_if_none_match_star_refuses_an_existing_pool(store: AgentPoolStore) -> None:
    rejects(lambda: store.put("user", edit(store, "user", ), if_none_match="*"),
            412, "PreconditionFailed", "already exists")
    assert store.put("fresh", edit(store, "fresh", ), if_none_match="*")[1] is True


@pytest.mark.parametrize(("name", "props", "message"), [
    ("Web", {}, "The agent pool name 'Web' is invalid"),
    ("1web", {}, "is invalid"),
    ("abcdefghijklm", {}, "is invalid"),
    ("wincats", {"osType": "Windows"}, "at most 6 characters"),
    ("spotsys", {"mode": "System", "scaleSetPriority": "Spot"}, "Spot agent pools must be User"),
    ("sys0", {"mode": "System", "count": 0}, "System agent pools allow 1 to 1000"),
    ("big", {"count": 1001}, "User agent pools allow 0 to 1000"),
    ("auto", {"enableAutoScaling": True, "minCount": 1}, "minCount and maxCount must be set"),
    ("auto", {"enableAutoScaling": True, "minCount": 3, "maxCount": 2},
     "minCount (3) must be less than or equal to maxCount (2)"),
    ("sysauto", {"mode": "System", "enableAutoScaling": True, "minCount": 0, "maxCount": 2},
     "minCount is invalid"),
])
def test_create_rejects_what_aks_rejects(store: AgentPoolStore, name, props, message) -> None:
    rejects(lambda: store.put(name, edit(store, name, **props)), 400, "InvalidParameter", message)
    assert store.get(name) is None


def test_windows_pool_with_a_short_name_is_fine(store: AgentPoolStore) -> None:
    assert store.put("win1", body(osType="Windows"))[0]["properties"]["osSKU"] == "Windows2022"


@pytest.mark.parametrize(("prop", "value"), [
    ("vmSize", "Standard_D16s_v5"), ("osDiskType", "Ephemeral"), ("osDiskSizeGB", 64),
    ("scaleSetPriority", "Spot"), ("availabilityZones", ["1"]), ("maxPods", 30),
    ("osType", "Windows"), ("spotMaxPrice", 0.5), ("scaleSetEvictionPolicy", "Deallocate"),
])
def test_immutable_properties_cannot_change(store: AgentPoolStore, prop, value) -> None:
    before = store.get("system")
    rejects(lambda: store.put("system", edit(store, "system", **{prop: value})),
            400, "PropertyChangeNotAllowed", f"Changing property '{prop}' is not allowed.")
    assert store.get("system") == before


def test_resending_immutable_values_is_fine(store: AgentPoolStore) -> None:
    pool, _ = store.put("system", edit(store, "system", availabilityZones=["2", "1"],
                                       vmSize="Standard_DS2_v2", osDiskSizeGB=128, count=3))
    assert pool["properties"]["count"] == 3


def test_os_sku_moves_only_between_ubuntu_and_azure_linux(store: AgentPoolStore) -> None:
    moved = store.put("user", edit(store, "user", osSKU="AzureLinux"))[0]
    assert moved["properties"]["osSKU"] == "AzureLinux"
    rejects(lambda: store.put("user", edit(store, "user", osSKU="Windows2022")),
            400, "PropertyChangeNotAllowed", "'osSKU'")


def test_orchestrator_version_upgrades_only(store: AgentPoolStore) -> None:
    store.put("old", body(orchestratorVersion="1.29.4"))
    store.put("old", edit(store, "old", orchestratorVersion="1.30.2"))
    rejects(lambda: store.put("old", edit(store, "old", orchestratorVersion="1.29.4")),
            400, "OperationNotAllowed", "from '1.30.2' to '1.29.4'")
    kept = store.put("old", edit(store, "old", orchestratorVersion=""))[0]["properties"]
    assert (kept["orchestratorVersion"], kept["currentOrchestratorVersion"]) == ("1.30.2",) * 2


@pytest.mark.parametrize(("version", "words"), [
    ("1.31.1", "newer than the control plane's 1.30.2"),
    ("1.30.3", "newer than the control plane's 1.30.2"),
    ("1.27.9", "more than 2 minor versions behind")])
def test_pool_versions_stay_within_the_control_plane_skew(store: AgentPoolStore, version: str,
                                                          words: str) -> None:
    rejects(lambda: store.put("new", body(orchestratorVersion=version)), 400,
            "NodePoolMcVersionIncompatible", words)
    store.put("new", body(orchestratorVersion="1.28.0"))  # two minor versions behind: fine


def test_aks_refuses_reserved_label_domains_and_spot_surge(store: AgentPoolStore) -> None:
    for key in ("kubernetes.io/role", "node-role.kubernetes.io/worker", "k8s.io/x"):
        rejects(lambda key=key: store.put("user", edit(store, "user", nodeLabels={key: "a"})),
                400, "InvalidParameter", "kubernetes.io or k8s.io prefix are reserved")
    store.put("user", edit(store, "user", nodeLabels={"example.com/kubernetes.io": "a"}))
    rejects(lambda: store.put("spot", body(scaleSetPriority="Spot",
                                           upgradeSettings={"maxSurge": "1"})),
            400, "InvalidParameter", "maxSurge is not supported for Spot")


def test_a_count_outside_the_autoscaler_bounds_is_refused(store: AgentPoolStore) -> None:
    rejects(lambda: store.put("user", edit(store, "user", enableAutoScaling=True, minCount=1,
                                           maxCount=3, count=5)),
            400, "InvalidParameter", "must be between minCount (1) and maxCount (3)")


def test_a_put_replaces_the_pool(store: AgentPoolStore) -> None:
    """ARM semantics: what a PUT body leaves out takes AKS's default again (an immutable
    property that then differs is refused), it is not kept from before."""
    store.put("user", edit(store, "user", tags={"t": "1"}, nodeTaints=["a=b:NoSchedule"]))
    props = store.put("user", edit(store, "user", tags=None, nodeTaints=None))[0]["properties"]
    assert "tags" not in props and "nodeTaints" not in props
    rejects(lambda: store.put("user", body(count=2)), 400, "PropertyChangeNotAllowed",
            "'vmSize'")  # Standard_D8s_v5 was left out: the default would be another size


def test_the_last_system_pool_stays_system(store: AgentPoolStore) -> None:
    rejects(lambda: store.put("system", edit(store, "system", mode="User")), 400,
            "OperationNotAllowed", LAST_SYSTEM)
    rejects(lambda: store.delete("system"), 400, "OperationNotAllowed", LAST_SYSTEM)
    store.put("user", edit(store, "user", mode="System", count=1))
    demoted = store.put("system", edit(store, "system", mode="User"))[0]
    assert demoted["properties"]["mode"] == "User"
    rejects(lambda: store.delete("user"), 400, "OperationNotAllowed", LAST_SYSTEM)
    assert store.delete("system") is True


def test_delete_removes_and_reports_a_missing_pool(store: AgentPoolStore) -> None:
    assert store.delete("user") is True
    assert store.delete("user") is False
    assert [p["name"] for p in store.list()] == ["system"]


def test_at_most_100_pools(store: AgentPoolStore) -> None:
    for index in range(98):
        store.put(f"p{index}", body())
    rejects(lambda: store.put("onetoomany", body()), 400, "OperationNotAllowed", "100")
    store.put("p0", edit(store, "p0", count=2))  # updates are still fine at the limit


def test_absent_properties_keep_live_values_and_null_removes(store: AgentPoolStore) -> None:
    store.put("user", edit(store, "user", nodeLabels={"a": "b"}, tags={"t": "1"}))
    props = store.put("user", edit(store, "user", count=4, tags=None))[0]["properties"]
    assert (props["nodeLabels"], props["count"], props["vmSize"]) == (
        {"a": "b"}, 4, "Standard_D8s_v5")
    assert "tags" not in props


def test_read_only_properties_in_a_body_are_ignored(store: AgentPoolStore) -> None:
    live = store.get("user")["properties"]
    props = store.put("user", edit(store, "user", provisioningState="Failed",
                                   nodeImageVersion="old", currentOrchestratorVersion="1.0.0",
                                   eTag="mine"))[0]
    assert props["properties"]["provisioningState"] == "Succeeded"
    assert props["properties"]["nodeImageVersion"] == live["nodeImageVersion"]
    assert props["properties"]["eTag"] != "mine"


def test_turning_the_autoscaler_off_drops_its_bounds(store: AgentPoolStore) -> None:
    store.put("user", edit(store, "user", enableAutoScaling=True, minCount=1, maxCount=3,
                           count=1))
    props = store.put("user", edit(store, "user", enableAutoScaling=False,
                                   count=2))[0]["properties"]
    assert "minCount" not in props and "maxCount" not in props and props["count"] == 2


def test_pools_are_copied_in_and_out(store: AgentPoolStore) -> None:
    request = body(nodeLabels={"a": "b"})
    pool, _ = store.put("copy", request)
    request["properties"]["nodeLabels"]["a"] = "changed"
    pool["properties"]["count"] = 99
    store.list()[0]["properties"]["count"] = 99
    assert store.get("copy")["properties"]["nodeLabels"] == {"a": "b"}
    assert store.get("copy")["properties"]["count"] == 1
    assert store.get("system")["properties"]["count"] == 2


def test_snapshot_seeds_an_equal_store_and_seeds_get_etags(store: AgentPoolStore) -> None:
    assert AgentPoolStore(store.snapshot()).list() == store.list()
    seed = example("AgentPoolsGet.json")
    del seed["properties"]["eTag"]
    seeded = AgentPoolStore({"agentpool1": seed})
    assert seeded.get("agentpool1")["properties"]["eTag"]
    # An example seed (no mode, no zones) can be updated without tripping immutability.
    pool, _ = seeded.put("agentpool1", edit(seeded, "agentpool1", count=5,
                                             osDiskType="Managed"))
    assert pool["properties"]["count"] == 5


def test_error_body_has_the_arm_envelope() -> None:
    error = AksApiError(400, "InvalidParameter", "bad")
    assert error.to_body() == {"error": {"code": "InvalidParameter", "message": "bad"}}

"""Objects live in etcd with Kubernetes' metadata and optimistic concurrency."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.storage.etcd import Etcd
from controlplane.storage.keys import object_key
from jota.api import errors
from jota.api.registry import by_plural
from jota.client.client import Client
from jota.local.processes import Daemon, start_apiserver


def configmap(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": dict(data)}


def deployment(name: str, replicas: int = 1, image: str = "busybox:1.36") -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": image}]}}},
    }


async def test_create_fills_system_metadata_and_defaults(client: Client, namespace: str):
    d = await client.create("deployments", deployment("web"), namespace)
    md = d["metadata"]
    assert md["namespace"] == namespace
    assert len(md["uid"]) == 36 and md["creationTimestamp"].endswith("Z")
    assert md["generation"] == 1
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": "25%", "maxSurge": "25%"}}
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["progressDeadlineSeconds"] == 600
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert await client.get("deployments", "web", namespace) == d


async def test_resource_version_is_the_etcd_mod_revision(client: Client, namespace: str,
                                                          etcd: Daemon):
    cm = await client.create("configmaps", configmap("rv", a="1"), namespace)
    store = Etcd([etcd.address])
    try:
        kv, _ = await store.get(object_key(by_plural("configmaps"), namespace, "rv"))
    finally:
        await store.close()
    assert kv is not None
    assert cm["metadata"]["resourceVersion"] == str(kv.mod_revision)
    assert b'"resourceVersion"' not in kv.value  # never stored, always derived


async def test_generation_bumps_on_spec_change_only(client: Client, namespace: str):
    # Patches, not updates: the Deployment controller writes status meanwhile, so an
    # update carrying the create's resourceVersion could rightly conflict.
    await client.create("deployments", deployment("gen"), namespace)
    d = await client.patch("deployments", "gen", {"metadata": {"labels": {"x": "y"}}},
                           namespace, patch_type="merge")
    assert d["metadata"]["generation"] == 1
    d = await client.patch("deployments", "gen", {"spec": {"replicas": 3}}, namespace,
                           patch_type="merge")
    assert d["metadata"]["generation"] == 2


async def test_stale_update_is_a_conflict_in_kubectls_words(client: Client, namespace: str):
    cm = await client.create("configmaps", configmap("c", a="1"), namespace)
    fresh = dict(cm, data={"a": "2"})
    await client.update("configmaps", fresh, namespace)
    stale = dict(cm, data={"a": "3"})
    with pytest.raises(errors.Conflict) as e:
        await client.update("configmaps", stale, namespace)
    assert str(e.value) == ('Operation cannot be fulfilled on configmaps "c": the object has '
                            "been modified; please apply your changes to the latest version "
                            "and try again")
    assert (await client.get("configmaps", "c", namespace))["data"] == {"a": "2"}


async def test_twenty_concurrent_incrementers_lose_no_update(apiserver: Daemon,
                                                              namespace: str):
    clients = [Client(apiserver.address) for _ in range(20)]
    await clients[0].create("configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "counter", "annotations": {"count": "0"}}}, namespace)
    per_client = 5
    conflicts = 0

    async def increment(c: Client) -> None:
        nonlocal conflicts
        for _ in range(per_client):
            while True:  # retry on conflict, as client-go's RetryOnConflict
                cm = await c.get("configmaps", "counter", namespace)
                ann = cm["metadata"]["annotations"]
                ann["count"] = str(int(ann["count"]) + 1)
                try:
                    await c.update("configmaps", cm, namespace)
                    break
                except errors.Conflict:
                    conflicts += 1

    try:
        await asyncio.gather(*(increment(c) for c in clients))
        final = await clients[0].get("configmaps", "counter", namespace)
    finally:
        for c in clients:
            await c.close()
    assert final["metadata"]["annotations"]["count"] == str(20 * per_client)
    assert conflicts > 0  # the race really happened


async def test_not_found_and_already_exists(client: Client, namespace: str):
    with pytest.raises(errors.NotFound, match='pods "nope" not found'):
        await client.get("pods", "nope", namespace)
    await client.create("configmaps", configmap("dup"), namespace)
    with pytest.raises(errors.AlreadyExists, match='configmaps "dup" already exists'):
        await client.create("configmaps", configmap("dup"), namespace)


async def test_generate_name(client: Client, namespace: str):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "job-"}}
    a = await client.create("configmaps", obj, namespace)
    b = await client.create("configmaps", obj, namespace)
    assert a["metadata"]["name"].startswith("job-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]


async def test_status_is_written_only_through_the_status_subresource(client: Client,
                                                                      namespace: str):
    # A ResourceQuota: a kind with a status subresource that no controller writes yet
    # (the Deployment controller would race this test for a Deployment's status, the
    # PV binder for a PersistentVolume's).
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "st"},
             "spec": {"hard": {"pods": "10"}}}
    created = await client.create("resourcequotas", quota, namespace)
    created["status"] = {"hard": {"pods": "10"}, "used": {"pods": "1"}}
    updated = await client.update("resourcequotas", created, namespace)
    assert "used" not in updated.get("status", {})
    updated["status"] = {"hard": {"pods": "10"}, "used": {"pods": "1"}}
    written = await client.update_status("resourcequotas", updated, namespace)
    assert written["status"]["used"] == {"pods": "1"}
    assert written["metadata"].get("generation") == created["metadata"].get("generation")
    await client.delete("resourcequotas", "st", namespace)


async def test_finalizers_only_mark_an_object_deleted(client: Client, namespace: str):
    cm = configmap("fin")
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create("configmaps", cm, namespace)
    marked = await client.delete("configmaps", "fin", namespace)
    assert marked["metadata"]["deletionTimestamp"]
    still = await client.get("configmaps", "fin", namespace)
    assert still["metadata"]["finalizers"] == ["example.com/hold"]
    still["metadata"]["finalizers"] = []
    await client.update("configmaps", still, namespace)
    with pytest.raises(errors.NotFound):
        await client.get("configmaps", "fin", namespace)


async def test_objects_in_missing_namespaces_are_refused(client: Client):
    with pytest.raises(errors.NotFound, match='namespaces "does-not-exist" not found'):
        await client.create("configmaps", configmap("x"), "does-not-exist")


async def test_system_namespaces_exist_and_cannot_be_deleted(client: Client):
    names = {n["metadata"]["name"] for n in (await client.list("namespaces"))["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    with pytest.raises(errors.Forbidden, match="this namespace may not be deleted"):
        await client.delete("namespaces", "kube-system")


async def test_patch_types(client: Client, namespace: str):
    await client.create("deployments", deployment("p"), namespace)
    d = await client.patch("deployments", "p", {"spec": {"replicas": 4}}, namespace,
                           patch_type="merge")
    assert d["spec"]["replicas"] == 4
    d = await client.patch("deployments", "p", [
        {"op": "replace", "path": "/spec/replicas", "value": 2}], namespace, patch_type="json")
    assert d["spec"]["replicas"] == 2
    d = await client.patch("deployments", "p", {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox:1.36"}]}}}}, namespace, patch_type="strategic")
    assert sorted(c["name"] for c in d["spec"]["template"]["spec"]["containers"]) == [
        "main", "side"]


async def test_scale_subresource(client: Client, namespace: str):
    await client.create("deployments", deployment("sc"), namespace)
    scale = await client.update_scale("deployments", "sc", namespace, 5)
    assert scale["spec"]["replicas"] == 5
    assert (await client.get("deployments", "sc", namespace))["spec"]["replicas"] == 5
    assert (await client.get_scale("deployments", "sc", namespace))["status"]["selector"] \
        == "app=sc"


async def test_binding_sets_node_name_once(client: Client, namespace: str):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    await client.create("pods", pod, namespace)
    bound = await client.bind("b", namespace, "node-1")
    assert bound["spec"]["nodeName"] == "node-1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True"
               for c in bound["status"]["conditions"])
    with pytest.raises(errors.Conflict, match='already assigned to node "node-1"'):
        await client.bind("b", namespace, "node-2")


async def test_state_survives_an_apiserver_restart(etcd: Daemon, tmp_path):
    first = start_apiserver(etcd.address, tmp_path, name="restart-1")
    try:
        async with Client(first.address) as c:
            await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": "restart"}})
            created = await c.create("configmaps", configmap("kept", k="v"), "restart")
    finally:
        first.stop()
    second = start_apiserver(etcd.address, tmp_path, name="restart-2")
    try:
        async with Client(second.address) as c:
            again = await c.get("configmaps", "kept", "restart")
    finally:
        second.stop()
    assert again == created


async def test_secret_string_data_is_stored_as_base64_data(client: Client, namespace: str):
    s = await client.create("secrets", {"apiVersion": "v1", "kind": "Secret",
                                        "metadata": {"name": "s"},
                                        "stringData": {"password": "hunter2"}}, namespace)
    assert s["data"] == {"password": "aHVudGVyMg=="}
    assert "stringData" not in s


async def test_patches_without_a_version_survive_concurrent_writers(client: Client,
                                                                     namespace: str):
    """Twenty clients patching one object at once: none fails, none is lost."""
    await client.create("configmaps", configmap("many"), namespace)
    await asyncio.gather(*(
        client.patch("configmaps", "many", {"data": {f"k{i}": str(i)}}, namespace,
                     patch_type="merge") for i in range(20)))
    data = (await client.get("configmaps", "many", namespace))["data"]
    assert data == {f"k{i}": str(i) for i in range(20)}


async def test_a_patch_carrying_a_stale_version_conflicts(client: Client, namespace: str):
    cm = await client.create("configmaps", configmap("pre", a="1"), namespace)
    await client.patch("configmaps", "pre", {"data": {"a": "2"}}, namespace,
                       patch_type="merge")
    with pytest.raises(errors.Conflict):
        await client.patch("configmaps", "pre", {"metadata": {
            "resourceVersion": cm["metadata"]["resourceVersion"]}, "data": {"a": "3"}},
            namespace, patch_type="merge")

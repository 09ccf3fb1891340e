"""List: selectors, pagination consistent at one revision, expired continue tokens."""

from __future__ import annotations

import pytest

from controlplane.storage.etcd import Etcd
from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon


def cm(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}}


async def names(client: Client, namespace: str, **kw) -> list[str]:
    listing = await client.list("configmaps", namespace, **kw)
    return [o["metadata"]["name"] for o in listing["items"]]


async def test_label_selectors(client: Client, namespace: str):
    await client.create("configmaps", cm("a", app="web", tier="fe"), namespace)
    await client.create("configmaps", cm("b", app="web", tier="be"), namespace)
    await client.create("configmaps", cm("c", app="db"), namespace)
    assert await names(client, namespace, label_selector="app=web") == ["a", "b"]
    assert await names(client, namespace, label_selector="app==web,tier!=fe") == ["b"]
    assert await names(client, namespace, label_selector="tier in (fe,be)") == ["a", "b"]
    assert await names(client, namespace, label_selector="app notin (web)") == ["c"]
    assert await names(client, namespace, label_selector="tier") == ["a", "b"]
    assert await names(client, namespace, label_selector="!tier") == ["c"]


async def test_field_selectors(client: Client, namespace: str):
    await client.create("configmaps", cm("one"), namespace)
    await client.create("configmaps", cm("two"), namespace)
    assert await names(client, namespace, field_selector="metadata.name=two") == ["two"]
    assert await names(client, namespace, field_selector="metadata.name!=two") == ["one"]
    with pytest.raises(errors.BadRequest, match='field label not supported'):
        await names(client, namespace, field_selector="spec.bogus=1")


async def test_pages_are_consistent_at_one_revision(client: Client, namespace: str):
    for i in range(7):
        await client.create("configmaps", cm(f"p{i}"), namespace)
    page = await client.list("configmaps", namespace, limit=3)
    seen = [o["metadata"]["name"] for o in page["items"]]
    assert page["metadata"]["remainingItemCount"] == 4
    # Changes after the first page are not seen by later pages of the same list.
    await client.create("configmaps", cm("p9"), namespace)
    await client.delete("configmaps", "p6", namespace)
    while token := page["metadata"].get("continue"):
        page = await client.list("configmaps", namespace, limit=3, continue_=token)
        seen += [o["metadata"]["name"] for o in page["items"]]
    assert seen == [f"p{i}" for i in range(7)]


async def test_expired_continue_token(client: Client, namespace: str, etcd: Daemon):
    for i in range(3):
        await client.create("configmaps", cm(f"e{i}"), namespace)
    page = await client.list("configmaps", namespace, limit=1)
    await client.create("configmaps", cm("later"), namespace)
    store = Etcd([etcd.address])
    try:
        await store.compact(await store.revision())
    finally:
        await store.close()
    with pytest.raises(errors.Gone, match="The provided continue parameter is too old"):
        await client.list("configmaps", namespace, limit=1,
                          continue_=page["metadata"]["continue"])


async def test_list_resource_version_is_current(client: Client, namespace: str):
    created = await client.create("configmaps", cm("rv"), namespace)
    listing = await client.list("configmaps", namespace)
    assert int(listing["metadata"]["resourceVersion"]) >= int(
        created["metadata"]["resourceVersion"])
    assert listing["kind"] == "ConfigMapList"
    cached = await client.list("configmaps", namespace, resource_version="0")
    assert [o["metadata"]["name"] for o in cached["items"]] == ["rv"]

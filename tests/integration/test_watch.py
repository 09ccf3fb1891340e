"""Watch: ordered events, resume from a resourceVersion, bookmarks, compaction, one
etcd watch however many clients watch."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import AsyncIterator

import pytest

from controlplane.storage.etcd import Etcd
from jota.api import errors
from jota.client.client import Client, WatchEvent
from jota.local.processes import Daemon, start_apiserver


def cm(name: str, value: str = "1") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"v": value}}


async def collect(stream: AsyncIterator[WatchEvent], count: int, timeout: float = 30,
                  skip_bookmarks: bool = True) -> list[WatchEvent]:
    got: list[WatchEvent] = []

    async def run() -> None:
        async for event in stream:
            if skip_bookmarks and event[0] == "BOOKMARK":
                continue
            got.append(event)
            if len(got) == count:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_events_arrive_in_order(client: Client, namespace: str):
    listing = await client.list("configmaps", namespace)
    stream = client.watch("configmaps", namespace,
                          resource_version=listing["metadata"]["resourceVersion"])
    task = asyncio.ensure_future(collect(stream, 4))
    await asyncio.sleep(0.3)
    await client.create("configmaps", cm("a"), namespace)
    a = await client.get("configmaps", "a", namespace)
    a["data"]["v"] = "2"
    await client.update("configmaps", a, namespace)
    await client.create("configmaps", cm("b"), namespace)
    await client.delete("configmaps", "a", namespace)
    events = await task
    assert [(t, o["metadata"]["name"]) for t, o in events] == [
        ("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    revisions = [int(o["metadata"]["resourceVersion"]) for _, o in events]
    assert revisions == sorted(revisions)


async def test_watch_resumes_from_a_resource_version(client: Client, namespace: str):
    first = await client.create("configmaps", cm("r1"), namespace)
    await client.create("configmaps", cm("r2"), namespace)
    await client.create("configmaps", cm("r3"), namespace)
    stream = client.watch("configmaps", namespace,
                          resource_version=first["metadata"]["resourceVersion"])
    events = await collect(stream, 2)
    assert [o["metadata"]["name"] for _, o in events] == ["r2", "r3"]


async def test_watch_without_version_starts_with_current_objects(client: Client,
                                                                  namespace: str):
    await client.create("configmaps", cm("x"), namespace)
    events = await collect(client.watch("configmaps", namespace), 1)
    assert events[0][0] == "ADDED" and events[0][1]["metadata"]["name"] == "x"


async def test_label_selected_watch_sees_objects_leave_the_selection(client: Client,
                                                                      namespace: str):
    listing = await client.list("configmaps", namespace)
    stream = client.watch("configmaps", namespace, label_selector="tier=web",
                          resource_version=listing["metadata"]["resourceVersion"])
    task = asyncio.ensure_future(collect(stream, 2))
    await asyncio.sleep(0.3)
    obj = cm("sel")
    obj["metadata"]["labels"] = {"tier": "web"}
    created = await client.create("configmaps", obj, namespace)
    created["metadata"]["labels"] = {"tier": "db"}
    await client.update("configmaps", created, namespace)
    events = await task
    assert [t for t, _ in events] == ["ADDED", "DELETED"]


async def test_bookmarks_carry_progress(client: Client, namespace: str):
    listing = await client.list("configmaps", namespace)
    rv = listing["metadata"]["resourceVersion"]
    created = await client.create("configmaps", cm("bm"), namespace)
    # The fixture's apiserver sends bookmarks every second.
    events = await collect(client.watch("configmaps", namespace, resource_version=rv,
                                        allow_bookmarks=True), 2, skip_bookmarks=False)
    assert [t for t, _ in events] == ["ADDED", "BOOKMARK"]
    assert int(events[1][1]["metadata"]["resourceVersion"]) >= int(
        created["metadata"]["resourceVersion"])


async def test_compacted_version_is_gone(client: Client, namespace: str, etcd: Daemon,
                                         tmp_path):
    old = await client.create("configmaps", cm("old"), namespace)
    await client.create("configmaps", cm("newer"), namespace)
    await client.create("configmaps", cm("newest"), namespace)
    store = Etcd([etcd.address])
    try:
        await store.compact(await store.revision())
    finally:
        await store.close()
    # A fresh apiserver's cache starts after the compaction, so it must ask etcd.
    fresh = start_apiserver(etcd.address, tmp_path, name="compacted")
    try:
        async with Client(fresh.address) as c:
            with pytest.raises(errors.Gone, match="too old resource version"):
                await collect(c.watch("configmaps", namespace,
                                      resource_version=old["metadata"]["resourceVersion"]), 1)
    finally:
        fresh.stop()


def etcd_watchers(etcd: Daemon) -> int:
    text = urllib.request.urlopen(f"{etcd.address}/metrics", timeout=10).read().decode()
    match = re.search(r"^etcd_debugging_mvcc_watcher_total (\d+)", text, re.M)
    assert match, "etcd metrics lack etcd_debugging_mvcc_watcher_total"
    return int(match.group(1))


async def test_a_hundred_watchers_cost_no_extra_etcd_watch(client: Client, namespace: str,
                                                            etcd: Daemon):
    await client.list("pods", namespace)
    before = etcd_watchers(etcd)
    streams = [client.watch("pods", namespace, allow_bookmarks=True) for _ in range(100)]
    tasks = [asyncio.ensure_future(collect(s, 1)) for s in streams]
    await asyncio.sleep(1.0)
    during = etcd_watchers(etcd)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    await client.create("pods", pod, namespace)
    results = await asyncio.gather(*tasks)
    assert all(r[0][1]["metadata"]["name"] == "w" for r in results)
    assert during == before


async def test_apiserver_compacts_etcd_periodically(etcd: Daemon, tmp_path):
    server = start_apiserver(etcd.address, tmp_path, name="compactor",
                             extra_args=["--etcd-compaction-interval", "1s"])
    store = Etcd([etcd.address])
    try:
        async with Client(server.address) as c:
            first = await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"generateName": "compact-"}})
        old = int(first["metadata"]["resourceVersion"])
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                await store.get(b"/registry/namespaces/default", revision=old)
            except errors.Gone:
                break  # history before the previous round is gone
            assert asyncio.get_running_loop().time() < deadline, "never compacted"
            await store.put(b"/jota-test/tick", b"x")  # keep revisions moving
            await asyncio.sleep(0.5)
    finally:
        await store.close()
        server.stop()

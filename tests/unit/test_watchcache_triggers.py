"""The watch cache's indexed fan-out: a pods watcher selecting `spec.nodeName=X` is
offered only the events of pods on X, and sees exactly what a full scan would give it."""

from __future__ import annotations

import json
from typing import Any

from controlplane.apiserver.rest import make_predicate
from controlplane.apiserver.watchcache import WatchCache, Watcher
from controlplane.storage.etcd import DELETE, PUT
from jota.api.registry import by_plural

PODS = by_plural("pods")


class JSONCodec:
    def decode(self, value: bytes, key: bytes, revision: int) -> Any:
        obj = json.loads(value)
        obj["metadata"]["resourceVersion"] = str(revision)
        return obj


def pod(node: str = "") -> bytes:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "x"}]}
    if node:
        spec["nodeName"] = node
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "spec": spec, "metadata": {
        "name": "p", "namespace": "default"}}).encode()


def drain(w: Watcher) -> list[str]:
    out = []
    while not w.queue.empty():
        item = w.queue.get_nowait()
        assert item is not None
        out.append(item[0])
    return out


def watch(cache: WatchCache, selector: str) -> Watcher:
    predicate = make_predicate(PODS, "", selector)
    node = selector.split("=", 1)[1] if selector.startswith("spec.nodeName=") else None
    return cache.watch("", predicate, 0, bookmarks=False, initial=False, trigger=node)


def test_node_watchers_see_only_their_pods_and_the_same_events_as_a_scan() -> None:
    cache = WatchCache(PODS, etcd=None, codec=JSONCodec())  # type: ignore[arg-type]
    on_n1, on_n2 = watch(cache, "spec.nodeName=n1"), watch(cache, "spec.nodeName=n2")
    unassigned, everything = watch(cache, "spec.nodeName="), watch(cache, "")
    assert set(cache.by_trigger) == {"n1", "n2", ""}
    key = b"/registry/pods/default/p"

    cache._apply(PUT, key, pod(), 1, None)  # created, pending
    assert (drain(on_n1), drain(on_n2), drain(unassigned), drain(everything)) == \
        ([], [], ["ADDED"], ["ADDED"])
    cache._apply(PUT, key, pod("n1"), 2, pod())  # bound to n1
    assert (drain(on_n1), drain(on_n2), drain(unassigned), drain(everything)) == \
        (["ADDED"], [], ["DELETED"], ["MODIFIED"])
    assert cache._candidates(cache.history[-1]) and on_n2 not in cache._candidates(
        cache.history[-1])
    cache._apply(PUT, key, pod("n1"), 3, pod("n1"))  # its status written
    assert (drain(on_n1), drain(on_n2), drain(unassigned)) == (["MODIFIED"], [], [])
    cache._apply(DELETE, key, b"", 4, pod("n1"))
    assert (drain(on_n1), drain(on_n2), drain(everything)) == (["DELETED"], [], ["MODIFIED",
                                                                                  "DELETED"])


def test_forgetting_a_node_watcher_drops_its_index_entry() -> None:
    cache = WatchCache(PODS, etcd=None, codec=JSONCodec())  # type: ignore[arg-type]
    w = watch(cache, "spec.nodeName=n1")
    cache.forget(w)
    assert cache.by_trigger == {} and cache.watchers == set()


def test_other_resources_are_not_indexed() -> None:
    cache = WatchCache(by_plural("nodes"), etcd=None, codec=JSONCodec())  # type: ignore[arg-type]
    w = cache.watch("", lambda _o: True, 0, bookmarks=False, initial=False, trigger="n1")
    assert w.trigger is None and cache.untriggered == {w}

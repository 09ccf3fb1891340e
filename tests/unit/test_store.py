"""The indexed store: what controllers read instead of asking the apiserver."""

from __future__ import annotations

from typing import Any

import pytest

from jota.client.store import (
    LABELS_INDEX,
    NAMESPACE_INDEX,
    NODE_NAME_INDEX,
    OWNER_UID_INDEX,
    DeletedFinalStateUnknown,
    Store,
    index_by_controller_uid,
    index_by_field,
    index_by_label,
    index_by_labels,
    index_by_namespace,
    index_by_node_name,
    index_by_owner_uid,
    meta_namespace_key,
)


def pod(name: str, ns: str = "default", *, node: str = "", rv: str = "1",
        labels: dict[str, str] | None = None, owners: list[dict[str, Any]] | None = None,
        ) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv}
    if labels:
        md["labels"] = labels
    if owners:
        md["ownerReferences"] = owners
    spec = {"nodeName": node} if node else {}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def full_store() -> Store:
    return Store(indexers={
        NAMESPACE_INDEX: index_by_namespace,
        NODE_NAME_INDEX: index_by_node_name,
        OWNER_UID_INDEX: index_by_owner_uid,
        LABELS_INDEX: index_by_labels,
    })


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        (pod("web-1"), "default/web-1"),
        (pod("dns", "kube-system"), "kube-system/dns"),
        ({"metadata": {"name": "node-1"}}, "node-1"),
        (DeletedFinalStateUnknown("default/gone", pod("gone")), "default/gone"),
    ],
)
def test_keys(obj: Any, key: str) -> None:
    assert meta_namespace_key(obj) == key


def test_add_get_update_delete_list() -> None:
    s = Store()
    s.add(pod("a"))
    s.add(pod("b", "other"))
    assert s.get_by_key("default/a") == pod("a")
    assert s.get(pod("b", "other")) == pod("b", "other")
    assert sorted(s.list_keys()) == ["default/a", "other/b"]
    s.update(pod("a", rv="2"))
    assert s.get_by_key("default/a")["metadata"]["resourceVersion"] == "2"  # type: ignore[index]
    s.delete(pod("a"))
    assert s.get_by_key("default/a") is None
    assert "other/b" in s and len(s) == 1
    s.delete(DeletedFinalStateUnknown("other/b", pod("b", "other")))
    assert s.list() == []
    s.delete(pod("never-there"))  # deleting what is absent is not an error


def test_replace_swaps_contents_and_indexes() -> None:
    s = full_store()
    s.add(pod("old", node="n1"))
    s.replace([pod("new", node="n2")], "42")
    assert s.list_keys() == ["default/new"]
    assert s.by_index(NODE_NAME_INDEX, "n1") == []
    assert s.by_index(NODE_NAME_INDEX, "n2") == [pod("new", node="n2")]
    assert s.last_sync_resource_version == "42"


def test_by_namespace_index_is_there_by_default() -> None:
    s = Store()
    for name, ns in [("a", "default"), ("b", "default"), ("c", "kube-system")]:
        s.add(pod(name, ns))
    assert [p["metadata"]["name"] for p in s.by_index(NAMESPACE_INDEX, "default")] == ["a", "b"]
    assert s.index_keys(NAMESPACE_INDEX, "kube-system") == ["kube-system/c"]
    assert s.list_index_values(NAMESPACE_INDEX) == ["default", "kube-system"]


def test_indexes_follow_updates_and_deletes() -> None:
    s = full_store()
    s.add(pod("web-1", node="n1"))
    s.add(pod("web-2", node="n1"))
    s.add(pod("pending"))  # no nodeName: not indexed under ""
    assert s.index_keys(NODE_NAME_INDEX, "n1") == ["default/web-1", "default/web-2"]
    assert s.list_index_values(NODE_NAME_INDEX) == ["n1"]
    s.update(pod("web-2", node="n2"))
    assert s.index_keys(NODE_NAME_INDEX, "n1") == ["default/web-1"]
    assert s.index_keys(NODE_NAME_INDEX, "n2") == ["default/web-2"]
    s.delete(pod("web-1"))
    assert s.by_index(NODE_NAME_INDEX, "n1") == []
    assert s.list_index_values(NODE_NAME_INDEX) == ["n2"]


def test_owner_and_label_indexes() -> None:
    s = full_store()
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "u1",
          "controller": True}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u2"}
    s.add(pod("web-abc-1", owners=[rs, other], labels={"app": "web", "tier": "fe"}))
    s.add(pod("db-0", labels={"app": "db"}))
    assert s.index_keys(OWNER_UID_INDEX, "u1") == ["default/web-abc-1"]
    assert s.index_keys(OWNER_UID_INDEX, "u2") == ["default/web-abc-1"]
    assert s.index_keys(LABELS_INDEX, "app=web") == ["default/web-abc-1"]
    assert s.index_keys(LABELS_INDEX, "app=db") == ["default/db-0"]
    # objects sharing any value of an index with a given object
    assert [p["metadata"]["name"] for p in s.index(NAMESPACE_INDEX, pod("x"))] == [
        "db-0", "web-abc-1"]


@pytest.mark.parametrize(
    ("fn", "obj", "values"),
    [
        (index_by_namespace, pod("a", "ns1"), ["ns1"]),
        (index_by_node_name, pod("a", node="n1"), ["n1"]),
        (index_by_node_name, pod("a"), []),
        (index_by_field("spec.schedulerName"), {"spec": {"schedulerName": "s"}}, ["s"]),
        (index_by_field("status.phase"), {"status": "garbled"}, []),
        (index_by_label("app"), pod("a", labels={"app": "web"}), ["web"]),
        (index_by_label("app"), pod("a"), []),
        (index_by_labels, pod("a", labels={"b": "2", "a": "1"}), ["a=1", "b=2"]),
        (index_by_owner_uid, pod("a", owners=[{"uid": "u1"}, {"uid": "u2"}]), ["u1", "u2"]),
        (index_by_controller_uid,
         pod("a", owners=[{"uid": "u1"}, {"uid": "u2", "controller": True}]), ["u2"]),
    ],
)
def test_index_functions(fn: Any, obj: dict[str, Any], values: list[str]) -> None:
    assert fn(obj) == values


def test_unknown_index_is_an_error_in_client_go_words() -> None:
    s = Store()
    with pytest.raises(KeyError, match=r"Index with name spec\.nodeName does not exist"):
        s.by_index(NODE_NAME_INDEX, "n1")


def test_indexers_can_be_added_only_while_empty() -> None:
    s = Store()
    s.add_indexers({NODE_NAME_INDEX: index_by_node_name})
    with pytest.raises(ValueError, match="indexer conflict"):
        s.add_indexers({NODE_NAME_INDEX: index_by_node_name})
    s.add(pod("a", node="n1"))
    assert s.index_keys(NODE_NAME_INDEX, "n1") == ["default/a"]
    with pytest.raises(ValueError, match="already has items"):
        s.add_indexers({LABELS_INDEX: index_by_labels})

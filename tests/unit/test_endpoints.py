"""Endpoints and EndpointSlices from a Service and its pods (pure decisions)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.controllers.endpoints import (
    desired_endpoints,
    desired_subsets,
    needs_write,
    resolve_target_port,
)
from controlplane.controllers.endpointslice import cache_is_stale, plan
from jota.api.meta import Obj


def svc(name: str = "web", ports: list[Obj] | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "ns", "uid": "svc-uid",
                         "labels": {"app": name}},
            "spec": {"selector": {"app": name}, "clusterIP": "10.96.0.20",
                     "ports": ports if ports is not None else [
                         {"name": "http", "port": 80, "targetPort": "http",
                          "protocol": "TCP"}], **spec}}


def pod(name: str, ip: str = "", *, ready: bool = True, phase: str = "Running",
        labels: dict[str, str] | None = None, http_port: int | None = 8080,
        deleting: bool = False, node: str = "n1") -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
               "labels": labels if labels is not None else {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    ports = [{"name": "http", "containerPort": http_port}] if http_port else []
    status: Obj = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"metadata": md, "spec": {"nodeName": node, "containers": [
        {"name": "c", "image": "x", "ports": ports}]}, "status": status}


@pytest.mark.parametrize("target,pod_port,expected", [
    (8080, None, 8080), ("http", 9090, 9090), ("http", None, None), ("grpc", 9090, None),
])
def test_target_port_resolves_per_pod(target: Any, pod_port: int | None,
                                      expected: int | None) -> None:
    assert resolve_target_port({"port": 80, "targetPort": target},
                               pod("a", http_port=pod_port)) == expected


def test_ready_and_not_ready_addresses_with_named_ports_per_pod() -> None:
    pods = [pod("a", "10.244.0.3"), pod("b", "10.244.0.2", http_port=9090),
            pod("c", "10.244.0.4", ready=False), pod("d")]  # d has no IP yet
    subsets = desired_subsets(svc(), pods)
    assert subsets == [
        {"addresses": [{"ip": "10.244.0.3", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}],
         "notReadyAddresses": [{"ip": "10.244.0.4", "nodeName": "n1", "targetRef": {
             "kind": "Pod", "namespace": "ns", "name": "c", "uid": "uid-c"}}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        {"addresses": [{"ip": "10.244.0.2", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": "ns", "name": "b", "uid": "uid-b"}}],
         "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]},
    ]


@pytest.mark.parametrize("p", [
    pod("x", "10.0.0.1", phase="Succeeded"), pod("x", "10.0.0.1", phase="Failed"),
    pod("x", "10.0.0.1", deleting=True), pod("x", "10.0.0.1", labels={"app": "other"}),
    pod("x", "10.0.0.1", http_port=None),
])
def test_pods_left_out_of_endpoints(p: Obj) -> None:
    assert desired_subsets(svc(), [p]) == []


def test_publish_not_ready_addresses_makes_every_address_ready() -> None:
    subsets = desired_subsets(svc(publishNotReadyAddresses=True),
                              [pod("a", "10.0.0.1", ready=False)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.1"]


def test_headless_without_ports_lists_addresses_and_labels_headless() -> None:
    s = svc(ports=[], clusterIP="None")
    ep = desired_endpoints(s, [pod("a", "10.0.0.1")], None)
    assert ep["subsets"] == [{"addresses": [{"ip": "10.0.0.1", "nodeName": "n1", "targetRef": {
        "kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}}]}]
    assert ep["metadata"]["labels"] == {"app": "web", "service.kubernetes.io/headless": ""}


def test_endpoints_written_only_when_changed() -> None:
    s, pods = svc(), [pod("a", "10.0.0.1")]
    current = desired_endpoints(s, pods, None)
    current["metadata"]["resourceVersion"] = "7"
    assert not needs_write(current, desired_endpoints(s, pods, current))
    assert needs_write(current, desired_endpoints(s, [pod("a", "10.0.0.1", ready=False)],
                                                  current))
    assert "subsets" not in desired_endpoints(s, [], current)


def test_over_capacity_is_truncated_and_annotated() -> None:
    pods = [pod(f"p{i}", f"10.1.{i // 250}.{i % 250 + 1}") for i in range(1001)]
    ep = desired_endpoints(svc(), pods, None)
    assert sum(len(s["addresses"]) for s in ep["subsets"]) == 1000
    assert ep["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity":
                                             "truncated"}


# ---- EndpointSlices ---------------------------------------------------------------------------


def stored(body: Obj, name: str) -> Obj:
    out = {**body, "metadata": {**body["metadata"], "name": name, "resourceVersion": "1"}}
    out["metadata"].pop("generateName", None)
    return out


def test_slice_conditions_labels_and_owner() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
            pod("c", "10.0.0.3", deleting=True)]
    todo = plan(svc(), pods, [])
    assert len(todo.create) == 1 and not todo.update and not todo.delete
    es = todo.create[0]
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert es["metadata"]["labels"] == {
        "app": "web", "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert es["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert [(e["addresses"], e["conditions"]) for e in es["endpoints"]] == [
        (["10.0.0.1"], {"ready": True, "serving": True, "terminating": False}),
        (["10.0.0.2"], {"ready": False, "serving": False, "terminating": False}),
        (["10.0.0.3"], {"ready": False, "serving": True, "terminating": True}),
    ]
    assert es["endpoints"][0]["nodeName"] == "n1"
    assert es["endpoints"][0]["targetRef"]["name"] == "a"


def test_slices_hold_at_most_100_and_are_reused() -> None:
    pods = [pod(f"p{i}", f"10.1.0.{i + 1}") for i in range(250)]
    todo = plan(svc(), pods, [])
    assert [len(es["endpoints"]) for es in todo.create] == [100, 100, 50]
    existing = [stored(es, f"web-{i}") for i, es in enumerate(todo.create)]
    assert plan(svc(), pods, existing).update == []
    assert plan(svc(), pods, existing).create == []
    # one pod gone, one new: the new one takes the freed room, one slice changes
    fewer = [p for p in pods if p["metadata"]["name"] != "p0"] + [pod("new", "10.2.0.1")]
    todo = plan(svc(), fewer, existing)
    assert not todo.create and not todo.delete
    assert [es["metadata"]["name"] for es in todo.update] == ["web-0"]
    assert todo.update[0]["endpoints"][-1]["targetRef"]["name"] == "new"
    assert len(todo.update[0]["endpoints"]) == 100


def test_no_endpoints_leaves_one_placeholder_slice() -> None:
    todo = plan(svc(), [], [])
    assert len(todo.create) == 1 and todo.create[0]["endpoints"] == []
    assert "ports" not in todo.create[0]
    placeholder = stored(todo.create[0], "web-p")
    assert plan(svc(), [], [placeholder]).create == []
    todo = plan(svc(), [pod("a", "10.0.0.1")], [placeholder])
    assert [es["metadata"]["name"] for es in todo.delete] == ["web-p"]
    assert len(todo.create) == 1


def test_cache_staleness_check() -> None:
    assert cache_is_stale({"a": 5}, {"a": None})
    assert cache_is_stale({"a": 5}, {"a": {"metadata": {"resourceVersion": "4"}}})
    assert not cache_is_stale({"a": 5}, {"a": {"metadata": {"resourceVersion": "5"}}})
    assert cache_is_stale({"a": 0}, {"a": {"metadata": {"resourceVersion": "5"}}})
    assert not cache_is_stale({"a": 0}, {"a": None})

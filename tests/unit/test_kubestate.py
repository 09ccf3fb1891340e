"""kube-state-metrics' families from objects (controlplane/controllers/metrics), and
the HTTP service discovery the controller-manager serves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from controlplane.controllers.metrics import discovery
from controlplane.controllers.metrics.collector import KubeStateCollector, families
from controlplane.controllers.metrics.endpoint import ManagerMetrics
from controlplane.controllers.metrics.kubestate import (
    FAMILIES,
    Sample,
    deployment_samples,
    node_samples,
    pod_samples,
)
from jota.api.meta import Obj


def _by_family(samples: list[Sample]) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for s in samples:
        labels = dict(zip(FAMILIES[s.family].labels, s.labels, strict=True))
        out.setdefault(s.family, []).append((labels, s.value))
    return out


POD: Obj = {
    "metadata": {"name": "web-1", "namespace": "ns", "uid": "u1",
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d", "controller": True}]},
    "spec": {"nodeName": "w1", "containers": [
        {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"},
                                      "requests": {"cpu": "100m"}}},
        {"name": "side"}]},
    "status": {"phase": "Running", "hostIP": "172.31.0.11", "podIP": "10.244.1.5",
               "containerStatuses": [
                   {"name": "app", "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
                   {"name": "side", "restartCount": 0, "state": {"running": {}}}]},
}


def test_pod_families_with_ksm_labels() -> None:
    got = _by_family(pod_samples(POD))
    ids = {"namespace": "ns", "pod": "web-1", "uid": "u1"}
    assert got["kube_pod_info"] == [({**ids, "host_ip": "172.31.0.11", "pod_ip": "10.244.1.5",
                                      "node": "w1", "created_by_kind": "ReplicaSet",
                                      "created_by_name": "web-5d", "priority_class": "",
                                      "host_network": "false"}, 1.0)]
    assert {labels["phase"]: v for labels, v in got["kube_pod_status_phase"]} == {
        "Pending": 0, "Succeeded": 0, "Failed": 0, "Unknown": 0, "Running": 1}
    assert got["kube_pod_container_status_restarts_total"] == [
        ({**ids, "container": "app"}, 4.0), ({**ids, "container": "side"}, 0.0)]
    assert got["kube_pod_container_status_waiting_reason"] == [
        ({**ids, "container": "app", "reason": "CrashLoopBackOff"}, 1.0)]
    assert got["kube_pod_container_resource_limits"] == [
        ({**ids, "container": "app", "node": "w1", "resource": "cpu", "unit": "core"}, 0.25),
        ({**ids, "container": "app", "node": "w1", "resource": "memory", "unit": "byte"},
         64 * 2**20)]
    assert got["kube_pod_container_resource_requests"][0][1] == 0.1


def test_a_pod_without_status_has_info_only() -> None:
    got = _by_family(pod_samples({"metadata": {"name": "p", "namespace": "ns"}}))
    assert set(got) == {"kube_pod_info"}


@pytest.mark.parametrize(("spec", "status", "want"), [
    ({"replicas": 3}, {"replicas": 3, "availableReplicas": 2, "updatedReplicas": 3},
     (3, 3, 2, 3)),
    ({}, {}, (1, 0, 0, 0)),  # replicas defaults to 1
    ({"replicas": 0}, {}, (0, 0, 0, 0)),
])
def test_deployment_families(spec: dict[str, Any], status: dict[str, Any],
                             want: tuple[int, ...]) -> None:
    got = deployment_samples({"metadata": {"name": "x", "namespace": "ns"}, "spec": spec,
                              "status": status})
    assert [s.family for s in got] == [
        "kube_deployment_spec_replicas", "kube_deployment_status_replicas",
        "kube_deployment_status_replicas_available", "kube_deployment_status_replicas_updated"]
    assert tuple(s.value for s in got) == want
    assert all(s.labels == ("ns", "x") for s in got)


def test_node_families() -> None:
    node: Obj = {"metadata": {"name": "w1"}, "spec": {"podCIDR": "10.244.1.0/24"},
                 "status": {"addresses": [{"type": "InternalIP", "address": "172.31.0.11"}],
                            "nodeInfo": {"kubeletVersion": "v0.1.0",
                                         "containerRuntimeVersion": "docker://24"},
                            "allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                            "conditions": [{"type": "Ready", "status": "Unknown"}]}}
    got = _by_family(node_samples(node))
    info = got["kube_node_info"][0][0]
    assert (info["internal_ip"], info["pod_cidr"], info["kubelet_version"]) == (
        "172.31.0.11", "10.244.1.0/24", "v0.1.0")
    assert {lb["status"]: v for lb, v in got["kube_node_status_condition"]} == {
        "true": 0, "false": 0, "unknown": 1}
    assert {lb["resource"]: (lb["unit"], v) for lb, v in got["kube_node_status_allocatable"]} \
        == {"cpu": ("core", 2), "memory": ("byte", 2**30), "pods": ("integer", 110)}
    assert got["kube_node_spec_unschedulable"] == [({"node": "w1"}, 0.0)]


class _Store:
    def __init__(self, objs: list[Obj]) -> None:
        self.objs = objs

    def list(self) -> list[Obj]:
        return self.objs


class _Informer:
    def __init__(self, objs: list[Obj]) -> None:
        self.store = _Store(objs)


class _Factory:
    def __init__(self, objs: dict[str, list[Obj]]) -> None:
        self.objs = objs

    def informer_for(self, resource: str, namespace: str = "") -> _Informer:
        return _Informer(self.objs.get(resource, []))


def test_collector_reads_the_stores_at_scrape_time() -> None:
    objs: dict[str, list[Obj]] = {"pods": [], "nodes": [], "deployments": []}
    factory: Any = _Factory(objs)
    source: list[Any] = [None]
    registry = CollectorRegistry()
    registry.register(KubeStateCollector(lambda: source[0]))
    assert "kube_pod_info{" not in generate_latest(registry).decode()  # not leading
    source[0] = factory
    objs["pods"].append(POD)
    text = generate_latest(registry).decode()
    assert 'kube_pod_status_phase{namespace="ns",phase="Running",pod="web-1",uid="u1"} 1.0' \
        in text
    assert "# TYPE kube_pod_container_status_restarts_total counter" in text
    assert 'kube_pod_container_status_restarts_total{container="app",namespace="ns",' \
           'pod="web-1",uid="u1"} 4.0' in text


def test_every_family_is_described_even_when_empty() -> None:
    # prometheus_client names a counter family without its _total suffix.
    assert {f.name for f in families(())} == {n.removesuffix("_total") for n in FAMILIES}


NODE: Obj = {"metadata": {"name": "w1", "labels": {"kubernetes.io/hostname": "w1"}},
             "status": {"addresses": [{"type": "InternalIP", "address": "172.31.0.11"}]}}


def test_node_targets_carry_kubernetes_sd_labels() -> None:
    no_ip: Obj = {"metadata": {"name": "w0"}, "status": {}}
    assert discovery.node_targets([NODE, no_ip], 10255) == [{
        "targets": ["172.31.0.11:10255"],
        "labels": {"__meta_kubernetes_node_name": "w1",
                   "__meta_kubernetes_node_address_InternalIP": "172.31.0.11",
                   "__meta_kubernetes_node_label_kubernetes_io_hostname": "w1",
                   "__meta_kubernetes_node_labelpresent_kubernetes_io_hostname": "true"}}]


def test_control_plane_targets() -> None:
    assert discovery.control_plane_targets(
        {"scheduler": "127.0.0.1:10259", "apiserver": "127.0.0.1:8080"}) == [
        {"targets": ["127.0.0.1:8080"], "labels": {"__meta_jota_component": "apiserver"}},
        {"targets": ["127.0.0.1:10259"], "labels": {"__meta_jota_component": "scheduler"}}]
    assert discovery.control_plane_targets({"apiserver": ["h:8080", "h:8081"]}) == [
        {"targets": ["h:8080", "h:8081"], "labels": {"__meta_jota_component": "apiserver"}}]


def test_parse_components() -> None:
    assert discovery.parse_components("apiserver=127.0.0.1:8080, scheduler=h:10259") == {
        "apiserver": ["127.0.0.1:8080"], "scheduler": ["h:10259"]}
    assert discovery.parse_components("apiserver=h:8080,apiserver=h:8081") == {
        "apiserver": ["h:8080", "h:8081"]}
    assert discovery.parse_components("") == {}
    for bad in ("etcd=h:1", "apiserver", "apiserver=h", "apiserver=:1"):
        with pytest.raises(ValueError, match="use COMPONENT=HOST:PORT"):
            discovery.parse_components(bad)


async def test_manager_endpoint_serves_sd_and_object_state() -> None:
    registry = CollectorRegistry()
    metrics = ManagerMetrics("127.0.0.1:0", components={"apiserver": "127.0.0.1:8080"},
                             registry=registry)
    assert metrics.server is None  # port 0: no endpoint, as --metrics-bind-address ...:0
    metrics = ManagerMetrics("127.0.0.1:1", node_metrics_port=10255,
                             components={"apiserver": "127.0.0.1:8080"},
                             registry=CollectorRegistry())
    assert metrics.components == {"apiserver": "127.0.0.1:8080",
                                  "controller-manager": "127.0.0.1:1"}
    assert json.loads((await metrics._sd_nodes())[1]) == []  # not leading: no informers
    factory: Any = _Factory({"nodes": [NODE], "pods": [POD]})
    metrics.use(factory)
    ctype, body = await metrics._sd_nodes()
    assert ctype == "application/json"
    assert [g["targets"] for g in json.loads(body)] == [["172.31.0.11:10255"]]
    assert [g["labels"]["__meta_jota_component"]
            for g in json.loads((await metrics._sd_control_plane())[1])] == [
        "apiserver", "controller-manager"]
    text = generate_latest(metrics.registry).decode()
    assert 'kube_node_info{' in text and 'kube_pod_info{' in text
    metrics.use(None)
    assert 'kube_pod_info{' not in generate_latest(metrics.registry).decode()

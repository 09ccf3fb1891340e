"""Each filter and score plugin as a pure function: a pod, a node, a verdict."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.framework import Code
from controlplane.scheduler.plugins import (
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    tainttoleration,
)
from controlplane.scheduler.snapshot import Snapshot
from tests.unit.scheduler_helpers import info, node, pod, run_filter, run_scores

U, UU = Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE
OK = Code.SUCCESS
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


@pytest.mark.parametrize(("new", "existing", "nd", "code", "reasons"), [
    (pod("p", "1", "1Gi"), [], node("n", "2", "2Gi"), OK, ()),
    (pod("p", "1500m"), [pod("a", "1", node_name="n")], node("n", "2"), U,
     ("Insufficient cpu",)),
    (pod("p", "3"), [], node("n", "2"), UU, ("Insufficient cpu",)),
    (pod("p", "1", "3Gi"), [pod("a", "1500m", "1Gi", node_name="n")], node("n", "2", "3Gi"),
     U, ("Insufficient cpu", "Insufficient memory")),
    (pod("p"), [pod("a", node_name="n")], node("n", pods=1), U, ("Too many pods",)),
    (pod("p", "10"), [pod("a", node_name="n")], node("n", "1", pods=1), UU,
     ("Too many pods", "Insufficient cpu")),
    (pod("p", extended={"example.com/gpu": "1"}), [], node("n"), UU,
     ("Insufficient example.com/gpu",)),
    (pod("p", extended={"example.com/gpu": "1"}), [],
     node("n", extra={"example.com/gpu": "2"}), OK, ()),
    (pod("p", extended={"ephemeral-storage": "2Gi"}), [],
     node("n", extra={"ephemeral-storage": "1Gi"}), UU, ("Insufficient ephemeral-storage",)),
    # a pod without requests only needs a pod slot
    (pod("p"), [pod("a", "4", node_name="n")], node("n", "4"), OK, ()),
])
def test_node_resources_fit(new: Any, existing: Any, nd: Any, code: Code,
                            reasons: tuple[str, ...]) -> None:
    s = run_filter(noderesources.Fit(), new, info(nd, *existing))
    assert (s.code, s.reasons) == (code, reasons)


def test_init_containers_and_overhead_count() -> None:
    p = pod("p", "500m")
    p["spec"]["initContainers"] = [{"name": "i", "image": "x",
                                    "resources": {"requests": {"cpu": "2"}}}]
    p["spec"]["overhead"] = {"cpu": "250m"}
    s = run_filter(noderesources.Fit(), p, info(node("n", "2")))
    assert s.reasons == ("Insufficient cpu",)  # max(2, 0.5) + 0.25 > 2


@pytest.mark.parametrize(("strategy", "expected"), [
    # 4 cpu / 8Gi nodes; "a" already runs 3 cpu 1Gi; the pod asks 1 cpu and 0 memory.
    # a: cpu 4/4, memory 1/8 -> least (0 + 87) / 2, most (100 + 12) / 2
    # b: cpu 1/4, memory 0/8 -> least (75 + 100) / 2, most (25 + 0) / 2
    ("LeastAllocated", [43, 87]),
    ("MostAllocated", [56, 12]),
])
def test_fit_scoring_strategies(strategy: str, expected: list[int]) -> None:
    snap = Snapshot.build([node("a"), node("b")], [pod("x", "3", "1Gi", node_name="a")])
    assert run_scores(noderesources.Fit(strategy), pod("p", "1", "0"), snap) == expected


def test_pods_without_requests_count_as_100m_and_200mi_in_scores() -> None:
    snap = Snapshot.build([node("a", "1", "1000Mi")])
    # cpu (1000-100)/1000 -> 90, memory (1000-200)/1000 -> 80
    assert run_scores(noderesources.Fit(), pod("p"), snap) == [85]


@pytest.mark.parametrize(("requested", "capacity", "least", "most"), [
    (0, 100, 100, 0), (50, 100, 50, 50), (100, 100, 0, 100), (150, 100, 0, 100),
    (10, 0, 0, 0),
])
def test_requested_score_functions(requested: int, capacity: int, least: int,
                                   most: int) -> None:
    assert noderesources.least_requested(requested, capacity) == least
    assert noderesources.most_requested(requested, capacity) == most


@pytest.mark.parametrize(("fractions", "score"), [
    ([0.5, 0.5], 100), ([1.0, 0.0], 50), ([0.2, 0.6], 80), ([0.5], 100),
])
def test_balanced_allocation(fractions: list[float], score: int) -> None:
    assert noderesources.balanced_score(fractions) == score


def test_balanced_allocation_prefers_even_use() -> None:
    snap = Snapshot.build([node("a", "4", "4Gi"), node("b", "4", "4Gi")],
                          [pod("x", "2", node_name="a"), pod("y", "2", "2Gi", node_name="b")])
    scores = run_scores(noderesources.BalancedAllocation(), pod("p", "0", "0"), snap)
    assert scores[1] > scores[0]


@pytest.mark.parametrize(("spec", "nd", "code"), [
    ({}, node("a"), OK),
    ({"nodeName": "a"}, node("a"), OK),
    ({"nodeName": "b"}, node("a"), UU),
])
def test_node_name(spec: dict[str, Any], nd: Any, code: Code) -> None:
    s = run_filter(nodename.NodeName(), pod("p", **spec), info(nd))
    assert s.code == code
    if code != OK:
        assert s.reasons == ("node(s) didn't match the requested node name",)


@pytest.mark.parametrize(("tolerations", "code"), [
    ([], UU),
    ([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
       "effect": "NoSchedule"}], OK),
    ([{"operator": "Exists"}], OK),
])
def test_node_unschedulable(tolerations: list[Any], code: Code) -> None:
    s = run_filter(nodeunschedulable.NodeUnschedulable(), pod("p", tolerations=tolerations),
                   info(node("a", unschedulable=True)))
    assert s.code == code
    if code != OK:
        assert s.reasons == ("node(s) were unschedulable",)


@pytest.mark.parametrize(("taints", "tolerations", "reason"), [
    ([CP_TAINT], [], "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
    ([{"key": "gpu", "value": "yes", "effect": "NoExecute"}], [],
     "node(s) had untolerated taint {gpu: yes}"),
    ([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
     [{"key": "gpu", "operator": "Equal", "value": "no"}],
     "node(s) had untolerated taint {gpu: yes}"),
    ([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
     [{"key": "gpu", "operator": "Equal", "value": "yes"}], None),
    ([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
     [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}],
     "node(s) had untolerated taint {gpu: yes}"),
    ([CP_TAINT], [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                   "effect": "NoSchedule"}], None),
    ([{"key": "soft", "effect": "PreferNoSchedule"}], [], None),
    ([CP_TAINT], [{"operator": "Exists"}], None),
])
def test_taint_toleration_filter(taints: list[Any], tolerations: list[Any],
                                 reason: str | None) -> None:
    s = run_filter(tainttoleration.TaintTolerationPlugin(), pod("p", tolerations=tolerations),
                   info(node("a", taints=taints)))
    if reason is None:
        assert s.success
    else:
        assert (s.code, s.reasons) == (UU, (reason,))


def test_taint_toleration_score_prefers_fewer_prefer_no_schedule_taints() -> None:
    soft = [{"key": f"k{i}", "effect": "PreferNoSchedule"} for i in range(2)]
    snap = Snapshot.build([node("a"), node("b", taints=soft[:1]), node("c", taints=soft)])
    assert run_scores(tainttoleration.TaintTolerationPlugin(), pod("p"), snap) == [100, 50, 0]
    tolerant = pod("p", tolerations=[{"operator": "Exists"}])
    assert run_scores(tainttoleration.TaintTolerationPlugin(), tolerant, snap) == [100] * 3


def _required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}


def _expr(key: str, op: str, *values: str) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values:
        e["values"] = list(values)
    return {"matchExpressions": [e]}


@pytest.mark.parametrize(("spec", "labels", "fits"), [
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "ssd"}, True),
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "hdd"}, False),
    ({"nodeSelector": {"disk": "ssd"}}, {}, False),
    ({"affinity": _required(_expr("zone", "In", "a", "b"))}, {"zone": "b"}, True),
    ({"affinity": _required(_expr("zone", "NotIn", "a"))}, {}, True),
    ({"affinity": _required(_expr("zone", "Exists"))}, {}, False),
    ({"affinity": _required(_expr("zone", "DoesNotExist"))}, {}, True),
    ({"affinity": _required(_expr("cores", "Gt", "4"))}, {"cores": "8"}, True),
    ({"affinity": _required(_expr("cores", "Lt", "4"))}, {"cores": "8"}, False),
    ({"affinity": _required(_expr("zone", "In", "x"), _expr("disk", "Exists"))},
     {"disk": "ssd"}, True),  # terms are ORed
    ({"affinity": _required({})}, {"disk": "ssd"}, False),  # an empty term matches nothing
    ({"affinity": _required({"matchFields": [{"key": "metadata.name", "operator": "In",
                                              "values": ["a"]}]})}, {}, True),
    ({"nodeSelector": {"disk": "ssd"}, "affinity": _required(_expr("zone", "Exists"))},
     {"disk": "ssd"}, False),  # both must hold
])
def test_node_affinity_filter(spec: dict[str, Any], labels: dict[str, str],
                              fits: bool) -> None:
    s = run_filter(nodeaffinity.NodeAffinity(), pod("p", **spec), info(node("a", labels=labels)))
    assert s.success == fits
    if not fits:
        assert (s.code, s.reasons) == (UU, ("node(s) didn't match Pod's node affinity/selector",))


def test_node_affinity_preferred_score() -> None:
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": _expr("disk", "In", "ssd")},
        {"weight": 30, "preference": _expr("zone", "In", "a")}]}}
    snap = Snapshot.build([node("a", labels={"disk": "ssd"}),
                           node("b", labels={"disk": "ssd", "zone": "a"}), node("c")])
    assert run_scores(nodeaffinity.NodeAffinity(), pod("p", affinity=pref), snap) == [25, 100, 0]


def _port(port: int, ip: str = "", proto: str = "TCP") -> dict[str, Any]:
    p: dict[str, Any] = {"containerPort": port, "hostPort": port, "protocol": proto}
    if ip:
        p["hostIP"] = ip
    return p


@pytest.mark.parametrize(("want", "used", "fits"), [
    ([_port(80)], [], True),
    ([_port(80)], [_port(80)], False),
    ([_port(80)], [_port(80, proto="UDP")], True),
    ([_port(80, "10.0.0.1")], [_port(80, "10.0.0.2")], True),
    ([_port(80, "10.0.0.1")], [_port(80)], False),
    ([_port(80)], [_port(80, "10.0.0.2")], False),
    ([_port(8080)], [_port(80)], True),
])
def test_node_ports(want: list[Any], used: list[Any], fits: bool) -> None:
    existing = pod("a", node_name="n", ports=used)
    s = run_filter(nodeports.NodePorts(), pod("p", ports=want), info(node("n"), existing))
    assert s.success == fits
    if not fits:
        assert (s.code, s.reasons) == (
            U, ("node(s) didn't have free ports for the requested pod ports",))


def test_image_locality_prefers_nodes_with_big_images() -> None:
    mb = 1024 * 1024
    snap = Snapshot.build([node("a", images=[("nginx:1.27", 500 * mb)]),
                           node("b", images=[("nginx:1.27", 500 * mb), ("redis", 10 * mb)]),
                           node("c")])
    scores = run_scores(imagelocality.ImageLocality(), pod("p", image="nginx:1.27"), snap)
    # 500MB spread over 2 of 3 nodes: (333 - 23) / (1000 - 23) of 100
    assert scores == [31, 31, 0]
    small = run_scores(imagelocality.ImageLocality(), pod("p", image="redis"), snap)
    assert small == [0, 0, 0]  # below the 23MB threshold
    assert imagelocality.images_of(
        __import__("controlplane.scheduler.snapshot", fromlist=["PodInfo"]).PodInfo.of(
            pod("p", image="redis"))) == ["redis:latest"]


def _anti(key: str, labels: dict[str, str], required: bool = True) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": labels}, "topologyKey": key}
    if required:
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}]}}


def _aff(key: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": key}]}}


H = "kubernetes.io/hostname"


@pytest.mark.parametrize(("new", "existing", "fits_on", "reason"), [
    # anti-affinity to app=db: not on the node running db
    (pod("p", affinity=_anti(H, {"app": "db"})),
     [pod("db", labels={"app": "db"}, node_name="a")], ["b"],
     "node(s) didn't match pod anti-affinity rules"),
    # anti-affinity by zone: both nodes of zone 1 are out
    (pod("p", affinity=_anti("zone", {"app": "db"})),
     [pod("db", labels={"app": "db"}, node_name="a")], [],
     "node(s) didn't match pod anti-affinity rules"),
    # affinity: only where db runs
    (pod("p", affinity=_aff(H, {"app": "db"})),
     [pod("db", labels={"app": "db"}, node_name="b")], ["b"],
     "node(s) didn't match pod affinity rules"),
    # the first pod of a self-affine group goes anywhere
    (pod("p", labels={"app": "web"}, affinity=_aff(H, {"app": "web"})), [], ["a", "b"], None),
    # existing pod's anti-affinity keeps the newcomer away
    (pod("p", labels={"app": "web"}),
     [pod("x", node_name="a", affinity=_anti(H, {"app": "web"}))], ["b"],
     "node(s) didn't satisfy existing pods anti-affinity rules"),
    # other namespaces do not count
    (pod("p", affinity=_anti(H, {"app": "db"})),
     [pod("db", labels={"app": "db"}, node_name="a", namespace="other")], ["a", "b"], None),
])
def test_inter_pod_affinity(new: Any, existing: list[Any], fits_on: list[str],
                            reason: str | None) -> None:
    snap = Snapshot.build([node("a", labels={"zone": "1"}), node("b", labels={"zone": "1"})],
                          existing)
    plugin = interpodaffinity.InterPodAffinity()
    fits = []
    for nd in snap.nodes:
        s = run_filter(plugin, new, nd, snap)
        if s.success:
            fits.append(nd.name)
        else:
            assert s.reasons == (reason,)
    assert fits == fits_on


def test_inter_pod_affinity_preferred_anti_affinity_scores() -> None:
    snap = Snapshot.build([node("a"), node("b")],
                          [pod("db", labels={"app": "db"}, node_name="a")])
    scores = run_scores(interpodaffinity.InterPodAffinity(),
                        pod("p", affinity=_anti(H, {"app": "db"}, required=False)), snap)
    assert scores == [0, 100]

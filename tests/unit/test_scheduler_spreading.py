"""PodTopologySpread (explicit and default constraints) and VolumeBinding."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.scheduler.framework import Code, CycleState
from controlplane.scheduler.plugins import podtopologyspread, volumebinding
from controlplane.scheduler.snapshot import PodInfo, Snapshot
from jota.api.meta import Obj
from jota.api.selectors import from_set
from tests.unit.scheduler_helpers import node, pod, run_filter, run_scores

WEB = {"app": "web"}


def _spread(key: str, skew: int = 1, when: str = "DoNotSchedule") -> list[dict[str, Any]]:
    return [{"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": WEB}}]


def _zones() -> list[Obj]:
    return [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}),
            node("b1", labels={"zone": "b"}), node("x")]


@pytest.mark.parametrize(("existing", "skew", "fits_on"), [
    # zone a has 2 web pods, b none: with skew 1 only zone b
    ({"a1": 1, "a2": 1}, 1, ["b1"]),
    ({"a1": 1, "a2": 1}, 2, ["b1"]),  # 2 + 1 - 0 > 2
    ({"a1": 1, "a2": 1}, 3, ["a1", "a2", "b1"]),
    ({"a1": 1, "b1": 1}, 1, ["a1", "a2", "b1"]),
    ({}, 1, ["a1", "a2", "b1"]),
])
def test_topology_spread_filter(existing: dict[str, int], skew: int,
                                fits_on: list[str]) -> None:
    pods = [pod(f"w-{n}-{i}", labels=WEB, node_name=n)
            for n, count in existing.items() for i in range(count)]
    snap = Snapshot.build(_zones(), pods)
    new = pod("p", labels=WEB, topologySpreadConstraints=_spread("zone", skew))
    fits, reasons = [], set()
    for nd in snap.nodes:
        s = run_filter(podtopologyspread.PodTopologySpread(), new, nd, snap)
        if s.success:
            fits.append(nd.name)
        else:
            reasons.add((s.code, s.reasons))
    assert fits == fits_on
    # node "x" has no zone label: unresolvable, whatever the counts
    assert (Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ("node(s) didn't match pod topology spread constraints (missing required label)",)
            ) in reasons
    if len(fits_on) < 3:
        assert (Code.UNSCHEDULABLE,
                ("node(s) didn't match pod topology spread constraints",)) in reasons


def test_schedule_anyway_scores_emptier_domains_higher() -> None:
    snap = Snapshot.build([node("a"), node("b"), node("c")],
                          [pod("w1", labels=WEB, node_name="a"),
                           pod("w2", labels=WEB, node_name="a"),
                           pod("w3", labels=WEB, node_name="b")])
    new = pod("p", labels=WEB, topologySpreadConstraints=_spread(
        "kubernetes.io/hostname", when="ScheduleAnyway"))
    scores = run_scores(podtopologyspread.PodTopologySpread(), new, snap)
    assert scores[2] == 100 and scores[0] < scores[1] < scores[2]


def test_default_spreading_uses_the_owners_selector() -> None:
    """A ReplicaSet's pods spread over nodes though they never asked to."""
    snap = Snapshot.build([node("a"), node("b")],
                          [pod("w1", labels=WEB, node_name="a"),
                           pod("other", labels={"app": "db"}, node_name="b")])
    plugin = podtopologyspread.PodTopologySpread(lambda pi: from_set(WEB))
    scores = run_scores(plugin, pod("p", labels=WEB), snap)
    assert scores[1] > scores[0]
    # without an owner selecting it there is nothing to spread
    assert run_scores(podtopologyspread.PodTopologySpread(lambda pi: None),
                      pod("p", labels=WEB), snap) == [0, 0]
    # and the filter is not involved
    assert run_filter(plugin, pod("p", labels=WEB), snap.nodes[0], snap).success


class Volumes:
    def __init__(self, objs: list[Obj]) -> None:
        self.objs = objs

    def _find(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        for o in self.objs:
            md = o["metadata"]
            if o["kind"] == kind and md["name"] == name and md.get("namespace", "") == namespace:
                return o
        return None

    def get_pvc(self, namespace: str, name: str) -> Obj | None:
        return self._find("PersistentVolumeClaim", name, namespace)

    def get_pv(self, name: str) -> Obj | None:
        return self._find("PersistentVolume", name)

    def get_storage_class(self, name: str) -> Obj | None:
        return self._find("StorageClass", name)

    def list_pvs(self) -> list[Obj]:
        return [o for o in self.objs if o["kind"] == "PersistentVolume"]


def _pvc(name: str, cls: str = "", volume: str = "") -> Obj:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}
    if cls:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    return {"kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _pv(name: str, node_name: str | None, cls: str = "", claimed: bool = True) -> Obj:
    spec: dict[str, Any] = {"capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                            "storageClassName": cls}
    if node_name:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}}
    if claimed:
        spec["claimRef"] = {"name": "x"}
    return {"kind": "PersistentVolume", "metadata": {"name": name}, "spec": spec,
            "status": {"phase": "Bound" if claimed else "Available"}}


def _class(name: str, mode: str, provisioner: str = "example.com/csi") -> Obj:
    return {"kind": "StorageClass", "metadata": {"name": name}, "provisioner": provisioner,
            "volumeBindingMode": mode}


def _with_claim(name: str) -> Obj:
    return pod("p", volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": name}}])


@pytest.mark.parametrize(("objs", "claim", "fits_on", "reason"), [
    ([_pvc("c", volume="pv"), _pv("pv", "b")], "c", ["b"],
     "node(s) had volume node affinity conflict"),
    ([_pvc("c", volume="pv"), _pv("pv", None)], "c", ["a", "b"], None),
    ([_pvc("c", cls="late"), _class("late", "WaitForFirstConsumer")], "c", ["a", "b"], None),
    ([_pvc("c", cls="now"), _class("now", "Immediate")], "c", [],
     "pod has unbound immediate PersistentVolumeClaims"),
    ([_pvc("c")], "c", [], "pod has unbound immediate PersistentVolumeClaims"),
    ([], "c", [], 'persistentvolumeclaim "c" not found'),
    ([_pvc("c", volume="gone")], "c", [], "pvc(s) bound to non-existent pv(s)"),
    ([_pvc("c", cls="local"),
      _class("local", "WaitForFirstConsumer", "kubernetes.io/no-provisioner"),
      _pv("lpv", "a", "local", claimed=False)], "c", ["a"],
     "node(s) didn't find available persistent volumes to bind"),
    # The built-in local-path class provisions on whichever node is chosen.
    ([_pvc("c", cls="local-path"),
      _class("local-path", "WaitForFirstConsumer", "jota.io/local-path")], "c", ["a", "b"],
     None),
    ([{**_pvc("c", volume="pv"), "metadata": {"name": "c", "namespace": "default",
                                              "deletionTimestamp": "2026-01-01T00:00:00Z"}},
      _pv("pv", None)], "c", [], 'persistentvolumeclaim "c" is being deleted'),
])
def test_volume_binding(objs: list[Obj], claim: str, fits_on: list[str],
                        reason: str | None) -> None:
    snap = Snapshot.build([node("a"), node("b")])
    plugin = volumebinding.VolumeBinding(Volumes(objs))
    fits = []
    for nd in snap.nodes:
        s = run_filter(plugin, _with_claim(claim), nd, snap)
        if s.success:
            fits.append(nd.name)
        else:
            assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
            assert s.reasons == (reason,)
    assert fits == fits_on


def test_delayed_claims_are_annotated_after_scheduling() -> None:
    vols = Volumes([_pvc("c", cls="late"), _class("late", "WaitForFirstConsumer")])
    state = CycleState()
    plugin = volumebinding.VolumeBinding(vols)
    snap = Snapshot.build([node("a")])
    assert plugin.pre_filter(state, PodInfo.of(_with_claim("c")), snap).success
    assert [c["metadata"]["name"] for c in volumebinding.claims_to_annotate(state)] == ["c"]

"""The DaemonSet controller: one pod of the template on every node that should run it.

As Kubernetes' `pkg/controller/daemon`:

- which nodes: `node_should_run` (NodeShouldRunDaemonPod) checks the template's
  nodeSelector and required node affinity, and the node's NoSchedule/NoExecute
  taints against the template's tolerations plus those Kubernetes adds to every
  daemon pod (`DAEMON_TOLERATIONS`: not-ready, unreachable, disk/memory/pid
  pressure, unschedulable), so a cordoned or unready node keeps its daemons. A
  node whose untolerated taint is only NoSchedule keeps a daemon it already runs;
  an untolerated NoExecute one evicts it.
- how: pods are created with a required node affinity on
  `matchFields metadata.name In [node]` (Kubernetes since 1.12), so the default
  scheduler binds them like any pod; `target_node` reads the node back from
  `spec.nodeName` or that term.
- updates: pods carry `controller-revision-hash`, the template's hash (the
  Deployment's `compute_hash`; Jota serves no ControllerRevision kind).
  RollingUpdate replaces old pods node by node within `maxUnavailable` (maxSurge is
  not supported: old pods go first); OnDelete waits for the user to delete them.
- creations and deletions are expected (`ControllerExpectations`) so a slow watch
  never doubles a node's daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.controllers.deployment.revisions import compute_hash
from controlplane.controllers.deployment.sync import int_or_percent
from controlplane.controllers.expectations import ControllerExpectations
from controlplane.controllers.podcontrol import PodControl
from controlplane.controllers.replicaset import (
    OWNED_INDEXERS,
    Now,
    controller_ref,
    created_at,
    is_deleting,
    is_pod_available,
    is_pod_ready,
    min_ready_seconds,
    new_controller_ref,
    patch_owner,
    plan_claims,
    pod_key,
    selector_of,
    uid_of,
)
from controlplane.controllers.runloop import run_controller
from controlplane.scheduler.plugins.nodeaffinity import match_terms
from controlplane.scheduler.plugins.tainttoleration import first_untolerated
from jota.api import errors
from jota.api.meta import Obj, labels_of, name_of, namespace_of
from jota.client import (
    NAMESPACE_INDEX,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    meta_namespace_key,
    object_of,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

HASH_LABEL = "controller-revision-hash"
TEMPLATE_GENERATION = "pod-template-generation"
NAME_FIELD = "metadata.name"

# Added to every daemon pod (util.AddOrUpdateDaemonPodTolerations).
DAEMON_TOLERATIONS: list[Obj] = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
     "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


# ---- pure decisions ---------------------------------------------------------------------------


def _template_spec(ds: Obj) -> Obj:
    spec: Obj = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    return spec


def with_daemon_tolerations(tolerations: list[Obj]) -> list[Obj]:
    """The pod's tolerations plus the daemon ones it does not already have."""
    out = list(tolerations)
    for tol in DAEMON_TOLERATIONS:
        if not any(t.get("key") == tol["key"] and t.get("effect") == tol["effect"]
                   and (t.get("operator") or "Equal") == "Exists" for t in out):
            out.append(dict(tol))
    return out


def node_should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) a daemon pod of `ds` on `node`."""
    spec = _template_spec(ds)
    name, labels = name_of(node), labels_of(node)
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False, False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if required is not None and not match_terms(required.get("nodeSelectorTerms") or [],
                                                name, labels):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations: list[Mapping[str, Any]] = list(
        with_daemon_tolerations(spec.get("tolerations") or []))
    if first_untolerated(taints, tolerations) is None:
        return True, True
    return False, first_untolerated(taints, tolerations, ("NoExecute",)) is None


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its nodeName, or its matchFields affinity term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            values = f.get("values") or []
            if f.get("key") == NAME_FIELD and f.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return ""


def template_hash(ds: Obj) -> str:
    collisions = (ds.get("status") or {}).get("collisionCount")
    return compute_hash((ds.get("spec") or {}).get("template") or {},
                        collisions if isinstance(collisions, int) else None)


def new_daemon_pod(ds: Obj, node: str, hash_: str) -> Obj:
    """A pod of `ds`'s template pinned to `node` (ReplaceDaemonSetPodNodeNameNodeAffinity):
    the required node affinity becomes the one matchFields term; preferred terms stay."""
    template = (ds.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels[HASH_LABEL] = hash_
    labels[TEMPLATE_GENERATION] = str((ds.get("metadata") or {}).get("generation") or 1)
    md: Obj = {"generateName": f"{name_of(ds)}-", "namespace": namespace_of(ds),
               "labels": labels, "ownerReferences": [new_controller_ref(ds)]}
    if tmeta.get("annotations"):
        md["annotations"] = copy.deepcopy(tmeta["annotations"])
    spec: Obj = copy.deepcopy(template.get("spec") or {})
    affinity = spec.setdefault("affinity", {})
    node_aff = affinity.setdefault("nodeAffinity", {})
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": NAME_FIELD, "operator": "In", "values": [node]}]}]}
    spec["tolerations"] = with_daemon_tolerations(spec.get("tolerations") or [])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def is_updated(pod: Obj, hash_: str) -> bool:
    return labels_of(pod).get(HASH_LABEL) == hash_


@dataclass
class NodeVerdict:
    name: str
    should_run: bool
    should_continue: bool


@dataclass
class DaemonPlan:
    """What one sync does: nodes to create a pod on, pods to delete."""

    create: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def pods_by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    """Active pods per target node, oldest first."""
    out: dict[str, list[Obj]] = {}
    for pod in sorted(pods, key=created_at):
        if not is_deleting(pod):
            out.setdefault(target_node(pod), []).append(pod)
    return out


def verdicts(ds: Obj, nodes: list[Obj]) -> list[NodeVerdict]:
    return [NodeVerdict(name_of(n), *node_should_run(ds, n)) for n in
            sorted(nodes, key=name_of)]


def plan_manage(ds: Obj, nodes: list[Obj], pods: list[Obj]) -> DaemonPlan:
    """podsShouldBeOnNode for every node: create where missing, delete failed pods,
    extra pods (the oldest stays), and pods on nodes that must not run them."""
    plan = DaemonPlan()
    per_node = pods_by_node(pods)
    known = set()
    for v in verdicts(ds, nodes):
        known.add(v.name)
        on_node = per_node.get(v.name, [])
        if v.should_run:
            running = []
            for pod in on_node:
                if (pod.get("status") or {}).get("phase") == "Failed":
                    plan.delete.append(pod)
                else:
                    running.append(pod)
            if not running and not any(
                    (p.get("status") or {}).get("phase") == "Failed" for p in on_node):
                plan.create.append(v.name)
            plan.delete.extend(running[1:])
        elif not v.should_continue:
            plan.delete.extend(on_node)
    for node, on_node in per_node.items():
        if node not in known:
            plan.delete.extend(on_node)  # the node is gone (or never was)
    return plan


def max_unavailable(ds: Obj, desired: int) -> int:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    return max(int_or_percent(value, desired, True), 0) or 1


def plan_rolling_update(ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str,
                        now: float) -> list[Obj]:
    """Old pods to delete now (rollingUpdate with maxSurge 0): unavailable old pods
    (which count as unavailable) always, available ones while fewer than maxUnavailable
    nodes lack an available pod."""
    per_node = pods_by_node(pods)
    mrs = min_ready_seconds(ds)
    should = [v for v in verdicts(ds, nodes) if v.should_run]
    budget = max_unavailable(ds, len(should))
    unavailable = 0
    free: list[Obj] = []
    candidates: list[Obj] = []
    for v in should:
        on_node = per_node.get(v.name, [])
        new = [p for p in on_node if is_updated(p, hash_)]
        old = [p for p in on_node if not is_updated(p, hash_)]
        if new:
            if not any(is_pod_available(p, mrs, now) for p in new):
                unavailable += 1
            continue
        if not old:
            unavailable += 1
            continue
        if is_pod_available(old[0], mrs, now):
            candidates.append(old[0])
        else:
            free.append(old[0])
            unavailable += 1
    return free + candidates[:max(budget - unavailable, 0)]


def calculate_status(ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str,
                     now: float) -> Obj:
    """updateDaemonSetStatus: counts per node (its oldest pod speaks for it)."""
    per_node = pods_by_node(pods)
    mrs = min_ready_seconds(ds)
    desired = current = misscheduled = ready = available = updated = 0
    for v in verdicts(ds, nodes):
        on_node = per_node.get(v.name, [])
        if v.should_run:
            desired += 1
            if on_node:
                current += 1
                pod = on_node[0]
                ready += is_pod_ready(pod)
                available += is_pod_available(pod, mrs, now)
                updated += is_updated(pod, hash_)
        elif on_node:
            misscheduled += 1
    status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                   "desiredNumberScheduled": desired, "numberReady": ready,
                   "observedGeneration": int((ds.get("metadata") or {}).get("generation")
                                             or 0)}
    for name, value in (("updatedNumberScheduled", updated), ("numberAvailable", available),
                        ("numberUnavailable", desired - available)):
        if value:
            status[name] = value
    collisions = (ds.get("status") or {}).get("collisionCount")
    if collisions is not None:
        status["collisionCount"] = collisions
    return status


def strategy_type(ds: Obj) -> str:
    return str(((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
               or "RollingUpdate")


# ---- the controller -------------------------------------------------------------------------


class DaemonSetController:
    name = "daemonset"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("daemonset")
        self.expectations = ControllerExpectations()
        self.recorder = EventRecorder(client, "daemonset-controller")
        self.pods = PodControl(client, self.recorder, self.expectations)
        indexers = OWNED_INDEXERS
        self.ds_informer = factory.informer_for("daemonsets", indexers=indexers)
        self.pod_informer = factory.informer_for("pods", indexers=indexers)
        self.node_informer = factory.informer_for("nodes")
        self.ds_informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pod_informer.add_event_handler(on_add=self._add_pod, on_update=self._update_pod,
                                            on_delete=self._delete_pod)
        self.node_informer.add_event_handler(
            on_add=lambda n: self._enqueue_all(), on_update=self._update_node,
            on_delete=lambda obj: self._enqueue_all())

    def _enqueue(self, ds: Obj) -> None:
        self.queue.add(pod_key(ds))

    def _enqueue_all(self) -> None:
        for ds in self.ds_informer.store.list():
            self._enqueue(ds)

    def _update_node(self, old: Obj, new: Obj) -> None:
        if labels_of(old) != labels_of(new) or old.get("spec") != new.get("spec"):
            self._enqueue_all()

    def _owner_of(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        ds = self.ds_informer.store.get_by_key(f"{namespace_of(pod)}/{ref.get('name', '')}")
        return ds if ds is not None and uid_of(ds) == ref.get("uid") else None

    def _add_pod(self, pod: Obj) -> None:
        ds = self._owner_of(pod)
        if ds is not None:
            self.expectations.creation_observed(pod_key(ds))
            self._enqueue(ds)
        elif controller_ref(pod) is None:
            for ds in self.ds_informer.store.by_index(NAMESPACE_INDEX, namespace_of(pod)):
                if selector_of(ds).matches(labels_of(pod)):
                    self._enqueue(ds)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if is_deleting(new) and not is_deleting(old):
            self._delete_pod(new)
            return
        ds = self._owner_of(new)
        if ds is not None:
            self._enqueue(ds)
            mrs = min_ready_seconds(ds)
            if mrs > 0 and not is_pod_ready(old) and is_pod_ready(new):
                self.queue.add_after(pod_key(ds), mrs + 1.0)

    def _delete_pod(self, obj: DeletedObj) -> None:
        pod = object_of(obj)
        ds = self._owner_of(pod)
        if ds is None:
            return
        key = pod_key(ds)
        self.expectations.deletion_observed(key, meta_namespace_key(obj))
        self._enqueue(ds)

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        ds = self.ds_informer.store.get_by_key(key)
        if ds is None:
            self.expectations.delete_expectations(key)
            return
        nodes = self.node_informer.store.list()
        pods = await self._claim_pods(ds)
        hash_ = template_hash(ds)
        if self.expectations.satisfied_expectations(key) and not is_deleting(ds):
            plan = plan_manage(ds, nodes, pods)
            if not plan.create and not plan.delete and strategy_type(ds) == "RollingUpdate":
                plan.delete = plan_rolling_update(ds, nodes, pods, hash_, self.clock())
            await self._carry_out(key, ds, plan, hash_)
        status = calculate_status(ds, nodes, pods, hash_, self.clock())
        await self._write_status(ds, status)
        mrs = min_ready_seconds(ds)
        if mrs > 0 and status.get("numberAvailable", 0) < status["numberReady"]:
            self.queue.add_after(key, float(mrs))

    async def _claim_pods(self, ds: Obj) -> list[Obj]:
        candidates = [p for p in self.pod_informer.store.by_index(NAMESPACE_INDEX,
                                                                  namespace_of(ds))
                      if (p.get("status") or {}).get("phase") != "Succeeded"]
        claims = plan_claims(ds, selector_of(ds), candidates)
        owned = list(claims.owned)
        for pod in claims.adopt:
            adopted = await patch_owner(self.client, pod, ds, adopt=True)
            if adopted is not None:
                owned.append(adopted)
        for pod in claims.release:
            await patch_owner(self.client, pod, ds, adopt=False)
        return owned


    async def _carry_out(self, key: str, ds: Obj, plan: DaemonPlan, hash_: str) -> None:
        self.expectations.set_expectations(key, len(plan.create), 0)
        if plan.delete:
            self.expectations.expect_deletions(key, [pod_key(p) for p in plan.delete])
            self.expectations.raise_expectations(key, len(plan.create), 0)
        results: list[Any] = []
        if plan.create:
            results += await asyncio.gather(
                *(self.pods.create(key, ds, new_daemon_pod(ds, n, hash_)) for n in plan.create),
                return_exceptions=True)
        if plan.delete:
            results += await asyncio.gather(*(self.pods.delete(key, ds, p)
                                              for p in plan.delete), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    async def _write_status(self, ds: Obj, status: Obj) -> None:
        if (ds.get("status") or {}) == status:
            return
        fresh = copy.deepcopy(ds)
        fresh["status"] = status
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.update_status("daemonsets", fresh, namespace_of(ds))

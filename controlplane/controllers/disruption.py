"""The disruption controller: a PodDisruptionBudget's status, from its pods.

As Kubernetes' `pkg/controller/disruption`: for each budget, the pods it selects
give `currentHealthy` (ready, not being deleted, not just evicted); `minAvailable`
or `maxUnavailable` against the expected pod count give `desiredHealthy`;
`disruptionsAllowed` is the difference (never below 0), and the DisruptionAllowed
condition says whether an eviction may proceed. The expected count is the number of
selected pods for an integer `minAvailable`, otherwise the sum of the scales of the
pods' controllers (a Deployment through its ReplicaSet, a ReplicaSet, a
StatefulSet). A budget whose count cannot be known (a pod whose controller has no
scale) fails safe: no disruption allowed, reason SyncFailed.

The eviction subresource notes each pod it is about to delete in
`status.disruptedPods`; such a pod is not counted healthy for two minutes (or
until it is deleted), so two quick evictions cannot both spend the last disruption.

`compute_status` is pure; `DisruptionController` reads the informer caches and
writes the status only when it changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from controlplane.controllers.replicaset import controller_ref, format_time, parse_time
from jota.api import errors
from jota.api.disruption import (
    DELETION_TIMEOUT,
    SYNC_FAILED,
    is_pod_ready,
    scaled_value,
    selects,
    set_allowed_condition,
)
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import (
    NAMESPACE_INDEX,
    NORMAL,
    WARNING,
    Client,
    EventRecorder,
    IndexFunc,
    RateLimitingQueue,
    SharedInformerFactory,
    index_by_namespace,
    object_of,
    run_workers,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

ScaleOf = Callable[[Obj, str], "tuple[str, int] | None"]
"""(controllerRef, namespace) -> (uid of the controller that owns the scale, replicas)."""
STATUS_FIELDS = ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed",
                 "disruptedPods", "observedGeneration", "conditions")


class SyncFailed(Exception):
    """The expected pod count cannot be known (why, in Kubernetes' words)."""


# ---- pure --------------------------------------------------------------------------------------


def expected_scale(pods: list[Obj], scale_of: ScaleOf) -> int:
    """The summed scale of the pods' controllers (getExpectedScale); pods without a
    controller are not counted."""
    scales: dict[str, int] = {}
    for pod in pods:
        ref = controller_ref(pod)
        if ref is None:
            continue
        found = scale_of(ref, namespace_of(pod))
        if found is None:
            raise SyncFailed(f'found no controllers for pod "{name_of(pod)}"')
        scales[found[0]] = found[1]
    return sum(scales.values())


def expected_and_desired(pdb: Obj, pods: list[Obj], scale_of: ScaleOf) -> tuple[int, int]:
    """(expectedPods, desiredHealthy) as getExpectedPodCount."""
    spec = pdb.get("spec") or {}
    try:
        if spec.get("maxUnavailable") is not None:
            expected = expected_scale(pods, scale_of)
            unavailable = scaled_value(spec["maxUnavailable"], expected, True)
            return expected, max(0, expected - unavailable)
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available
        if min_available is not None:
            expected = expected_scale(pods, scale_of)
            return expected, scaled_value(min_available, expected, True)
    except ValueError as e:
        raise SyncFailed(str(e)) from None
    return 0, 0


def live_disruptions(pdb: Obj, pods: list[Obj], now: float) -> tuple[dict[str, str],
                                                                      float | None]:
    """The status.disruptedPods entries still pending (pod there, not yet deleting,
    within the deletion timeout), and when the earliest of them expires."""
    noted = (pdb.get("status") or {}).get("disruptedPods") or {}
    kept: dict[str, str] = {}
    recheck: float | None = None
    for pod in pods:
        name = name_of(pod)
        if (pod.get("metadata") or {}).get("deletionTimestamp") or name not in noted:
            continue
        at = parse_time(noted[name])
        if at is None or at + DELETION_TIMEOUT < now:
            continue  # the eviction never led to a delete: count the pod again
        kept[name] = str(noted[name])
        expires = at + DELETION_TIMEOUT
        recheck = expires if recheck is None else min(recheck, expires)
    return kept, recheck


def count_healthy(pods: list[Obj], disrupted: dict[str, str]) -> int:
    return sum(1 for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
               and name_of(p) not in disrupted and is_pod_ready(p))


def compute_status(pdb: Obj, pods: list[Obj], scale_of: ScaleOf, now: float
                   ) -> tuple[Obj, float | None]:
    """The budget's new status over the pods it selects, and when to look again.
    Raises nothing: a count that cannot be known gives the fail-safe status."""
    status: Obj = dict(pdb.get("status") or {})
    generation = int((pdb.get("metadata") or {}).get("generation") or 0)
    stamp = format_time(now)
    try:
        expected, desired = expected_and_desired(pdb, pods, scale_of)
    except SyncFailed:
        status.update(disruptionsAllowed=0, observedGeneration=generation)
        set_allowed_condition(status, stamp, failed=True)
        return status, None
    disrupted, recheck = live_disruptions(pdb, pods, now)
    healthy = count_healthy(pods, disrupted)
    allowed = healthy - desired if expected > 0 else 0
    status.update(currentHealthy=healthy, desiredHealthy=desired, expectedPods=expected,
                  disruptionsAllowed=max(0, allowed), observedGeneration=generation)
    if disrupted:
        status["disruptedPods"] = disrupted
    else:
        status.pop("disruptedPods", None)
    set_allowed_condition(status, stamp)
    return status, recheck


def status_changed(old: Obj, new: Obj) -> bool:
    """Ignoring a condition's transition time, which only moves with its status."""
    def strip(status: Obj) -> dict[str, Any]:
        out = {k: status.get(k) for k in STATUS_FIELDS if k != "conditions"}
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in status.get("conditions") or [] if isinstance(c, dict)]
        return out
    return strip(old) != strip(new)


# ---- the controller ----------------------------------------------------------------------------


class DisruptionController:
    name = "disruption"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("disruption")
        self.recorder = EventRecorder(client, "controllermanager")
        indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self.pdbs = factory.informer_for("poddisruptionbudgets", indexers=indexers)
        self.pods = factory.informer_for("pods", indexers=indexers)
        self.replicasets = factory.informer_for("replicasets")
        self.deployments = factory.informer_for("deployments")
        self.statefulsets = factory.informer_for("statefulsets")
        self.pdbs.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)
        for inf in (self.replicasets, self.deployments, self.statefulsets):
            inf.add_event_handler(on_update=self._scale_changed)

    async def run(self, workers: int = 2) -> None:
        await run_workers(self.queue, self.sync, workers)

    # -- event handlers --

    def _enqueue(self, pdb: Obj) -> None:
        self.queue.add(f"{namespace_of(pdb)}/{name_of(pdb)}")

    def _budgets_of(self, pod: Obj) -> list[Obj]:
        return [b for b in self.pdbs.store.by_index(NAMESPACE_INDEX, namespace_of(pod))
                if selects(b, pod)]

    def _pod_changed(self, pod: Obj) -> None:
        for pdb in self._budgets_of(pod):
            self._enqueue(pdb)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == \
                (new.get("metadata") or {}).get("resourceVersion"):
            return
        for pdb in self._budgets_of(old) + self._budgets_of(new):
            self._enqueue(pdb)

    def _pod_deleted(self, obj: DeletedObj) -> None:
        self._pod_changed(object_of(obj))

    def _scale_changed(self, old: Obj, new: Obj) -> None:
        """A controller's scale is a percentage budget's expected count."""
        if (old.get("spec") or {}).get("replicas") == (new.get("spec") or {}).get("replicas"):
            return
        for pdb in self.pdbs.store.by_index(NAMESPACE_INDEX, namespace_of(new)):
            self._enqueue(pdb)

    # -- the scale of a pod's controller (the finders) --

    def _owned(self, inf_store: Any, ref: Obj, namespace: str) -> Obj | None:
        obj: Obj | None = inf_store.get_by_key(f"{namespace}/{ref.get('name', '')}")
        if obj is None or (obj.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return obj

    def scale_of(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        kind = ref.get("kind")
        owner: Obj | None = None
        if kind == "ReplicaSet":
            owner = self._owned(self.replicasets.store, ref, namespace)
            parent = controller_ref(owner) if owner is not None else None
            if parent is not None and parent.get("kind") == "Deployment":
                owner = self._owned(self.deployments.store, parent, namespace)
        elif kind == "StatefulSet":
            owner = self._owned(self.statefulsets.store, ref, namespace)
        elif kind == "Deployment":
            owner = self._owned(self.deployments.store, ref, namespace)
        if owner is None:
            return None
        replicas = (owner.get("spec") or {}).get("replicas")
        return str(owner["metadata"]["uid"]), int(replicas if isinstance(replicas, int) else 1)

    # -- sync --

    async def sync(self, key: str) -> None:
        pdb = self.pdbs.store.get_by_key(key)
        if pdb is None:
            return
        namespace = namespace_of(pdb)
        pods = [p for p in self.pods.store.by_index(NAMESPACE_INDEX, namespace)
                if selects(pdb, p)]
        if not pods:
            self.recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        now = self.clock()
        status, recheck = compute_status(pdb, pods, self.scale_of, now)
        if recheck is not None:
            self.queue.add_after(key, max(0.0, recheck - now) + 0.1)
        if any(c.get("reason") == SYNC_FAILED for c in status.get("conditions") or []):
            self.recorder.event(pdb, WARNING, "CalculateExpectedPodCountFailed",
                                "Failed to calculate the number of expected pods")
        if not status_changed(pdb.get("status") or {}, status):
            return
        try:
            await self.client.update_status("poddisruptionbudgets", {**pdb, "status": status},
                                            namespace)
        except errors.NotFound:
            return

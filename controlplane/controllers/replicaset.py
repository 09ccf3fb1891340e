"""The ReplicaSet controller: keeps `spec.replicas` pods matching a template running.

As Kubernetes' `pkg/controller/replicaset`: `sync(key)` reads the informer caches
only, claims the pods the ReplicaSet's selector matches (adopting orphans,
releasing pods that no longer match), then creates or deletes the difference:

- creates in slow-start batches (1, 2, 4, ...), so a template the apiserver
  rejects costs one failed call, not five hundred;
- deletes the least valuable pods first: unscheduled, pending, not ready, on a
  node with more of its siblings, ready for the shortest time, most restarted,
  newest (Kubernetes' `ActivePodsWithRanks`);
- expects what it creates and deletes (`ControllerExpectations`) and does not
  create or delete again for that ReplicaSet until the pod informer has seen it
  all, so a slow watch never doubles pods.

Status (`replicas`, `readyReplicas`, `availableReplicas` with minReadySeconds)
comes from the pure `calculate_status` and is written once per sync.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controlplane.controllers.expectations import ControllerExpectations
from controlplane.controllers.podcontrol import PodControl
from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, labels_of, name_of, namespace_of
from jota.api.selectors import LabelSelector, from_label_selector_object
from jota.client import (
    NAMESPACE_INDEX,
    Client,
    EventRecorder,
    IndexFunc,
    RateLimitingQueue,
    SharedInformerFactory,
    index_by_controller_uid,
    index_by_namespace,
    meta_namespace_key,
    object_of,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

CONTROLLER_UID_INDEX = "controller.uid"
# The indexes every workload controller looks its pods (or Jobs) up by: namespace, and
# the uid of their controlling owner. Shared informers must agree on them.
OWNED_INDEXERS: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace,
                                        CONTROLLER_UID_INDEX: index_by_controller_uid}
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}
Now = Callable[[], float]


# ---- small facts about objects -------------------------------------------------------------


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp, None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def format_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def created_at(obj: Obj) -> float:
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp")) or 0.0


def uid_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with `controller: true`, as metav1.GetControllerOf."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj) -> Obj:
    return {"apiVersion": owner.get("apiVersion", ""), "kind": owner.get("kind", ""),
            "name": name_of(owner), "uid": uid_of(owner), "controller": True,
            "blockOwnerDeletion": True}


async def patch_owner(client: Client, pod: Obj, owner: Obj, *, adopt: bool) -> Obj | None:
    """Adopt `pod` (make `owner` its controller) or release it, as client-go's
    ControllerRefManager: a merge patch guarded by the pod's resourceVersion, so an
    adoption never races a change; None when the pod changed or went meanwhile."""
    refs = [r for r in (pod["metadata"].get("ownerReferences") or [])
            if r.get("uid") != uid_of(owner)]
    if adopt:
        refs.append(new_controller_ref(owner))
    patch = {"metadata": {"ownerReferences": refs or None,
                          "resourceVersion": pod["metadata"].get("resourceVersion")}}
    try:
        return await client.patch("pods", name_of(pod), patch, namespace_of(pod),
                                  patch_type="merge")
    except (errors.NotFound, errors.Conflict):
        return None

def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_pod_active(pod: Obj) -> bool:
    """Counts toward replicas: not finished and not being deleted (FilterActivePods)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_deleting(pod)


def _ready_condition(pod: Obj) -> Obj | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Obj) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def pod_ready_time(pod: Obj) -> float | None:
    cond = _ready_condition(pod)
    if cond is None or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = pod_ready_time(pod)
    return since is not None and since + min_ready_seconds <= now


def selector_of(obj: Obj) -> LabelSelector:
    return from_label_selector_object((obj.get("spec") or {}).get("selector"))


def spec_replicas(obj: Obj) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return int(value) if isinstance(value, int) else 1


def min_ready_seconds(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("minReadySeconds") or 0)


# ---- pure decisions ---------------------------------------------------------------------------


@dataclass
class Claims:
    """What a controller owns after claiming (ControllerRefManager.Claim*)."""

    owned: list[Obj] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def plan_claims(owner: Obj, selector: LabelSelector, candidates: list[Obj]) -> Claims:
    """Owned objects that match stay; orphans that match are adopted (unless the owner
    is going away or the orphan is); owned ones that no longer match are released."""
    claims = Claims()
    uid = uid_of(owner)
    for obj in candidates:
        ref = controller_ref(obj)
        matches = selector.matches(labels_of(obj))
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches:
                claims.owned.append(obj)
            elif not is_deleting(owner):
                claims.release.append(obj)
            continue
        if matches and not is_deleting(owner) and not is_deleting(obj):
            claims.adopt.append(obj)
    return claims


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes that double from `initial` and add up to `count`: 10 -> [1, 2, 4, 3]."""
    batches: list[int] = []
    remaining, size = count, min(count, initial)
    while size > 0:
        batches.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return batches


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)),
               default=0)


def _deletion_cost(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _deletion_rank_key(pod: Obj, doubled_up: int) -> tuple[Any, ...]:
    """Smaller sorts first, i.e. is deleted first."""
    node = (pod.get("spec") or {}).get("nodeName") or ""
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    ready = is_pod_ready(pod)
    ready_since = pod_ready_time(pod) if ready else None
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    return (
        bool(node),                                     # 1. unassigned first
        _PHASE_ORDER.get(phase, 3),                     # 2. Pending < Unknown < Running
        ready,                                          # 3. not ready first
        _deletion_cost(pod),                            # 4. lower deletion cost first
        -doubled_up,                                    # 5. doubled up on a node first
        -(ready_since if ready_since is not None else float("inf")),  # 6. ready shortest
        -_max_restarts(pod),                            # 7. restarted most first
        -(parse_time(created) or float("inf")),         # 8. newest first
    )


def pods_to_delete(pods: list[Obj], related: list[Obj], diff: int) -> list[Obj]:
    """The `diff` least valuable of `pods`; `related` are pods of sibling ReplicaSets
    too (by node), so a scale-down spreads what is left over more nodes."""
    if diff >= len(pods):
        return list(pods)
    per_node: dict[str, int] = {}
    for pod in related:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if node and is_pod_active(pod):
            per_node[node] = per_node.get(node, 0) + 1

    def rank(pod: Obj) -> tuple[Any, ...]:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        return _deletion_rank_key(pod, per_node.get(node, 0) if node else 0)

    return sorted(pods, key=rank)[:diff]


def pod_from_template(rs: Obj) -> Obj:
    """A new pod of `rs` (GetPodFromTemplate): template labels, annotations, spec."""
    template = (rs.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    md: Obj = {"generateName": f"{name_of(rs)}-", "namespace": namespace_of(rs),
               "ownerReferences": [new_controller_ref(rs)]}
    for fld in ("labels", "annotations", "finalizers"):
        if tmeta.get(fld):
            md[fld] = copy.deepcopy(tmeta[fld])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def _set_condition(conditions: list[Obj], cond: Obj | None, kind: str) -> list[Obj]:
    rest = [c for c in conditions if c.get("type") != kind]
    return rest + ([cond] if cond is not None else [])


def calculate_status(rs: Obj, pods: list[Obj], now: float,
                     manage_error: tuple[str, str] | None = None) -> Obj:
    """The ReplicaSet's status from its active pods (calculateStatus).

    `manage_error` is (reason, message) of a failed create/delete: it becomes the
    ReplicaFailure condition, removed again by the next clean sync.
    """
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}) \
        .get("labels") or {}
    mrs = min_ready_seconds(rs)
    fully = sum(1 for p in pods
                if all(labels_of(p).get(k) == v for k, v in template_labels.items()))
    ready = sum(1 for p in pods if is_pod_ready(p))
    available = sum(1 for p in pods if is_pod_available(p, mrs, now))
    old = rs.get("status") or {}
    conditions = list(old.get("conditions") or [])
    failure = None
    if manage_error is not None:
        prev = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
        failure = {"type": "ReplicaFailure", "status": "True",
                   "lastTransitionTime": (prev or {}).get("lastTransitionTime")
                   or format_time(now),
                   "reason": manage_error[0], "message": manage_error[1]}
    conditions = _set_condition(conditions, failure, "ReplicaFailure")
    status: Obj = {"replicas": len(pods)}
    for name, value in (("fullyLabeledReplicas", fully), ("readyReplicas", ready),
                        ("availableReplicas", available)):
        if value:
            status[name] = value
    status["observedGeneration"] = int((rs.get("metadata") or {}).get("generation") or 0)
    if conditions:
        status["conditions"] = conditions
    return status


def pod_key(pod: Obj) -> str:
    return f"{namespace_of(pod)}/{name_of(pod)}"


# ---- the controller -------------------------------------------------------------------------


class ReplicaSetController:
    name = "replicaset"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time, burst_replicas: int = BURST_REPLICAS) -> None:
        self.client = client
        self.clock = clock
        self.burst_replicas = burst_replicas
        self.queue = RateLimitingQueue("replicaset")
        self.expectations = ControllerExpectations()
        self.recorder = EventRecorder(client, "replicaset-controller")
        self.pods = PodControl(client, self.recorder, self.expectations)
        indexers = OWNED_INDEXERS
        self.rs_informer = factory.informer_for("replicasets", indexers=indexers)
        self.pod_informer = factory.informer_for("pods", indexers=indexers)
        self.rs_informer.add_event_handler(
            on_add=self._enqueue, on_update=self._update_rs,
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pod_informer.add_event_handler(on_add=self._add_pod, on_update=self._update_pod,
                                            on_delete=self._delete_pod)

    # -- event handlers: enqueue keys, observe expectations --

    def _enqueue(self, rs: Obj) -> None:
        self.queue.add(pod_key(rs))

    def _update_rs(self, old: Obj, new: Obj) -> None:
        self._enqueue(new)

    def _owner_of(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rs_informer.store.get_by_key(f"{namespace_of(pod)}/{ref.get('name', '')}")
        if rs is None or uid_of(rs) != ref.get("uid"):
            return None
        return rs

    def _matching_sets(self, pod: Obj) -> list[Obj]:
        return [rs for rs in self.rs_informer.store.by_index(NAMESPACE_INDEX,
                                                             namespace_of(pod))
                if selector_of(rs).matches(labels_of(pod))]

    def _add_pod(self, pod: Obj) -> None:
        if is_deleting(pod):
            self._delete_pod(pod)  # a restarted controller sees it already going
            return
        rs = self._owner_of(pod)
        if rs is not None:
            self.expectations.creation_observed(pod_key(rs))
            self._enqueue(rs)
        elif controller_ref(pod) is None:
            for rs in self._matching_sets(pod):
                self._enqueue(rs)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == \
                (new.get("metadata") or {}).get("resourceVersion"):
            return  # a resync: nothing changed
        if is_deleting(new) and not is_deleting(old):
            self._delete_pod(new)  # counts as deleted from now on
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            prev = self._owner_of(old)
            if prev is not None:
                self._enqueue(prev)
        rs = self._owner_of(new)
        if rs is not None:
            self._enqueue(rs)
            mrs = min_ready_seconds(rs)
            if mrs > 0 and not is_pod_ready(old) and is_pod_ready(new):
                self.queue.add_after(pod_key(rs), mrs + 1.0)
        elif new_ref is None and (labels_of(old) != labels_of(new) or old_ref is not None):
            for rs in self._matching_sets(new):
                self._enqueue(rs)

    def _delete_pod(self, obj: DeletedObj) -> None:
        pod = object_of(obj)
        rs = self._owner_of(pod)
        if rs is None:
            return
        key = pod_key(rs)
        self.expectations.deletion_observed(key, meta_namespace_key(obj))
        self._enqueue(rs)

    # -- the loop --

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        rs = self.rs_informer.store.get_by_key(key)
        if rs is None:
            self.expectations.delete_expectations(key)
            return
        needs_sync = self.expectations.satisfied_expectations(key)
        pods = await self._claim_pods(rs)
        manage_error: tuple[str, str] | None = None
        failure: Exception | None = None
        if needs_sync and not is_deleting(rs):
            try:
                await self._manage_replicas(key, rs, pods)
            except errors.APIError as e:
                creating = len(pods) < spec_replicas(rs)
                manage_error = ("FailedCreate" if creating else "FailedDelete", e.message)
                failure = e
        status = calculate_status(rs, pods, self.clock(), manage_error)
        updated = await self._write_status(rs, status)
        st = updated.get("status") or {}
        mrs = min_ready_seconds(updated)
        if failure is None and mrs > 0 and st.get("readyReplicas", 0) == spec_replicas(
                updated) and st.get("availableReplicas", 0) != spec_replicas(updated):
            self.queue.add_after(key, float(mrs))
        if failure is not None:
            raise failure

    async def _claim_pods(self, rs: Obj) -> list[Obj]:
        candidates = [p for p in self.pod_informer.store.by_index(NAMESPACE_INDEX,
                                                                  namespace_of(rs))
                      if is_pod_active(p)]
        claims = plan_claims(rs, selector_of(rs), candidates)
        owned = list(claims.owned)
        if claims.adopt and not is_deleting(rs):
            # Re-check the ReplicaSet is still there with that uid before adopting
            # (RecheckDeletionTimestamp): adopting for a deleted owner leaks pods.
            fresh = await self.client.get("replicasets", name_of(rs), namespace_of(rs))
            if uid_of(fresh) == uid_of(rs) and not is_deleting(fresh):
                for pod in claims.adopt:
                    adopted = await patch_owner(self.client, pod, rs, adopt=True)
                    if adopted is not None:
                        owned.append(adopted)
        for pod in claims.release:
            await patch_owner(self.client, pod, rs, adopt=False)
        return owned


    async def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj]) -> None:
        diff = len(pods) - spec_replicas(rs)
        if diff < 0:
            await self._create_pods(key, rs, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete_pods(key, rs, pods, min(diff, self.burst_replicas))

    async def _create_pods(self, key: str, rs: Obj, count: int) -> None:
        self.expectations.expect_creations(key, count)
        attempted = 0
        try:
            for size in slow_start_batches(count):
                attempted += size
                results = await asyncio.gather(
                    *(self.pods.create(key, rs, pod_from_template(rs)) for _ in range(size)),
                    return_exceptions=True)
                failed = [r for r in results if isinstance(r, BaseException)]
                if failed:
                    raise failed[0]
        finally:
            # Pods of batches never started will never be observed (a failed create
            # lowered the count itself).
            for _ in range(count - attempted):
                self.expectations.creation_observed(key)

    async def _delete_pods(self, key: str, rs: Obj, pods: list[Obj], count: int) -> None:
        related = [p for p in self.pod_informer.store.by_index(NAMESPACE_INDEX,
                                                               namespace_of(rs))
                   if selector_of(rs).matches(labels_of(p))]
        victims = pods_to_delete(pods, related, count)
        self.expectations.expect_deletions(key, [pod_key(p) for p in victims])
        results = await asyncio.gather(*(self.pods.delete(key, rs, p) for p in victims),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    async def _write_status(self, rs: Obj, status: Obj) -> Obj:
        if (rs.get("status") or {}) == status:
            return rs
        fresh = copy.deepcopy(rs)
        fresh["status"] = status
        try:
            return await self.client.update_status("replicasets", fresh, namespace_of(rs))
        except errors.NotFound:
            return rs

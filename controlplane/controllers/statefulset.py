"""The StatefulSet controller: pods with stable names, stable storage, in order.

As Kubernetes' `pkg/controller/statefulset`:

- pod `i` of set `web` is `web-i`, labelled `statefulset.kubernetes.io/pod-name` and
  `apps.kubernetes.io/pod-index`, with hostname `web-i` and subdomain the set's
  `serviceName` (the headless Service the user makes gives it a DNS name);
- every volumeClaimTemplate `data` gives pod `i` the PVC `data-web-i`, created
  before the pod and referenced by the pod's volume `data`. Claims outlive their
  pods: scaling down keeps them, so scaling up again finds the data
  (persistentVolumeClaimRetentionPolicy `whenDeleted: Delete` makes the set own
  them, so they go with the set; `whenScaled: Delete` is not supported);
- OrderedReady (the default) creates `web-(i+1)` only once `web-0..web-i` are
  Running and Ready, deletes from the highest ordinal down, one at a time, and
  waits for every pod to be healthy before going on; Parallel does it all at once;
- RollingUpdate replaces pods whose `controller-revision-hash` differs from the
  update revision, from the highest ordinal down to `partition`, one at a time,
  waiting for each to be Ready again; OnDelete waits for the user to delete them.

Revisions are `<set>-<hash of the template>` (the Deployment's `compute_hash`).
Jota serves no ControllerRevision kind, so old templates are not kept: a pod
below the partition that is deleted comes back at the update revision.

`plan_sync` is the pure decision (defaultStatefulSetControl.updateStatefulSet);
the controller only carries out its actions and writes `calculate_status`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import time
from dataclasses import dataclass

from controlplane.controllers.deployment.revisions import compute_hash
from controlplane.controllers.replicaset import (
    OWNED_INDEXERS,
    Now,
    controller_ref,
    is_deleting,
    is_pod_available,
    is_pod_ready,
    min_ready_seconds,
    new_controller_ref,
    patch_owner,
    plan_claims,
    pod_key,
    selector_of,
    spec_replicas,
)
from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, labels_of, name_of, namespace_of
from jota.client import (
    NAMESPACE_INDEX,
    NORMAL,
    WARNING,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    index_by_namespace,
    object_of,
)

logger = logging.getLogger(__name__)

HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


# ---- identity --------------------------------------------------------------------------------


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{name_of(sts)}-{ordinal}"


def ordinal_of(sts: Obj, pod: Obj) -> int | None:
    """The pod's ordinal if its name is `<set>-<n>`, else None (getParentNameAndOrdinal)."""
    m = _ORDINAL.match(name_of(pod))
    if m is None or m.group(1) != name_of(sts):
        return None
    return int(m.group(2))


def claim_name(template: Obj, sts: Obj, ordinal: int) -> str:
    return f"{name_of(template)}-{pod_name(sts, ordinal)}"


def revision_name(sts: Obj) -> str:
    # As Kubernetes, the count is always hashed (0 until a collision), so the name does
    # not change when the first status write records collisionCount: 0.
    collisions = (sts.get("status") or {}).get("collisionCount")
    hash_ = compute_hash((sts.get("spec") or {}).get("template") or {},
                         collisions if isinstance(collisions, int) else 0)
    return f"{name_of(sts)}-{hash_}"


def revision_of(pod: Obj) -> str:
    return str(labels_of(pod).get(HASH_LABEL) or "")


def claim_templates(sts: Obj) -> list[Obj]:
    return [t for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or []
            if isinstance(t, dict)]


def new_claim(sts: Obj, template: Obj, ordinal: int) -> Obj:
    """The PVC of `template` for pod `ordinal`: the template plus the set's selector
    labels; owned by the set only when whenDeleted is Delete."""
    md = copy.deepcopy(template.get("metadata") or {})
    labels = dict(md.get("labels") or {})
    labels.update(((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    meta: Obj = {"name": claim_name(template, sts, ordinal), "namespace": namespace_of(sts)}
    if labels:
        meta["labels"] = labels
    if md.get("annotations"):
        meta["annotations"] = md["annotations"]
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenDeleted") == "Delete":
        ref = new_controller_ref(sts)
        ref["controller"] = True
        meta["ownerReferences"] = [ref]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


def new_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    """Pod `ordinal` of the set at `revision` (newVersionedStatefulSetPod)."""
    template = (sts.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    name = pod_name(sts, ordinal)
    labels = dict(tmeta.get("labels") or {})
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), HASH_LABEL: revision})
    md: Obj = {"name": name, "namespace": namespace_of(sts), "labels": labels,
               "ownerReferences": [new_controller_ref(sts)]}
    if tmeta.get("annotations"):
        md["annotations"] = copy.deepcopy(tmeta["annotations"])
    spec: Obj = copy.deepcopy(template.get("spec") or {})
    spec["hostname"] = name
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claims = claim_templates(sts)
    if claims:
        names = {name_of(t) for t in claims}
        volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in names]
        for t in claims:
            volumes.append({"name": name_of(t), "persistentVolumeClaim": {
                "claimName": claim_name(t, sts, ordinal)}})
        spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


# ---- pure decisions ---------------------------------------------------------------------------


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_deleting(pod)


@dataclass(frozen=True)
class Action:
    """One write: `create_claim`, `create_pod` or `delete_pod` of `obj`."""

    verb: str
    obj: Obj
    pod: str = ""


def _partition(sts: Obj) -> int:
    strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
    return int((strategy.get("rollingUpdate") or {}).get("partition") or 0)


def plan_sync(sts: Obj, pods: list[Obj], claims: set[str], update_revision: str
              ) -> list[Action]:
    """What to do now, in order, given the set's pods and the names of existing PVCs."""
    spec = sts.get("spec") or {}
    monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
    replicas = spec_replicas(sts)
    slots: dict[int, Obj] = {}
    condemned: list[Obj] = []
    for member in pods:
        ordinal = ordinal_of(sts, member)
        if ordinal is None:
            continue
        if ordinal < replicas:
            slots[ordinal] = member
        else:
            condemned.append(member)
    condemned.sort(key=lambda p: ordinal_of(sts, p) or 0)
    unhealthy = [slots[i] for i in sorted(slots) if not is_healthy(slots[i])]
    unhealthy += [p for p in condemned if not is_healthy(p)]
    first_unhealthy = unhealthy[0] if unhealthy else None

    actions: list[Action] = []

    def missing_claims(ordinal: int) -> list[Action]:
        return [Action("create_claim", new_claim(sts, t, ordinal), pod_name(sts, ordinal))
                for t in claim_templates(sts) if claim_name(t, sts, ordinal) not in claims]

    for i in range(replicas):
        pod = slots.get(i)
        if pod is not None and is_failed(pod) and not is_deleting(pod):
            actions.append(Action("delete_pod", pod))
            if monotonic:
                return actions
            continue
        if pod is None:
            actions += missing_claims(i)
            actions.append(Action("create_pod", new_pod(sts, i, update_revision)))
            if monotonic:
                return actions
            continue
        if is_deleting(pod):
            if monotonic:
                return actions
            continue
        actions += missing_claims(i)
        if not is_running_and_ready(pod) and monotonic:
            return actions
    for pod in reversed(condemned):
        if is_deleting(pod):
            if monotonic:
                return actions
            continue
        if monotonic and not is_running_and_ready(pod) and pod is not first_unhealthy:
            return actions
        actions.append(Action("delete_pod", pod))
        if monotonic:
            return actions
    if actions or (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return actions
    for i in range(replicas - 1, _partition(sts) - 1, -1):
        target = slots.get(i)
        if target is None:
            return actions
        if revision_of(target) != update_revision and not is_deleting(target):
            return [Action("delete_pod", target)]
        if not is_healthy(target):
            return actions
    return actions


def calculate_status(sts: Obj, pods: list[Obj], update_revision: str, now: float) -> Obj:
    """computeReplicaStatus, plus currentRevision catching up once a rollout is done."""
    old = sts.get("status") or {}
    current_revision = str(old.get("currentRevision") or update_revision)
    mrs = min_ready_seconds(sts)
    live = [p for p in pods if not is_deleting(p) and ordinal_of(sts, p) is not None]
    ready = sum(1 for p in live if is_running_and_ready(p))
    available = sum(1 for p in live if is_running_and_ready(p)
                    and is_pod_available(p, mrs, now))
    current = sum(1 for p in live if revision_of(p) == current_revision)
    updated = sum(1 for p in live if revision_of(p) == update_revision)
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get(
        "type", "RollingUpdate") == "RollingUpdate"
    if rolling and updated == len(live) and ready == len(live):
        current_revision, current = update_revision, updated
    status: Obj = {"observedGeneration": int((sts.get("metadata") or {}).get("generation")
                                             or 0),
                   "replicas": len(live)}
    for name, value in (("readyReplicas", ready), ("currentReplicas", current),
                        ("updatedReplicas", updated), ("availableReplicas", available)):
        if value:
            status[name] = value
    status["currentRevision"] = current_revision
    status["updateRevision"] = update_revision
    status["collisionCount"] = int(old.get("collisionCount") or 0)
    return status


# ---- the controller -------------------------------------------------------------------------


class StatefulSetController:
    name = "statefulset"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("statefulset")
        self.recorder = EventRecorder(client, "statefulset-controller")
        indexers = OWNED_INDEXERS
        self.sts_informer = factory.informer_for("statefulsets", indexers=indexers)
        self.pod_informer = factory.informer_for("pods", indexers=indexers)
        self.pvc_informer = factory.informer_for(
            "persistentvolumeclaims", indexers={NAMESPACE_INDEX: index_by_namespace})
        self.sts_informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pod_informer.add_event_handler(
            on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new),
            on_delete=lambda obj: self._pod_changed(object_of(obj)))

    def _enqueue(self, sts: Obj) -> None:
        self.queue.add(pod_key(sts))

    def _pod_changed(self, pod: Obj) -> None:
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("kind") == "StatefulSet":
                self.queue.add(f"{namespace_of(pod)}/{ref.get('name', '')}")
            return
        for sts in self.sts_informer.store.by_index(NAMESPACE_INDEX, namespace_of(pod)):
            if selector_of(sts).matches(labels_of(pod)):
                self._enqueue(sts)

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        sts = self.sts_informer.store.get_by_key(key)
        if sts is None:
            return
        pods = await self._claim_pods(sts)
        revision = revision_name(sts)
        if not is_deleting(sts):
            claims = {name_of(c) for c in self.pvc_informer.store.by_index(
                NAMESPACE_INDEX, namespace_of(sts)) if not is_deleting(c)}
            failure: Exception | None = None
            try:
                await self._carry_out(sts, plan_sync(sts, pods, claims, revision))
            except errors.APIError as e:
                failure = e
            if failure is not None:
                await self._write_status(sts, calculate_status(sts, pods, revision,
                                                               self.clock()))
                raise failure
        await self._write_status(sts, calculate_status(sts, pods, revision, self.clock()))
        mrs = min_ready_seconds(sts)
        if mrs > 0:
            self.queue.add_after(key, float(mrs))

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        candidates = [p for p in self.pod_informer.store.by_index(NAMESPACE_INDEX,
                                                                  namespace_of(sts))]
        claims = plan_claims(sts, selector_of(sts), candidates)
        owned = list(claims.owned)
        # Only pods named as the set's are adopted (isMemberOf).
        for pod in claims.adopt:
            if ordinal_of(sts, pod) is not None:
                adopted = await patch_owner(self.client, pod, sts, adopt=True)
                if adopted is not None:
                    owned.append(adopted)
        for pod in claims.release:
            await patch_owner(self.client, pod, sts, adopt=False)
        return owned


    async def _carry_out(self, sts: Obj, actions: list[Action]) -> None:
        ns = namespace_of(sts)
        for action in actions:
            name = name_of(action.obj)
            try:
                if action.verb == "create_claim":
                    await self.client.create("persistentvolumeclaims", action.obj, ns)
                    self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                        f"create Claim {name} Pod {action.pod} in "
                                        f"StatefulSet {name_of(sts)} success")
                elif action.verb == "create_pod":
                    await self.client.create("pods", action.obj, ns)
                    self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                        f"create Pod {name} in StatefulSet {name_of(sts)} "
                                        "successful")
                else:
                    await self.client.delete("pods", name, ns)
                    self.recorder.event(sts, NORMAL, "SuccessfulDelete",
                                        f"delete Pod {name} in StatefulSet {name_of(sts)} "
                                        "successful")
            except (errors.AlreadyExists, errors.NotFound):
                continue  # the cache was behind; the next event brings it up to date
            except errors.APIError as e:
                verb = "delete" if action.verb == "delete_pod" else "create"
                kind = "Claim" if action.verb == "create_claim" else "Pod"
                self.recorder.event(sts, WARNING, f"Failed{verb.capitalize()}",
                                    f"{verb} {kind} {name} in StatefulSet {name_of(sts)} "
                                    f"failed error: {e.message}")
                raise

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        if (sts.get("status") or {}) == status:
            return
        fresh = copy.deepcopy(sts)
        fresh["status"] = status
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.update_status("statefulsets", fresh, namespace_of(sts))


"""The pod garbage collector: force-deletes pods nobody else will ever finish deleting.

As Kubernetes' `pkg/controller/podgc`: every 20 s, from the informer caches,

- terminated pods (Succeeded or Failed) above `--terminated-pod-gc-threshold`
  (12500; 0 turns this off) go, evicted ones first, then oldest first;
- terminating pods on a node that is not Ready and carries the
  `node.kubernetes.io/out-of-service` taint go: the admin has said the node is down,
  so no agent will confirm their deletion;
- pods bound to a Node that no longer exists ("orphaned") go once the node has been
  missing for 40 s (the quarantine, against a node informer that lags) and a GET of
  the node answers NotFound; they get the DisruptionTarget condition, reason
  DeletionByPodGC, so their owners can tell why;
- terminating pods never scheduled go (they have nobody to finish them either).

Each is first set phase Failed (a pod whose node is gone would stay Running forever:
no agent reports it), then deleted with grace 0. Without this controller, deleting a
lost Node leaves its StatefulSet pods Terminating and their replacements never come.

The decisions are pure functions of (pods, nodes, now); `PodGCController` is the thin
loop that reads the caches, confirms missing nodes with the apiserver and writes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controlplane.controllers.nodelifecycle import condition
from controlplane.controllers.replicaset import created_at, format_time, is_deleting
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import Client, SharedInformerFactory

logger = logging.getLogger(__name__)

GC_CHECK_PERIOD = 20.0  # kube's gcCheckPeriod
QUARANTINE_TIME = 40.0  # kube's quarantineTime: how long a node may be missing from the cache
DEFAULT_TERMINATED_POD_GC_THRESHOLD = 12500  # --terminated-pod-gc-threshold
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
# kube's metric reasons (pod_gc_collector deleting_pods_total{reason}).
TERMINATED = "terminated"
OUT_OF_SERVICE_REASON = "out-of-service"
ORPHANED = "orphaned"
UNSCHEDULED = "unscheduled"
Now = Callable[[], float]


@dataclass(frozen=True)
class Deletion:
    """A pod to force-delete, why, and the condition to set first (None: phase only)."""

    pod: Obj
    reason: str
    condition: Obj | None = None


def orphaned_condition() -> Obj:
    return {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists"}


# ---- pure decisions -------------------------------------------------------------------------


def node_of(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def phase_of(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def is_terminated(pod: Obj) -> bool:
    """Neither Pending, Running nor Unknown (isPodTerminated); no phase counts as Pending."""
    return phase_of(pod) not in ("", "Pending", "Running", "Unknown")


def is_evicted(pod: Obj) -> bool:
    """The kubelet's eviction.PodIsEvicted: Failed with reason Evicted."""
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def deletion_order(pods: Iterable[Obj]) -> list[Obj]:
    """Evicted first, then oldest, then by name (byEvictionAndCreationTimestamp): what a
    controller made and finished is kept longest."""
    return sorted(pods, key=lambda p: (not is_evicted(p), created_at(p), name_of(p)))


def terminated_to_delete(pods: Iterable[Obj], threshold: int) -> list[Obj]:
    """The terminated pods above `threshold` (0 or less: none), in deletion order."""
    if threshold <= 0:
        return []
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    return deletion_order(terminated)[:excess] if excess > 0 else []


def is_out_of_service(node: Obj) -> bool:
    """Not Ready and tainted out-of-service: the admin says it is down for good."""
    ready = (condition(node, "Ready") or {}).get("status") == "True"
    taints = (node.get("spec") or {}).get("taints") or []
    return not ready and any(isinstance(t, dict) and t.get("key") == OUT_OF_SERVICE
                             for t in taints)


def terminating_out_of_service(pods: Iterable[Obj], nodes: dict[str, Obj]) -> list[Obj]:
    """Terminating pods on out-of-service nodes (gcTerminating), in deletion order. A pod
    whose node is not in the cache is left to the orphan check."""
    return deletion_order(p for p in pods if is_deleting(p) and node_of(p) in nodes
                          and is_out_of_service(nodes[node_of(p)]))


def missing_nodes(pods: Iterable[Obj], nodes: Iterable[str]) -> set[str]:
    """Node names pods are bound to that the node cache does not hold."""
    known = set(nodes)
    return {node_of(p) for p in pods if node_of(p) and node_of(p) not in known}


def quarantine(since: dict[str, float], missing: set[str], now: float) -> dict[str, float]:
    """When each missing node was first seen missing; a node back in the cache leaves."""
    return {name: since.get(name, now) for name in missing}


def due(since: dict[str, float], now: float, quarantine_time: float) -> set[str]:
    """Nodes missing for the whole quarantine: time to ask the apiserver."""
    return {name for name, t in since.items() if now - t >= quarantine_time}


def orphaned(pods: Iterable[Obj], gone: set[str]) -> list[Obj]:
    return [p for p in pods if node_of(p) in gone]


def unscheduled_terminating(pods: Iterable[Obj]) -> list[Obj]:
    return [p for p in pods if is_deleting(p) and not node_of(p)]


def waits_for_finalizers(pod: Obj) -> bool:
    """Already failed and deleted with grace 0: only its finalizers hold it, and
    deleting it again would change nothing."""
    md = pod.get("metadata") or {}
    return is_deleting(pod) and md.get("deletionGracePeriodSeconds") == 0 \
        and is_terminated(pod)


def plan(pods: list[Obj], nodes: dict[str, Obj], threshold: int,
         gone: set[str]) -> list[Deletion]:
    """Every force deletion of one pass, in kube's order (terminated, out-of-service,
    orphaned, unscheduled); a pod that qualifies twice is deleted once, for the first,
    and one only its finalizers hold is left alone."""
    steps = [(TERMINATED, terminated_to_delete(pods, threshold), None),
             (OUT_OF_SERVICE_REASON, terminating_out_of_service(pods, nodes), None),
             (ORPHANED, orphaned(pods, gone), orphaned_condition()),
             (UNSCHEDULED, unscheduled_terminating(pods), None)]
    seen: set[tuple[str, str]] = set()
    out: list[Deletion] = []
    for reason, victims, cond in steps:
        for pod in victims:
            key = (namespace_of(pod), name_of(pod))
            if key not in seen and not waits_for_finalizers(pod):
                seen.add(key)
                out.append(Deletion(pod, reason, cond))
    return out


def failed_status(pod: Obj, cond: Obj | None, now: float) -> Obj | None:
    """The pod's status set Failed (with `cond`), None if it already finished: a pod on
    a vanished node has no agent left to say it stopped (markFailedAndDeletePod)."""
    if phase_of(pod) in ("Succeeded", "Failed"):
        return None
    status = copy.deepcopy(pod.get("status") or {})
    status["phase"] = "Failed"
    if cond is not None:
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        old = next((c for c in conditions if c.get("type") == cond["type"]), None)
        new = {**cond, "lastProbeTime": None, "lastTransitionTime": format_time(now)}
        if old is not None and old.get("status") == cond["status"]:
            new["lastTransitionTime"] = old.get("lastTransitionTime") or new[
                "lastTransitionTime"]
        status["conditions"] = [c for c in conditions if c is not old] + [new]
    return status


# ---- the controller -------------------------------------------------------------------------


class PodGCController:
    name = "podgc"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 terminated_pod_gc_threshold: int = DEFAULT_TERMINATED_POD_GC_THRESHOLD,
                 gc_check_period: float = GC_CHECK_PERIOD,
                 quarantine_time: float = QUARANTINE_TIME, clock: Now = time.time) -> None:
        self.client = client
        self.threshold = terminated_pod_gc_threshold
        self.period = gc_check_period
        self.quarantine_time = quarantine_time
        self.clock = clock
        self.missing_since: dict[str, float] = {}
        self.pod_informer = factory.informer_for("pods")
        self.node_informer = factory.informer_for("nodes")

    async def run(self, workers: int = 1) -> None:
        while True:
            try:
                await self.gc()
            except errors.APIError as e:
                logger.warning("pod garbage collection failed", extra={"error": e.message})
            await asyncio.sleep(self.period)

    async def gc(self) -> None:
        """One pass of kube's gc(): decide from the caches, then force-delete."""
        now = self.clock()
        pods = list(self.pod_informer.store.list())
        nodes = {name_of(n): n for n in self.node_informer.store.list()}
        self.missing_since = quarantine(self.missing_since, missing_nodes(pods, nodes), now)
        gone = await self._confirm_gone(due(self.missing_since, now, self.quarantine_time))
        deletions = plan(pods, nodes, self.threshold, gone)
        if deletions:
            logger.info("garbage collecting pods", extra={"count": len(deletions)})
        await asyncio.gather(*(self._delete(d, now) for d in deletions))

    async def _confirm_gone(self, names: set[str]) -> set[str]:
        """The quarantined nodes the apiserver does not have either; one it does have
        (the cache lagged) starts a new quarantine."""
        gone: set[str] = set()
        for name in sorted(names):
            try:
                await self.client.get("nodes", name)
            except errors.NotFound:
                gone.add(name)
                continue
            except errors.APIError as e:
                logger.warning("error getting node", extra={"node": name, "error": e.message})
                continue
            self.missing_since.pop(name, None)
        return gone

    async def _delete(self, d: Deletion, now: float) -> None:
        pod, key = d.pod, f"{namespace_of(d.pod)}/{name_of(d.pod)}"
        status = failed_status(pod, d.condition, now)
        logger.info("PodGC is force deleting pod",
                    extra={"pod": key, "reason": d.reason, "node": node_of(pod)})
        try:
            if status is not None:
                fresh = copy.deepcopy(pod)
                fresh["status"] = status
                await self.client.update_status("pods", fresh, namespace_of(pod))
            await self.client.delete("pods", name_of(pod), namespace_of(pod),
                                     grace_period_seconds=0)
        except errors.NotFound:
            return
        except errors.APIError as e:  # a conflict: the next pass sees the new pod
            logger.warning("error force deleting pod",
                           extra={"pod": key, "reason": d.reason, "error": e.message})

"""The node lifecycle controller: notices nodes that stopped reporting, taints them,
and evicts their pods once the pods' tolerations run out.

As Kubernetes' `pkg/controller/nodelifecycle` plus its taint-eviction manager:

- a node is alive while its Lease in `kube-node-lease` (or its Ready condition's
  heartbeat) keeps changing. What counts is when *this controller* saw it change,
  not the timestamp written in it, so clock skew between node and control plane
  does not matter; a node first seen gets a full grace period (kube's probeTimestamp);
- after `--node-monitor-grace-period` (40 s) without a change, its Ready condition
  (and the pressure conditions) become Unknown, reason `NodeStatusUnknown`;
- the Ready condition decides the taints: False -> `node.kubernetes.io/not-ready`,
  Unknown -> `node.kubernetes.io/unreachable`, each as NoSchedule (kube's
  TaintNodesByCondition) and NoExecute (with `timeAdded`); True removes them;
- a pod on a node with NoExecute taints is deleted (gracefully) at the taint's
  `timeAdded` + the smallest `tolerationSeconds` of the tolerations it uses; a taint
  it does not tolerate evicts it at once; tolerations without seconds keep it forever.

The apiserver gives every pod 300 s tolerations for not-ready and unreachable (kube's
DefaultTolerationSeconds admission). The apiserver is another process, so the
controller-manager's `--default-*-toleration-seconds` reach pods through those
defaulted tolerations: a toleration exactly as admission wrote it is read with the
controller's setting. Tests use that to evict after seconds, not minutes.

The decisions are pure functions of (node, heartbeat, now); `NodeLifecycleController`
is the thin loop that reads informer caches and writes what they decide.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from controlplane.controllers.replicaset import format_time, is_deleting, parse_time
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import (
    NODE_NAME_INDEX,
    NORMAL,
    Client,
    EventRecorder,
    SharedInformerFactory,
    index_by_node_name,
)

logger = logging.getLogger(__name__)

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
NO_EXECUTE = "NoExecute"
NO_SCHEDULE = "NoSchedule"
LEASE_NAMESPACE = "kube-node-lease"
# What admission writes (controlplane/apiserver/admission.py keeps the same number).
ADMISSION_DEFAULT_SECONDS = 300
STALE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."
Now = Callable[[], float]


@dataclass(frozen=True)
class NodeLifecycleSettings:
    """The controller-manager flags this controller reads (kube's names)."""

    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 1.0
    default_not_ready_toleration_seconds: int = ADMISSION_DEFAULT_SECONDS
    default_unreachable_toleration_seconds: int = ADMISSION_DEFAULT_SECONDS


@dataclass(frozen=True)
class Probe:
    """The last heartbeat seen and when this controller saw it change."""

    heartbeat: tuple[str, str]
    observed_at: float


# ---- pure decisions -------------------------------------------------------------------------


def heartbeat_of(node: Obj, lease: Obj | None) -> tuple[str, str]:
    """What changes while the node is alive: its Lease renewTime, its Ready heartbeat."""
    renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
    ready = condition(node, "Ready") or {}
    return renew, str(ready.get("lastHeartbeatTime") or "")


def observe(prev: Probe | None, heartbeat: tuple[str, str], now: float) -> Probe:
    if prev is None or prev.heartbeat != heartbeat:
        return Probe(heartbeat, now)
    return prev


def condition(node: Obj, kind: str) -> Obj | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def stale_conditions(node: Obj, probe: Probe, now: float, grace: float) -> list[Obj] | None:
    """The node's conditions with the stale ones set Unknown, or None if nothing changes."""
    if now - probe.observed_at <= grace:
        return None
    conditions = [copy.deepcopy(c) for c in (node.get("status") or {}).get("conditions") or []
                  if isinstance(c, dict)]
    changed = False
    stamp = format_time(now)
    for kind in STALE_CONDITIONS:
        cond = next((c for c in conditions if c.get("type") == kind), None)
        if cond is None:
            if kind != "Ready":
                continue
            conditions.append({"type": "Ready", "status": "Unknown", "reason": NEVER_REASON,
                               "message": NEVER_MESSAGE, "lastHeartbeatTime": stamp,
                               "lastTransitionTime": stamp})
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update(status="Unknown", reason=UNKNOWN_REASON, message=UNKNOWN_MESSAGE,
                        lastTransitionTime=stamp)
            changed = True
    return conditions if changed else None


def desired_taints(node: Obj, now: float) -> list[Obj]:
    """The node's taints with not-ready/unreachable set from its Ready condition."""
    status = (condition(node, "Ready") or {}).get("status", "Unknown")
    want = {"False": NOT_READY, "Unknown": UNREACHABLE}.get(str(status))
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    kept = [t for t in taints if t.get("key") not in (NOT_READY, UNREACHABLE)
            or t.get("key") == want]
    if want is None:
        return kept
    for effect in (NO_SCHEDULE, NO_EXECUTE):
        if not any(t.get("key") == want and t.get("effect") == effect for t in kept):
            taint: Obj = {"key": want, "effect": effect}
            if effect == NO_EXECUTE:
                taint["timeAdded"] = format_time(now)
            kept.append(taint)
    return kept


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    if (toleration.get("operator") or "Equal") == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def _seconds(toleration: Obj, settings: NodeLifecycleSettings) -> float | None:
    """The toleration's seconds; admission's defaults read with the controller's flags."""
    raw = toleration.get("tolerationSeconds")
    if not isinstance(raw, int):
        return None
    if raw == ADMISSION_DEFAULT_SECONDS and toleration.get("operator") == "Exists" \
            and toleration.get("effect") == NO_EXECUTE:
        if toleration.get("key") == UNREACHABLE:
            return float(settings.default_unreachable_toleration_seconds)
        if toleration.get("key") == NOT_READY:
            return float(settings.default_not_ready_toleration_seconds)
    return float(max(raw, 0))


def eviction_time(pod: Obj, taints: list[Obj], now: float,
                  settings: NodeLifecycleSettings) -> float | None:
    """When the pod must go (<= now: at once), None if it may stay (tainteviction)."""
    execute = [t for t in taints if t.get("effect") == NO_EXECUTE]
    if not execute:
        return None
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or []
                   if isinstance(t, dict)]
    deadline: float | None = None
    for taint in execute:
        used = [t for t in tolerations if tolerates(t, taint)]
        if not used:
            return now
        limits = [s for s in (_seconds(t, settings) for t in used) if s is not None]
        if len(limits) < len(used) or not limits:
            continue  # a toleration without seconds tolerates this taint forever
        added = parse_time(taint.get("timeAdded")) or now
        at = added + min(limits)
        deadline = at if deadline is None else min(deadline, at)
    return deadline


def not_ready_status(pod: Obj, now: float) -> Obj | None:
    """The pod's status with Ready=False (kube's MarkPodsNotReady), None if it is not Ready:
    a pod on a silent node must stop receiving traffic before it is evicted."""
    status = copy.deepcopy(pod.get("status") or {})
    changed = False
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready" \
                and cond.get("status") == "True":
            cond.update(status="False", lastTransitionTime=format_time(now))
            changed = True
    return status if changed else None


# ---- the controller -------------------------------------------------------------------------


class NodeLifecycleController:
    name = "nodelifecycle"

    def __init__(self, client: Client, factory: SharedInformerFactory,
                 settings: NodeLifecycleSettings | None = None, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.settings = settings or NodeLifecycleSettings()
        self.clock = clock
        self.probes: dict[str, Probe] = {}
        self.recorder = EventRecorder(client, "node-controller")
        self.node_informer = factory.informer_for("nodes")
        self.lease_informer = factory.informer_for("leases")
        self.pod_informer = factory.informer_for("pods",
                                                 indexers={NODE_NAME_INDEX: index_by_node_name})
        self._evicted: dict[str, str] = {}  # pod key -> uid already deleted

    async def run(self, workers: int = 2) -> None:
        try:
            while True:
                try:
                    await self.monitor()
                except errors.APIError as e:
                    logger.warning("node monitor failed", extra={"error": e.message})
                await asyncio.sleep(self.settings.node_monitor_period)
        finally:
            await self.recorder.shutdown()

    async def monitor(self) -> None:
        """One pass of kube's monitorNodeHealth and the taint-eviction manager."""
        now = self.clock()
        nodes = list(self.node_informer.store.list())
        seen = {name_of(n) for n in nodes}
        for gone in set(self.probes) - seen:
            del self.probes[gone]
        for node in nodes:
            name = name_of(node)
            lease = self.lease_informer.store.get_by_key(f"{LEASE_NAMESPACE}/{name}")
            probe = observe(self.probes.get(name), heartbeat_of(node, lease), now)
            self.probes[name] = probe
            node = await self._update_conditions(node, probe, now)
            node = await self._update_taints(node, now)
            await self._mark_pods_not_ready(node, now)
            await self._evict(node, now)

    async def _update_conditions(self, node: Obj, probe: Probe, now: float) -> Obj:
        conditions = stale_conditions(node, probe, now, self.settings.node_monitor_grace_period)
        if conditions is None:
            return node
        fresh = copy.deepcopy(node)
        fresh.setdefault("status", {})["conditions"] = conditions
        try:
            updated = await self.client.update_status("nodes", fresh)
        except (errors.Conflict, errors.NotFound):
            return node
        logger.info("node stopped posting status", extra={"node": name_of(node)})
        self.recorder.event(updated, NORMAL, "NodeNotReady",
                            f"Node {name_of(node)} status is now: NodeNotReady")
        return updated

    async def _update_taints(self, node: Obj, now: float) -> Obj:
        taints = desired_taints(node, now)
        if taints == ((node.get("spec") or {}).get("taints") or []):
            return node
        fresh = copy.deepcopy(node)
        spec = fresh.setdefault("spec", {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        try:
            return await self.client.update("nodes", fresh)
        except (errors.Conflict, errors.NotFound):
            return node

    async def _mark_pods_not_ready(self, node: Obj, now: float) -> None:
        if (condition(node, "Ready") or {}).get("status") == "True":
            return
        for pod in self.pod_informer.store.by_index(NODE_NAME_INDEX, name_of(node)):
            status = not_ready_status(pod, now)
            if status is None or is_deleting(pod):
                continue
            fresh = copy.deepcopy(pod)
            fresh["status"] = status
            try:
                await self.client.update_status("pods", fresh, namespace_of(pod))
            except (errors.Conflict, errors.NotFound):
                continue

    async def _evict(self, node: Obj, now: float) -> None:
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
        if not any(t.get("effect") == NO_EXECUTE for t in taints):
            return
        for pod in self.pod_informer.store.by_index(NODE_NAME_INDEX, name_of(node)):
            at = eviction_time(pod, taints, now, self.settings)
            key = f"{namespace_of(pod)}/{name_of(pod)}"
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            if at is None or at > now or is_deleting(pod) or self._evicted.get(key) == uid:
                continue
            self._evicted[key] = uid
            try:
                await self.client.delete("pods", name_of(pod), namespace_of(pod))
            except errors.NotFound:
                continue
            logger.info("evicting pod", extra={"pod": key, "node": name_of(node)})
            self.recorder.event(pod, NORMAL, "TaintManagerEviction",
                                f"Marking for deletion Pod {key}")


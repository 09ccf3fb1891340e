"""The scheduler's loop: informers feed the queue and the cache; each popped pod runs
one synchronous cycle (filter, score, pick), is assumed onto its node in the cache,
and is bound through the pods/binding subresource in the background, so the next
pod is scheduled while the apiserver is still answering.

A failed cycle leaves its mark where kubectl users look: a `FailedScheduling`
Warning event whose message is the `0/N nodes are available: ...` aggregation, and
the pod's PodScheduled=False condition (reason Unschedulable). Preemption nominates
a node (`status.nominatedNodeName`) and deletes its victims gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from controlplane.scheduler import metrics
from controlplane.scheduler import queue as q
from controlplane.scheduler.config import SchedulerConfig
from controlplane.scheduler.framework import (
    Algorithm,
    CycleState,
    FitError,
    Framework,
    PostFilterResult,
    SchedulingError,
)
from controlplane.scheduler.plugins.volumebinding import SELECTED_NODE, claims_to_annotate
from controlplane.scheduler.registry import build_framework
from controlplane.scheduler.snapshot import PodInfo, SchedulerCache
from jota.api import errors
from jota.api.meta import Obj
from jota.api.selectors import LabelSelector, Requirement, from_label_selector_object, from_set
from jota.client import (
    NAMESPACE_INDEX,
    NORMAL,
    WARNING,
    Client,
    DeletedObj,
    EventRecorder,
    LeaderElector,
    SharedInformerFactory,
    object_of,
)
from jota.client.leaderelection import Timing

logger = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"  # kube-scheduler's
UNSCHEDULABLE_FLUSH_PERIOD = 30.0


def assigned(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def node_scheduling_properties_changed(old: Obj, new: Obj) -> bool:
    """A node update worth retrying unschedulable pods for (not a heartbeat)."""
    o_md, n_md = old.get("metadata") or {}, new.get("metadata") or {}
    o_st, n_st = old.get("status") or {}, new.get("status") or {}

    def conditions(st: Obj) -> dict[str, str]:
        return {c.get("type", ""): c.get("status", "") for c in st.get("conditions") or []}

    return (o_md.get("labels") != n_md.get("labels") or old.get("spec") != new.get("spec")
            or o_st.get("allocatable") != n_st.get("allocatable")
            or conditions(o_st) != conditions(n_st))


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_condition(pod: Obj, reason: str, message: str) -> Obj | None:
    """The PodScheduled=False condition to write, or None if the pod already says so."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled":
            if (c.get("status"), c.get("reason"), c.get("message")) == \
                    ("False", reason, message):
                return None
            since = c.get("lastTransitionTime") if c.get("status") == "False" else None
            break
    else:
        since = None
    return {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
            "lastProbeTime": None, "lastTransitionTime": since or now_rfc3339()}


class Scheduler:
    """One scheduler replica's work, for every profile in the config."""

    def __init__(self, client: Client, config: SchedulerConfig | None = None, *,
                 factory: SharedInformerFactory | None = None,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.config = config or SchedulerConfig()
        self.factory = factory or SharedInformerFactory(client)
        self.clock = clock
        inf = self.factory.informer_for
        self.pods, self.nodes = inf("pods"), inf("nodes")
        self.pvcs, self.pvs = inf("persistentvolumeclaims"), inf("persistentvolumes")
        self.storage_classes = inf("storageclasses")
        self.services = inf("services")
        self.replicasets, self.statefulsets = inf("replicasets"), inf("statefulsets")
        self.cache = SchedulerCache()
        self.queue = q.SchedulingQueue(
            clock, initial_backoff=self.config.pod_initial_backoff_seconds,
            max_backoff=self.config.pod_max_backoff_seconds)
        rng = rng or random.Random()
        self.frameworks: dict[str, Framework] = {}
        self.algorithms: dict[str, Algorithm] = {}
        self.recorders: dict[str, EventRecorder] = {}
        for prof in self.config.profiles:
            fwk = build_framework(
                prof, default_selector=self.default_selector, volumes=self,
                percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score)
            self.frameworks[prof.scheduler_name] = fwk
            self.algorithms[prof.scheduler_name] = Algorithm(fwk, rng)
            # Bursts of thousands of pods: queue their events rather than drop them.
            self.recorders[prof.scheduler_name] = EventRecorder(
                client, prof.scheduler_name, socket.gethostname(), max_queued=20000)
        self._selectors: dict[tuple[str, str], LabelSelector | None] = {}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0
        self._register_handlers()
        metrics.PENDING_PODS.queue = self

    def counts(self) -> dict[str, int]:
        """Pending pods per queue, for `scheduler_pending_pods`: the queue's three, and
        the pods held back by schedulingGates (never queued)."""
        gated = sum(1 for p in self.pods.store.list()
                    if not assigned(p) and (p.get("spec") or {}).get("schedulingGates"))
        return {**self.queue.counts(), "gated": gated}

    # -- informer events --------------------------------------------------------------------

    def _register_handlers(self) -> None:
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)
        self.nodes.add_event_handler(
            on_add=self._node_added,
            on_update=lambda o, n: self._node_updated(o, n),
            on_delete=lambda o: self._node_deleted(object_of(o)))
        for inf, event in ((self.pvcs, q.PVC_CHANGE), (self.pvs, q.PV_CHANGE),
                           (self.storage_classes, q.STORAGE_CLASS_CHANGE)):
            add, update = self._movers(event)
            inf.add_event_handler(on_add=add, on_update=update)

    def _movers(self, event: str) -> tuple[Callable[[Obj], None], Callable[[Obj, Obj], None]]:
        def added(_obj: Obj) -> None:
            self._move(event)

        def updated(_old: Obj, _new: Obj) -> None:
            self._move(event)
        return added, updated

    def responsible(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (spec.get("schedulerName") or "default-scheduler") in self.frameworks \
            and not spec.get("schedulingGates")

    def _priority(self, pod: Obj) -> int:
        return self.cache.pod_info(pod).priority

    def _pod_added(self, pod: Obj) -> None:
        if assigned(pod):
            if not terminated(pod):
                self.cache.add_pod(pod)
                if (pod.get("spec") or {}).get("affinity"):
                    self._move(q.ASSIGNED_POD_ADD, lambda i: bool(
                        (i.pod.get("spec") or {}).get("affinity")))
        elif self.responsible(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(pod, self._priority(pod))
            self._wake.set()

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if assigned(new):
            if not assigned(old):
                self.queue.delete(new)
            if terminated(new):
                self.cache.remove_pod(new)
                self._move(q.ASSIGNED_POD_DELETE)
                return
            self.cache.update_pod(new)
            if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}) \
                    .get("labels"):
                self._move(q.ASSIGNED_POD_UPDATE)
        elif (new.get("metadata") or {}).get("deletionTimestamp") or not self.responsible(new):
            self.queue.delete(new)
        else:
            self.queue.update(old, new, self._priority(new))
            self._wake.set()

    def _pod_deleted(self, obj: DeletedObj) -> None:
        pod = object_of(obj)
        if assigned(pod):
            self.cache.remove_pod(pod)
            self._move(q.ASSIGNED_POD_DELETE)
        else:
            self.queue.delete(pod)

    def _node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self._move(q.NODE_ADD)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if node_scheduling_properties_changed(old, new):
            self._move(q.NODE_UPDATE)

    def _node_deleted(self, node: Obj) -> None:
        self.cache.remove_node((node.get("metadata") or {}).get("name", ""))

    def _move(self, event: str, wanted: Callable[[q.QueuedPodInfo], bool] | None = None
              ) -> None:
        if self.queue.move_all_to_active_or_backoff(event, wanted):
            self._wake.set()

    # -- listers the plugins read -----------------------------------------------------------

    def get_pvc(self, namespace: str, name: str) -> Obj | None:
        return self.pvcs.store.get_by_key(f"{namespace}/{name}")

    def get_pv(self, name: str) -> Obj | None:
        return self.pvs.store.get_by_key(name)

    def get_storage_class(self, name: str) -> Obj | None:
        return self.storage_classes.store.get_by_key(name) if name else None

    def list_pvs(self) -> list[Obj]:
        return list(self.pvs.store.list())

    def _selector(self, obj: Obj, as_map: bool) -> LabelSelector | None:
        md = obj.get("metadata") or {}
        key = (str(md.get("uid", "")), str(md.get("resourceVersion", "")))
        if key not in self._selectors:
            raw = (obj.get("spec") or {}).get("selector")
            try:
                sel = (from_set(raw) if raw else None) if as_map \
                    else from_label_selector_object(raw)
            except errors.APIError:
                sel = None
            if len(self._selectors) > 10000:
                self._selectors.clear()
            self._selectors[key] = sel
        return self._selectors[key]

    def default_selector(self, pod: PodInfo) -> LabelSelector | None:
        """helper.DefaultSelector: what the pod's Services and controllers select it by."""
        reqs: set[Requirement] = set()
        for inf, as_map in ((self.services, True), (self.replicasets, False),
                            (self.statefulsets, False)):
            for obj in inf.store.by_index(NAMESPACE_INDEX, pod.namespace):
                sel = self._selector(obj, as_map)
                if sel is not None and not sel.empty and sel.matches(pod.labels):
                    reqs.update(sel.requirements)
        return LabelSelector(tuple(sorted(reqs, key=str))) if reqs else None

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        self.factory.start()
        synced = await self.factory.wait_for_cache_sync(timeout=120)
        late = [name for name, ok in synced.items() if not ok]
        if late:
            logger.warning("caches not synced yet; starting anyway",
                           extra={"resources": ",".join(late)})
        logger.info("scheduler started", extra={"profiles": ",".join(self.frameworks)})
        housekeeping = asyncio.create_task(self._housekeeping(), name="scheduler housekeeping")
        try:
            while True:
                info = await self.next_pod()
                self.schedule_one(info)
                await asyncio.sleep(0)
        finally:
            housekeeping.cancel()
            tasks = [housekeeping, *self._tasks]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for r in self.recorders.values():
                await r.shutdown(timeout=2)
            await self.factory.shutdown()

    async def _housekeeping(self) -> None:
        last_flush = self.clock()
        while True:
            await asyncio.sleep(1.0)
            if self.clock() - last_flush >= UNSCHEDULABLE_FLUSH_PERIOD:
                self.queue.flush_unschedulable_left_over()
                last_flush = self.clock()
            self._wake.set()

    async def next_pod(self) -> q.QueuedPodInfo:
        while True:
            info = self.queue.pop()
            if info is not None:
                return info
            self._wake.clear()
            wake_at = self.queue.next_wakeup()
            timeout = None if wake_at is None else max(wake_at - self.clock(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_one(self, info: q.QueuedPodInfo) -> None:
        """One synchronous cycle; binding and status writes go to background tasks."""
        key = info.key
        pod = self.pods.store.get_by_key(key)
        if pod is None or assigned(pod) or (pod.get("metadata") or {}).get("deletionTimestamp") \
                or self.cache.is_assumed(key) or not self.responsible(pod):
            self.queue.done(key)
            return
        info.pod = pod
        info.cycle_start = time.perf_counter()
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        fwk, algorithm = self.frameworks[name], self.algorithms[name]
        cycle = self.queue.scheduling_cycle
        pi = self.cache.pod_info(pod)
        state = CycleState()
        snap = self.cache.snapshot()
        try:
            result = algorithm.schedule(state, pi, snap)
        except FitError as fe:
            post: PostFilterResult | None = None
            for plugin in fwk.post_filters:
                post = plugin.post_filter(state, pi, snap, fe.statuses)
                if post.status.success:
                    break
                fe.post_filter_msg = post.status.message
            nominated = post.nominated_node if post is not None else None
            self._failed(info, cycle, name, str(fe), unschedulable=True, nominated=nominated)
            if post is not None and post.status.success and post.victims:
                self._spawn(self._preempt(pi, post, name), f"preempt {key}")
            return
        except SchedulingError as e:
            logger.error("scheduling failed", extra={"pod": key, "error": str(e)})
            self._failed(info, cycle, name, str(e), unschedulable=False, reason="SchedulerError")
            return
        except Exception as e:  # a plugin bug must not stop the scheduler
            logger.exception("scheduling cycle crashed", extra={"pod": key})
            self._failed(info, cycle, name, f"internal error: {e}", unschedulable=False,
                         reason="SchedulerError")
            return
        self.cache.assume_pod(pi, result.node)
        self.queue.done(key)
        self._spawn(self._bind(info, pi, result.node, state, cycle, name), f"bind {key}")

    def _failed(self, info: q.QueuedPodInfo, cycle: int, profile: str, message: str, *,
                unschedulable: bool, reason: str = "Unschedulable",
                nominated: str | None = None) -> None:
        metrics.observe_attempt(metrics.UNSCHEDULABLE if unschedulable else metrics.ERROR,
                                profile, time.perf_counter() - info.cycle_start)
        self.queue.requeue(info, cycle, unschedulable=unschedulable)
        self.recorders[profile].event(info.pod, WARNING, "FailedScheduling", message)
        self._spawn(self._write_condition(info.pod, reason, message, nominated),
                    f"condition {info.key}")

    async def _write_condition(self, pod: Obj, reason: str, message: str,
                               nominated: str | None) -> None:
        cond = scheduled_condition(pod, reason, message)
        status: dict[str, Any] = {}
        if cond is not None:
            status["conditions"] = [cond]
        current = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated is not None and nominated != (current or ""):
            status["nominatedNodeName"] = nominated or None
        if not status:
            return
        md = pod["metadata"]
        try:
            await self.client.patch("pods", md["name"], {"status": status},
                                    md.get("namespace", ""), status=True)
        except errors.NotFound:
            pass
        except Exception as e:
            logger.warning("failed to update pod status", extra={
                "pod": f"{md.get('namespace')}/{md['name']}", "error": str(e)})

    async def _bind(self, info: q.QueuedPodInfo, pi: PodInfo, node: str, state: CycleState,
                    cycle: int, profile: str) -> None:
        ns, name = pi.namespace, pi.meta.get("name", "")
        try:
            for pvc in claims_to_annotate(state):
                await self.client.patch(
                    "persistentvolumeclaims", pvc["metadata"]["name"],
                    {"metadata": {"annotations": {SELECTED_NODE: node}}}, ns,
                    patch_type="merge")
            await self.client.bind(name, ns, node)
        except (errors.NotFound, errors.Conflict) as e:
            # Deleted, or bound by someone else: the informer will tell the cache.
            self.cache.forget_pod(pi.key)
            logger.info("binding dropped", extra={"pod": pi.key, "node": node,
                                                  "error": str(e)})
            return
        except Exception as e:
            metrics.observe_attempt(metrics.ERROR, profile,
                                    time.perf_counter() - info.cycle_start)
            self.cache.forget_pod(pi.key)
            self.queue.requeue(info, cycle, unschedulable=False)
            self._wake.set()
            self.recorders[profile].event(info.pod, WARNING, "FailedScheduling",
                                          f"Binding rejected: {e}")
            return
        self.scheduled += 1
        metrics.observe_attempt(metrics.SCHEDULED, profile,
                                time.perf_counter() - info.cycle_start)
        self.recorders[profile].event(info.pod, NORMAL, "Scheduled",
                                      f"Successfully assigned {ns}/{name} to {node}")

    async def _preempt(self, pi: PodInfo, post: PostFilterResult, profile: str) -> None:
        uid = pi.meta.get("uid", "")
        for v in post.victims:
            md = v.meta
            self.recorders[profile].event(v.pod, NORMAL, "Preempted",
                                          f"Preempted by pod {uid} on node {post.nominated_node}")
            cond = {"type": "DisruptionTarget", "status": "True",
                    "reason": "PreemptionByScheduler", "lastTransitionTime": now_rfc3339(),
                    "message": f"{profile}: preempting to accommodate a higher priority pod"}
            try:
                await self.client.patch("pods", md["name"], {"status": {"conditions": [cond]}},
                                        md.get("namespace", ""), status=True)
                await self.client.delete("pods", md["name"], md.get("namespace", ""))
            except errors.NotFound:
                continue
            except Exception as e:
                logger.warning("failed to preempt pod", extra={
                    "pod": v.key, "preemptor": pi.key, "error": str(e)})


async def run(client: Client, config: SchedulerConfig, *, leader_elect: bool,
              identity: str = "", timing: Timing | None = None) -> None:
    async def lead() -> None:
        await Scheduler(client, config).run()

    if not leader_elect:
        await lead()
        return
    identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    elector = LeaderElector(
        client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=identity,
        on_started_leading=lead,
        on_new_leader=lambda who: logger.info("leader is now", extra={"leader": who}),
        release_on_cancel=True, **asdict(timing or Timing()))
    await elector.run()
    logger.warning("lost the lease; exiting", extra={"identity": identity})


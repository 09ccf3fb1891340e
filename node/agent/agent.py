"""jota-node's core: one worker per pod, carrying out what the pure pod worker decides.

The loop of each pod worker is kubelet's syncPod: observe the runtime (the
source of truth: containers carry their pod's uid in labels), ask
`podworker.compute_actions` what to do, do it, observe again, and write the
status `status.pod_status` computes if it changed. A worker wakes on a pod
update, on a Docker event about its containers, on a probe result changing,
when its plan asks (`requeue_after`: a backoff ending) or every resync period.

At start the agent adopts what runs: containers of pods still bound to this
node are left running; those of pods gone from the API are stopped and removed.
Containers carry the cluster's id (CLUSTER_LABEL), and a pod the API still has
on another node is left alone, so agents sharing one Docker engine (several
nodes or test sessions on one machine) never clean up each other's pods.

Besides the pod workers: the node's status and Lease, the Docker event stream
(prompt wake-ups), a refresh of running pods' configMap/secret/downwardAPI
files every VOLUME_REFRESH seconds (kubelet's updates "within a minute"), and
garbage collection of dead containers and unused images (gc.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from jota.api import errors
from jota.api.meta import Obj
from jota.client import NORMAL, WARNING, Client, EventRecorder, SharedInformer
from node.agent import gc, nodestatus
from node.agent.claims import resolve_claims
from node.agent.containers import container_config, sandbox_config
from node.agent.env import ConfigError, references, resolve_env
from node.agent.heartbeat import Heartbeat
from node.agent.localpath import LocalPathCleaner
from node.agent.podworker import (
    CreateSandbox,
    KillContainer,
    KillPod,
    Observed,
    RemoveContainer,
    StartContainer,
    StopSandbox,
    compute_actions,
)
from node.agent.probes import ProbeManager
from node.agent.pullsecrets import pull_auth
from node.agent.status import pod_status
from node.agent.volumes import VolumeError, VolumeManager
from node.metrics.kubelet import AgentMetrics
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    DNSConfig,
    PodRef,
    Runtime,
    RuntimeCallError,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
)
from node.runtime.pause import PAUSE_IMAGE
from node.runtime.pause.image import ensure_pause_image
from node.runtime.pullprogress import PullProgress

logger = logging.getLogger(__name__)

RESYNC = 10.0
IMAGE_BACKOFF_MAX = 300.0
# How often a running pod's configMap/secret/downwardAPI/projected files are brought up to
# date (kubelet: its sync period plus the object cache's TTL, about a minute).
VOLUME_REFRESH = 10.0
_PROJECTED_SOURCES = ("configMap", "secret", "downwardAPI", "projected")
# On every sandbox and container: the uid of the cluster's kube-system namespace (the usual
# cluster id). Agents of different clusters sharing one Docker engine (test sessions side by
# side, say) then never adopt or clean up each other's containers.
CLUSTER_LABEL = "io.jota.cluster"
# Pod workers share one listing of the runtime (kubelet's PLEG relists once for all pods),
# taken again after any action of the agent, any Docker event, or this many seconds.
SNAPSHOT_TTL = 5.0


@dataclass
class AgentConfig:
    node: nodestatus.NodeConfig
    root_dir: Path
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    # The node's resolv.conf (--resolv-conf): dnsPolicy Default, and the host's search
    # domains after the cluster's for ClusterFirst, as kubelet.
    host_dns: DNSConfig | None = None
    network: str = ""  # Docker network for pods ("" = the engine's default bridge)
    container_gc: gc.ContainerGCPolicy = field(default_factory=gc.ContainerGCPolicy)
    image_gc: gc.ImageGCPolicy = field(default_factory=gc.ImageGCPolicy)
    pull_progress_interval: float = 5.0  # seconds between Pulling progress events
    local_path_dir: Path | None = None  # local-path PVs live here (None: no cleanup)


@dataclass
class PodState:
    """What the agent remembers about one pod between syncs (all derivable again)."""

    uid: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)
    image_backoff: dict[str, tuple[int, float]] = field(default_factory=dict)  # image->(n, until)
    last_status: Obj | None = None
    volumes_synced: float = 0.0  # monotonic time the pod's projected files were last written
    first_seen: float = field(default_factory=time.monotonic)  # pod start latency's origin
    start_reported: bool = False


class Agent:
    def __init__(self, client: Client, runtime: Runtime, config: AgentConfig) -> None:
        self.client = client
        self.runtime = runtime
        self.config = config
        self.name = config.node.name
        self.pods: dict[str, PodState] = {}
        self.informer = SharedInformer(client, "pods",
                                       field_selector=f"spec.nodeName={self.name}")
        self.volumes = VolumeManager(config.root_dir)
        self.recorder = EventRecorder(client, "kubelet", host=self.name)
        self.probes = ProbeManager(self.runtime, on_change=self._wake,
                                   on_event=self.recorder.event)
        self._tasks: list[asyncio.Task[None]] = []
        self.cluster_id = ""
        self._generation = 0  # bumped whenever the runtime may have changed
        self._snapshot: tuple[int, float, list[SandboxStatus], list[ContainerStatus]] | None \
            = None
        self._snapshot_lock = asyncio.Lock()
        self.metrics = AgentMetrics()  # served on /metrics by node.metrics.server
        self.gc = gc.GarbageCollector(
            runtime, known=lambda: {_uid(p) for p in self.informer.store.list()} | set(self.pods),
            keep=self._exists_elsewhere, mine=self._mine, disk_usage=self._disk_usage,
            pinned=[PAUSE_IMAGE], containers=config.container_gc, images=config.image_gc)

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        name, version = await self.runtime.version()
        self.config.node.runtime_version = f"{name}://{version}"
        await ensure_pause_image(self.runtime)
        self.heartbeat = Heartbeat(self.client, self.config.node,
                                   nodestatus.machine_info(str(self.config.root_dir)))
        await self.heartbeat.register()
        self.cluster_id = await self._cluster_id()
        self.recorder.start()
        self.informer.add_event_handler(on_add=self._pod_seen,
                                        on_update=self._pod_updated,
                                        on_delete=lambda obj: self._wake(_uid(obj)))
        self._tasks = [asyncio.create_task(self.informer.run(), name="pod-informer"),
                       asyncio.create_task(self.heartbeat.renew_lease(), name="lease"),
                       asyncio.create_task(self.heartbeat.report_status(), name="node-status"),
                       asyncio.create_task(self._runtime_events(), name="runtime-events"),
                       asyncio.create_task(self.gc.run(), name="garbage-collection")]
        if self.config.local_path_dir is not None:
            cleaner = LocalPathCleaner(self.client, self.name, self.config.local_path_dir)
            self._tasks.append(asyncio.create_task(cleaner.run(), name="local-path"))
        await self.informer.wait_for_sync()
        await self._adopt()
        logger.info("node agent running", extra={"node": self.name})
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for task in self._tasks + [p.task for p in self.pods.values() if p.task]:
            task.cancel()
        for task in self._tasks + [p.task for p in self.pods.values() if p.task]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.probes.stop()
        await self.recorder.shutdown()

    # ---- pods ------------------------------------------------------------------------------

    def _pod_seen(self, pod: Obj) -> None:
        uid = _uid(pod)
        state = self.pods.get(uid)
        if state is None:
            state = self.pods[uid] = PodState(uid)
            state.task = asyncio.create_task(self._worker(state), name=f"pod-{uid}")
        state.wake.set()

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        """A change the agent made itself (status) needs no sync: kubelet's config source
        passes on only spec and metadata changes, and a sync per status write would show
        a waiting reason like ErrImagePull for a moment only."""
        if _uid(new) in self.pods and not _differs(old, new):
            return
        self._pod_seen(new)

    def _wake(self, uid: str) -> None:
        state = self.pods.get(uid)
        if state is not None:
            state.wake.set()

    def _pod(self, uid: str) -> Obj | None:
        for pod in self.informer.store.list():
            if _uid(pod) == uid:
                return pod
        return None

    async def _adopt(self) -> None:
        """Stop and remove what runs for pods that are gone; the rest syncs as usual."""
        known = {_uid(p) for p in self.informer.store.list()}
        for uid, ref in (await self._runtime_pods()).items():
            if uid in known or uid in self.pods or await self._exists_elsewhere(ref):
                continue
            self.pods[uid] = state = PodState(uid)
            state.task = asyncio.create_task(self._worker(state), name=f"pod-{uid}")
        for uid in self.volumes.orphaned(known):
            await self.volumes.teardown(uid)

    async def _runtime_pods(self) -> dict[str, PodRef]:
        """This cluster's pods in the runtime, by uid."""
        sandboxes = [s.pod for s in await self.runtime.list_pod_sandboxes()
                     if self._mine(s.labels)]
        containers = [c.pod for c in await self.runtime.list_containers()
                      if self._mine(c.labels)]
        return {ref.uid: ref for ref in sandboxes + containers}

    async def _cluster_id(self) -> str:
        try:
            ns = await self.client.get("namespaces", "kube-system")
        except errors.NotFound:
            return ""
        return str(ns["metadata"].get("uid") or "")

    def _mine(self, labels: dict[str, str] | object) -> bool:
        """Made by an agent of this cluster (or by one that did not label: ours too)."""
        value = labels.get(CLUSTER_LABEL) if isinstance(labels, dict) else None
        return not value or not self.cluster_id or value == self.cluster_id

    async def _exists_elsewhere(self, ref: PodRef) -> bool:
        """Whether the API still has this pod though this node's cache does not: another
        node sharing the engine runs it, or the cache lags. Such a pod is not garbage."""
        if not ref.name or not ref.namespace:
            return False
        try:
            pod = await self.client.get("pods", ref.name, ref.namespace)
        except errors.NotFound:
            return False
        return _uid(pod) == ref.uid

    def _disk_usage(self) -> tuple[int, int]:
        usage = shutil.disk_usage(self.config.root_dir)
        return usage.total, usage.free

    async def _runtime_events(self) -> None:
        while True:
            try:
                async for event in self.runtime.events():
                    self._generation += 1
                    self._wake(event.pod_uid)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("runtime event stream broke: %s", e)
            self._generation += 1  # events may have been missed
            await asyncio.sleep(1)

    async def _worker(self, state: PodState) -> None:
        delay: float | None = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wake.wait(), RESYNC if delay is None
                                       else min(delay, RESYNC))
            state.wake.clear()
            try:
                delay, done = await self.sync_pod(state)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("pod sync failed", extra={"pod_uid": state.uid})
                delay, done = 2.0, False
            if done:
                self.pods.pop(state.uid, None)
                self.probes.forget(state.uid)
                return

    async def _observe(self, uid: str) -> Observed:
        all_sandboxes, all_containers = await self._runtime_view()
        return Observed(sandboxes=[s for s in all_sandboxes if s.pod.uid == uid],
                        containers=[c for c in all_containers if c.pod.uid == uid])

    async def _runtime_view(self) -> tuple[list[SandboxStatus], list[ContainerStatus]]:
        """Every sandbox and container, listed at most once per change (see SNAPSHOT_TTL)."""
        async with self._snapshot_lock:
            snap = self._snapshot
            if snap is not None and snap[0] == self._generation \
                    and time.monotonic() - snap[1] < SNAPSHOT_TTL:
                return snap[2], snap[3]
            generation = self._generation  # a change during the listing makes it stale
            sandboxes = await self.runtime.list_pod_sandboxes()
            containers = await self.runtime.list_containers()
            self._snapshot = (generation, time.monotonic(), sandboxes, containers)
            return sandboxes, containers

    async def metrics_view(self) -> tuple[list[SandboxStatus], list[ContainerStatus]]:
        """This cluster's sandboxes and containers, for the metrics endpoints."""
        sandboxes, containers = await self._runtime_view()
        return ([s for s in sandboxes if self._mine(s.labels)],
                [c for c in containers if self._mine(c.labels)])

    def _report_start(self, pod: Obj, state: PodState, status: Obj) -> None:
        """kubelet_pod_start_duration_seconds, once per pod this agent saw start (a pod
        already running when adopted after a restart is not a start)."""
        if state.start_reported or status.get("phase") != "Running":
            return
        state.start_reported = True
        if (pod.get("status") or {}).get("phase") != "Running":
            self.metrics.observe_pod_start(time.monotonic() - state.first_seen)

    async def sync_pod(self, state: PodState) -> tuple[float | None, bool]:
        """One round for one pod; returns (when to look again, whether the worker ends)."""
        pod = self._pod(state.uid)
        if pod is None:
            await self._clean_up_gone_pod(state)
            return None, True
        observed = await self._observe(state.uid)
        probes = self.probes.results(state.uid)
        plan = compute_actions(pod, observed, probes, time.time())
        for name, (reason, _) in plan.waiting.items():
            if reason == "CrashLoopBackOff":
                md = pod["metadata"]
                self.recorder.event(pod, WARNING, "BackOff",
                                    f"Back-off restarting failed container {name} in pod "
                                    f"{md['name']}_{md['namespace']}({md['uid']})")
        for action in plan.actions:
            await self._carry_out(pod, state, action, observed)
        if plan.actions:
            observed = await self._observe(state.uid)
        self.probes.track(pod, observed)
        if self._volumes_due(pod, state, observed):
            await self._refresh_volumes(pod, state)
        waiting = {**plan.waiting, **state.errors}
        status = pod_status(pod, observed, self.probes.results(state.uid), plan, time.time(),
                            host_ip=self.config.node.node_ip, errors=waiting)
        self._report_start(pod, state, status)
        if status != (pod.get("status") or {}):
            await self._write_status(pod, status)
        if pod["metadata"].get("deletionTimestamp") and not _anything_running(observed):
            await self._finish_deletion(pod, state, observed)
            return None, True
        requeue = plan.requeue_after
        if state.errors:
            requeue = min(requeue or RESYNC, 5.0)
        return requeue, False

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        with contextlib.suppress(errors.NotFound):
            await self.client.patch("pods", name, {"status": status}, ns, patch_type="merge",
                                     status=True)

    async def _finish_deletion(self, pod: Obj, state: PodState, observed: Observed) -> None:
        """Containers are gone: remove their remains, then the pod object (grace 0)."""
        for c in observed.containers:
            await self.runtime.remove_container(c.id)
        for s in observed.sandboxes:
            await self.runtime.remove_pod_sandbox(s.id)
        self._generation += 1
        await self.volumes.teardown(state.uid)
        md = pod["metadata"]
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete("pods", md["name"], md["namespace"], grace_period_seconds=0,
                                     precondition_resource_version="")
        logger.info("pod deleted", extra={"pod": md["name"], "namespace": md["namespace"]})

    async def _clean_up_gone_pod(self, state: PodState) -> None:
        observed = await self._observe(state.uid)
        for c in observed.containers:
            if c.state == ContainerState.RUNNING:
                await self.runtime.stop_container(c.id, 2)
            await self.runtime.remove_container(c.id)
        for s in observed.sandboxes:
            if s.state == SandboxState.READY:
                await self.runtime.stop_pod_sandbox(s.id)
            await self.runtime.remove_pod_sandbox(s.id)
        self._generation += 1
        await self.volumes.teardown(state.uid)

    # ---- carrying out actions ----------------------------------------------------------------

    async def _carry_out(self, pod: Obj, state: PodState, action: object,
                         observed: Observed) -> None:
        try:
            await self._carry_out_one(pod, state, action, observed)
        finally:
            self._generation += 1

    async def _carry_out_one(self, pod: Obj, state: PodState, action: object,
                             observed: Observed) -> None:
        if isinstance(action, KillPod):
            # All at once, as kubelet's killContainersWithSyncResult: the grace period is
            # the pod's, not each container's in turn.
            names = {c.id: c.name for c in observed.containers}
            for cid in action.container_ids:
                if cid in names:
                    self.recorder.event(pod, NORMAL, "Killing",
                                        f"Stopping container {names[cid]}")
            await asyncio.gather(*(self.runtime.stop_container(cid, action.grace)
                                   for cid in action.container_ids))
            for sid in action.sandbox_ids:
                await self.runtime.stop_pod_sandbox(sid)
                await self.runtime.remove_pod_sandbox(sid)
        elif isinstance(action, CreateSandbox):
            config = self._sandbox_config(pod, action.attempt)
            await self.runtime.run_pod_sandbox(config)
        elif isinstance(action, StartContainer):
            await self._start_container(pod, state, action)
        elif isinstance(action, KillContainer):
            self.recorder.event(pod, NORMAL, "Killing",
                                action.message or f"Stopping container {action.name}")
            await self.runtime.stop_container(action.container_id, action.grace)
        elif isinstance(action, StopSandbox):
            await self.runtime.stop_pod_sandbox(action.sandbox_id)
        elif isinstance(action, RemoveContainer):
            await self.runtime.remove_container(action.container_id)

    def _sandbox_config(self, pod: Obj, attempt: int) -> SandboxConfig:
        config = sandbox_config(pod, attempt=attempt, cluster_dns=self.config.cluster_dns,
                                cluster_domain=self.config.cluster_domain,
                                network=self.config.network, host_dns=self.config.host_dns)
        if self.cluster_id:
            config.labels[CLUSTER_LABEL] = self.cluster_id
        return config

    async def _start_container(self, pod: Obj, state: PodState,
                               action: StartContainer) -> None:
        spec = pod["spec"]
        containers = spec.get("initContainers" if action.init else "containers") or []
        container = next(c for c in containers if c["name"] == action.name)
        sandboxes = [s for s in (await self._observe(state.uid)).sandboxes
                     if s.state == SandboxState.READY]
        if not sandboxes:
            return
        sandbox = max(sandboxes, key=lambda s: s.attempt)
        state.errors.pop(action.name, None)
        try:
            configmaps, secrets = await self._fetch_references(pod)
            # Volumes first, as kubelet mounts them before it generates any container's
            # config: a missing volume source leaves the pod in ContainerCreating.
            pvs = await resolve_claims(self.client, pod)
            paths = await self.volumes.setup(pod, configmaps, secrets, pvs)
            state.volumes_synced = time.monotonic()
            env = resolve_env(pod, container, configmaps=configmaps, secrets=secrets,
                              node_name=self.name, pod_ip=sandbox.ip,
                              host_ip=self.config.node.node_ip)
            mounts = self.volumes.mounts(pod, container, paths, env=env)
            config = container_config(pod, container, attempt=action.attempt, env=env,
                                      mounts=mounts)
            if self.cluster_id:
                config.labels[CLUSTER_LABEL] = self.cluster_id
        except VolumeError as e:
            state.errors[action.name] = (e.reason, "")
            self.recorder.event(pod, WARNING, "FailedMount", e.event)
            return
        except ConfigError as e:
            state.errors[action.name] = (e.reason, e.message)
            self.recorder.event(pod, WARNING, "Failed", f"Error: {e.message}")
            return
        if not await self._ensure_image(pod, state, container, secrets):
            return
        cid = ""
        try:
            cid = await self.runtime.create_container(
                sandbox.id, config, self._sandbox_config(pod, sandbox.attempt))
            self.recorder.event(pod, NORMAL, "Created", f"Created container {action.name}")
            await self.runtime.start_container(cid)
            self.recorder.event(pod, NORMAL, "Started", f"Started container {action.name}")
        except RuntimeCallError as e:
            # A container that never started is no attempt to keep: remove it, show the
            # error, and try again after the error backoff (see sync_pod).
            if cid:
                await self.runtime.remove_container(cid)
            state.errors[action.name] = ("RunContainerError", e.message)
            self.recorder.event(pod, WARNING, "Failed", f"Error: {e.message}")

    async def _ensure_image(self, pod: Obj, state: PodState, container: Obj,
                            secrets: dict[str, Obj]) -> bool:
        image = container["image"]
        policy = container.get("imagePullPolicy", "IfNotPresent")
        name = container["name"]
        present = await self.runtime.image_status(image)
        if present is not None and policy != "Always":
            self.recorder.event(pod, NORMAL, "Pulled",
                                f'Container image "{image}" already present on machine')
            return True
        if policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            state.errors[name] = ("ErrImageNeverPull", message)
            self.recorder.event(pod, WARNING, "ErrImageNeverPull", message)
            return False
        failures, until = state.image_backoff.get(image, (0, 0.0))
        if time.time() < until:
            # kubelet's image puller: no pull while the image's backoff lasts.
            message = f'Back-off pulling image "{image}"'
            state.errors[name] = ("ImagePullBackOff", message)
            self.recorder.event(pod, NORMAL, "BackOff", message)
            self.recorder.event(pod, WARNING, "Failed", "Error: ImagePullBackOff")
            return False
        self.recorder.event(pod, NORMAL, "Pulling", f'Pulling image "{image}"')
        started = told = time.monotonic()

        def tell(progress: PullProgress) -> None:
            nonlocal told
            if time.monotonic() - told >= self.config.pull_progress_interval:
                told = time.monotonic()
                self.recorder.event(pod, NORMAL, "Pulling", progress.describe(image))

        try:
            await self.runtime.pull_image(image, pull_auth(image, pod, secrets), tell)
        except RuntimeCallError as e:
            # Every pull that fails shows ErrImagePull; the waits between pulls show
            # ImagePullBackOff (above), 10 s doubling to 5 min.
            failures += 1
            state.image_backoff[image] = (failures, time.time() + min(
                10 * 2 ** (failures - 1), IMAGE_BACKOFF_MAX))
            state.errors[name] = ("ErrImagePull", e.message)
            self.recorder.event(pod, WARNING, "Failed",
                                f'Failed to pull image "{image}": {e.message}')
            self.recorder.event(pod, WARNING, "Failed", "Error: ErrImagePull")
            return False
        state.image_backoff.pop(image, None)
        took = f"{time.monotonic() - started:.3f}s"
        pulled = await self.runtime.image_status(image)
        self.recorder.event(pod, NORMAL, "Pulled",
                            f'Successfully pulled image "{image}" in {took} ({took} including '
                            f"waiting). Image size: {pulled.size if pulled else 0} bytes.")
        return True

    def _volumes_due(self, pod: Obj, state: PodState, observed: Observed) -> bool:
        if not any(c.state == ContainerState.RUNNING for c in observed.containers):
            return False
        if pod["metadata"].get("deletionTimestamp"):
            return False
        if time.monotonic() - state.volumes_synced < VOLUME_REFRESH:
            return False
        return any(any(v.get(k) is not None for k in _PROJECTED_SOURCES)
                   for v in pod["spec"].get("volumes") or [])

    async def _refresh_volumes(self, pod: Obj, state: PodState) -> None:
        """Bring a running pod's projected files up to date (an atomic ..data swap, so
        a reader never sees half an update), without touching its containers."""
        state.volumes_synced = time.monotonic()
        try:
            configmaps, secrets = await self._fetch_references(pod)
            await self.volumes.update(pod, configmaps, secrets)
        except ConfigError as e:  # a source went away: keep the files as they were
            logger.debug("volume refresh skipped: %s", e.message,
                         extra={"pod": pod["metadata"]["name"]})
        except errors.APIError as e:
            logger.warning("cannot refresh volumes: %s", e,
                           extra={"pod": pod["metadata"]["name"]})

    async def _fetch_references(self, pod: Obj) -> tuple[dict[str, Obj], dict[str, Obj]]:
        ns = pod["metadata"]["namespace"]
        cm_names, secret_names = references(pod)
        configmaps: dict[str, Obj] = {}
        secrets: dict[str, Obj] = {}
        for name in cm_names:
            with contextlib.suppress(errors.NotFound):
                configmaps[name] = await self.client.get("configmaps", name, ns)
        for name in secret_names:
            with contextlib.suppress(errors.NotFound):
                secrets[name] = await self.client.get("secrets", name, ns)
        return configmaps, secrets


def _uid(obj: object) -> str:
    if isinstance(obj, dict):
        return str((obj.get("metadata") or {}).get("uid") or "")
    inner = getattr(obj, "obj", None)
    return _uid(inner) if inner is not None else ""


_VOLATILE_METADATA = ("resourceVersion", "managedFields", "generation")


def _differs(old: object, new: object) -> bool:
    """Whether two versions of a pod differ beyond status and bookkeeping metadata."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return True

    def essence(pod: Obj) -> Obj:
        md = {k: v for k, v in (pod.get("metadata") or {}).items()
              if k not in _VOLATILE_METADATA}
        return {k: v for k, v in pod.items() if k != "status"} | {"metadata": md}

    return essence(old) != essence(new)


def _anything_running(observed: Observed) -> bool:
    return any(c.state == ContainerState.RUNNING for c in observed.containers) or any(
        s.state == SandboxState.READY for s in observed.sandboxes)

"""One snapshot of every pod container's cgroup per scrape, shared by the endpoints.

`targets()` (pure) names what to read: every running container and ready
sandbox of the agent's runtime listing, with the labels kubelet gives cAdvisor's
series (its containerPrometheusLabelsFunc): `container` from the container-name
label, `pod` and `namespace` from the pod labels, `image`, `name` (Docker's
container name, cAdvisor's first alias) and `id` (the cgroup path, "/docker/<id>").
A sandbox gets `container=""`, as current kubelets report the pause container;
Docker runs pods without a pod-level cgroup, so there is no separate pod series.

`Collector.snapshot()` reads the targets' cgroups (no Docker call: the listing is
the agent's own, already cached) and keeps the result for `max_age` seconds, so
`/metrics/cadvisor` and `/metrics/resource` scraped together read the files once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node.metrics import procfs
from node.metrics.cgroup import CgroupReader, Memory, Usage
from node.runtime.docker_convert import container_name, sandbox_name
from node.runtime.interface import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
)
from node.runtime.pause import PAUSE_IMAGE

logger = logging.getLogger(__name__)

View = Callable[[], tuple[list[SandboxStatus], list[ContainerStatus]]]
"""The runtime's sandboxes and containers (the agent's cached listing)."""

MAX_AGE = 1.0


@dataclass(frozen=True)
class Target:
    """A running container (or ready sandbox) and cAdvisor's labels for it."""

    runtime_id: str
    container: str  # "" for the sandbox
    pod: str
    namespace: str
    pod_uid: str
    image: str
    name: str  # Docker's container name
    started_at: float
    sandbox: bool


@dataclass(frozen=True)
class Sample:
    target: Target
    cgroup: str  # cAdvisor's `id`: "/docker/<id>"
    usage: Usage
    network: dict[str, procfs.Interface] = field(default_factory=dict)


@dataclass(frozen=True)
class Machine:
    cpus: int
    memory_bytes: int
    machine_id: str = ""
    system_uuid: str = ""
    boot_id: str = ""


@dataclass(frozen=True)
class Snapshot:
    timestamp: float
    samples: list[Sample]
    node: Usage
    machine: Machine
    error: bool = False


def targets(sandboxes: list[SandboxStatus], containers: list[ContainerStatus],
            mine: Callable[[dict[str, str]], bool] = lambda _: True) -> list[Target]:
    """What has a cgroup now: ready sandboxes and running containers of this node."""
    out = [Target(runtime_id=s.id, container="", pod=s.pod.name, namespace=s.pod.namespace,
                  pod_uid=s.pod.uid, image=PAUSE_IMAGE,
                  name=sandbox_name(SandboxConfig(pod=s.pod, attempt=s.attempt)),
                  started_at=s.created_at, sandbox=True)
           for s in sandboxes if s.state == SandboxState.READY and mine(s.labels)]
    out += [Target(runtime_id=c.id, container=c.name, pod=c.pod.name, namespace=c.pod.namespace,
                   pod_uid=c.pod.uid, image=c.image,
                   name=container_name(ContainerConfig(name=c.name, image=c.image,
                                                       attempt=c.attempt),
                                       SandboxConfig(pod=c.pod)),
                   started_at=c.created_at, sandbox=False)
            for c in containers if c.state == ContainerState.RUNNING and mine(c.labels)]
    return out


def node_usage(root: Usage, meminfo: dict[str, int]) -> Usage:
    """The machine's figures: its root cgroup, with memory from /proc/meminfo where the
    root cgroup keeps none (v2 has no memory.current at the root)."""
    if root.memory.usage:
        return root
    used = meminfo.get("MemTotal", 0) - meminfo.get("MemFree", 0)
    working = max(used - meminfo.get("Inactive(file)", 0), 0)
    return Usage(cpu=root.cpu, memory=Memory(usage=used, working_set=working),
                 spec=root.spec, io=root.io)


class Collector:
    """Takes snapshots for the metrics endpoints; thread-safe (the HTTP server's threads)."""

    def __init__(self, view: View, machine: Machine, *,
                 mine: Callable[[dict[str, str]], bool] = lambda _: True,
                 reader: CgroupReader | None = None, max_age: float = MAX_AGE) -> None:
        self.view = view
        self.machine = machine
        self.mine = mine
        self.reader = reader or CgroupReader()
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        with self._lock:
            last = self._last
            if last is not None and time.time() - last.timestamp < self.max_age:
                return last
            self._last = self._take()
            return self._last

    def _take(self) -> Snapshot:
        error = False
        try:
            sandboxes, containers = self.view()
        except Exception as e:  # the endpoint still answers, with scrape_error 1
            logger.warning("cannot list the runtime for metrics: %s", e)
            sandboxes, containers, error = [], [], True
        found = targets(sandboxes, containers, self.mine)
        samples = []
        for target in found:
            rel = self.reader.locate(target.runtime_id)
            if rel is None:  # exited since the listing
                continue
            network = (procfs.network(self.reader.first_pid(rel)) if target.sandbox else {})
            samples.append(Sample(target, "/" + rel, self.reader.usage(rel), network))
        self.reader.forget_except({t.runtime_id for t in found})
        node = node_usage(self.reader.root_usage(), procfs.meminfo())
        return Snapshot(time.time(), samples, node, self.machine, error)

"""What the scheduler knows of the cluster: nodes with their pods' summed requests.

`PodInfo` parses a pod once (requests, host ports, priority), `NodeInfo` keeps one
node's running totals so a filter reads sums instead of walking pods, and
`SchedulerCache` keeps them current from the informers, plus the pods the scheduler
has *assumed* onto a node before the apiserver confirmed the binding (so the next
pod does not see the node as emptier than it is).

The scheduling cycle is synchronous (no await between reading and assuming), so the
cache's NodeInfos serve as the cycle's snapshot without copying; preemption clones
the few it simulates on.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jota.api.meta import Obj
from jota.api.quantity import cpu_millis, memory_bytes

DEFAULT_MILLI_CPU_REQUEST = 100  # what a container without a cpu request counts as in scores
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


@dataclass
class Resource:
    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + sign * v

    def maximize(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for k, v in other.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage
                    or any(self.scalar.values()))

    def copy(self) -> Resource:
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage,
                        self.allowed_pods, dict(self.scalar))


def resource_of(rl: Mapping[str, Any] | None) -> Resource:
    """A ResourceList (`{cpu: 500m, memory: 1Gi, pods: 110, example.com/gpu: 1}`)."""
    r = Resource()
    for name, q in (rl or {}).items():
        try:
            if name == "cpu":
                r.milli_cpu = cpu_millis(q)
            elif name == "memory":
                r.memory = memory_bytes(q)
            elif name == "ephemeral-storage":
                r.ephemeral_storage = memory_bytes(q)
            elif name == "pods":
                r.allowed_pods = memory_bytes(q)
            else:
                r.scalar[name] = memory_bytes(q)
        except (ValueError, TypeError):
            continue
    return r


def _requests(c: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((c.get("resources") or {}).get("requests")) or {}


def pod_requests(pod: Obj) -> Resource:
    """resourcehelper.PodRequests: containers plus sidecars, at least any init
    container (with the sidecars started before it), plus the pod overhead."""
    spec = pod.get("spec") or {}
    total = Resource()
    for c in spec.get("containers") or []:
        total.add(resource_of(_requests(c)))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or []:
        req = resource_of(_requests(c))
        if c.get("restartPolicy") == "Always":
            sidecars.add(req)
            total.add(req)
            init_max.maximize(sidecars)
        else:
            req.add(sidecars)
            init_max.maximize(req)
    total.maximize(init_max)
    total.add(resource_of(spec.get("overhead")))
    return total


def non_zero_requests(pod: Obj) -> tuple[int, int]:
    """(milli cpu, memory) with 100m / 200Mi for containers that ask for none: a
    pod without requests still takes room in LeastAllocated's eyes."""
    cpu = mem = 0
    for c in (pod.get("spec") or {}).get("containers") or []:
        req = _requests(c)
        cpu += cpu_millis(req["cpu"]) if "cpu" in req else DEFAULT_MILLI_CPU_REQUEST
        mem += memory_bytes(req["memory"]) if "memory" in req else DEFAULT_MEMORY_REQUEST
    return cpu, mem


HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def host_ports(pod: Obj) -> list[HostPort]:
    ports: list[HostPort] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            hp = p.get("hostPort")
            if isinstance(hp, int) and hp > 0:
                ports.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", hp))
    return ports


def resolve_priority(pod: Obj) -> tuple[int, str]:
    """(priority, preemptionPolicy) as the apiserver's Priority admission set them from
    the pod's PriorityClass (0 and PreemptLowerPriority for a pod admitted without)."""
    spec = pod.get("spec") or {}
    value = spec.get("priority")
    priority = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return priority, str(spec.get("preemptionPolicy") or "PreemptLowerPriority")


@dataclass(eq=False)
class PodInfo:
    """A pod, parsed once for every plugin and every node."""

    pod: Obj
    priority: int = 0
    preemption_policy: str = "PreemptLowerPriority"
    requests: Resource = field(default_factory=Resource)
    non_zero_cpu: int = 0
    non_zero_memory: int = 0
    ports: list[HostPort] = field(default_factory=list)
    memo: dict[Any, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(init=False, repr=False)
    spec: dict[str, Any] = field(init=False, repr=False)
    namespace: str = field(init=False)
    key: str = field(init=False)
    labels: dict[str, str] = field(init=False, repr=False)

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        priority, policy = resolve_priority(pod)
        cpu, mem = non_zero_requests(pod)
        return cls(pod, priority, policy, pod_requests(pod), cpu, mem, host_ports(pod))

    def __post_init__(self) -> None:
        md: dict[str, Any] = self.pod.get("metadata") or {}
        self.meta = md
        self.spec = self.pod.get("spec") or {}
        self.namespace = str(md.get("namespace", ""))
        self.key = f"{self.namespace}/{md.get('name', '')}"
        self.labels = md.get("labels") or {}

    @property
    def terminating(self) -> bool:
        return bool(self.meta.get("deletionTimestamp"))

    @property
    def has_affinity(self) -> bool:
        aff = self.spec.get("affinity") or {}
        return bool(aff.get("podAffinity") or aff.get("podAntiAffinity"))

    @property
    def has_required_anti_affinity(self) -> bool:
        anti = (self.spec.get("affinity") or {}).get("podAntiAffinity") or {}
        return bool(anti.get("requiredDuringSchedulingIgnoredDuringExecution"))

    def with_node(self, node: str) -> PodInfo:
        pod = dict(self.pod)
        pod["spec"] = {**self.spec, "nodeName": node}
        return PodInfo(pod, self.priority, self.preemption_policy, self.requests,
                       self.non_zero_cpu, self.non_zero_memory, self.ports, self.memo)


def normalized_image_name(name: str) -> str:
    """`nginx` and `nginx:latest` are one image, as ImageLocality sees them."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


@dataclass(eq=False)
class NodeInfo:
    """One node and the sums over the pods on it (assumed ones included)."""

    node: Obj
    pods: dict[str, PodInfo] = field(default_factory=dict)
    requested: Resource = field(default_factory=Resource)
    non_zero_cpu: int = 0
    non_zero_memory: int = 0
    used_ports: dict[HostPort, int] = field(default_factory=dict)
    pods_with_affinity: int = 0
    pods_with_required_anti_affinity: int = 0
    allocatable: Resource = field(default_factory=Resource)
    images: dict[str, int] = field(default_factory=dict)
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, Any]] = field(default_factory=list)
    generation: int = 0  # bumped on every pod change: memoized counts check it
    memo: dict[Any, tuple[int, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.set_node(self.node)

    def set_node(self, node: Obj) -> None:
        self.node = node
        md, spec, status = (node.get("metadata") or {}, node.get("spec") or {},
                            node.get("status") or {})
        self.name = md.get("name", "")
        self.labels = md.get("labels") or {}
        self.taints = spec.get("taints") or []
        self.allocatable = resource_of(status.get("allocatable") or status.get("capacity"))
        self.images = {}
        for img in status.get("images") or []:
            for n in img.get("names") or []:
                self.images[normalized_image_name(n)] = int(img.get("sizeBytes") or 0)

    @property
    def unschedulable(self) -> bool:
        return bool((self.node.get("spec") or {}).get("unschedulable"))

    def add_pod(self, pi: PodInfo) -> None:
        self.pods[pi.key] = pi
        self._account(pi, 1)

    def remove_pod(self, key: str) -> PodInfo | None:
        pi = self.pods.pop(key, None)
        if pi is not None:
            self._account(pi, -1)
        return pi

    def _account(self, pi: PodInfo, sign: int) -> None:
        self.generation += 1
        self.requested.add(pi.requests, sign)
        self.non_zero_cpu += sign * pi.non_zero_cpu
        self.non_zero_memory += sign * pi.non_zero_memory
        for p in pi.ports:
            n = self.used_ports.get(p, 0) + sign
            if n > 0:
                self.used_ports[p] = n
            else:
                self.used_ports.pop(p, None)
        if pi.has_affinity:
            self.pods_with_affinity += sign
        if pi.has_required_anti_affinity:
            self.pods_with_required_anti_affinity += sign

    def clone(self) -> NodeInfo:
        c = copy.copy(self)
        c.pods = dict(self.pods)
        c.requested = self.requested.copy()
        c.used_ports = dict(self.used_ports)
        c.memo = {}
        return c


@dataclass
class Snapshot:
    """The nodes of one scheduling cycle, in a stable order."""

    nodes: list[NodeInfo]
    by_name: dict[str, NodeInfo]
    image_nodes: dict[str, int]

    @classmethod
    def build(cls, nodes: Iterable[Obj], pods: Iterable[Obj] = ()) -> Snapshot:
        """A snapshot from plain objects (tests, tools): pods land on spec.nodeName."""
        cache = SchedulerCache()
        for n in nodes:
            cache.add_node(n)
        for p in pods:
            cache.add_pod(p)
        return cache.snapshot()


@dataclass
class _PodState:
    info: PodInfo
    node: str
    assumed: bool = False


class SchedulerCache:
    """NodeInfos kept current from informer events and the scheduler's assumptions."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._has_node: set[str] = set()
        self._pods: dict[str, _PodState] = {}
        self._snapshot: Snapshot | None = None
        self._images_dirty = False

    # -- nodes --

    def add_node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo(node)
            self._images_dirty = True
        else:
            images = info.images
            info.set_node(node)
            self._images_dirty |= images != info.images
        if name not in self._has_node:
            self._has_node.add(name)
            self._snapshot = None
            self._images_dirty |= bool(info.images)

    update_node = add_node

    def remove_node(self, name: str) -> None:
        self._has_node.discard(name)
        self._images_dirty = True
        info = self._nodes.get(name)
        if info is not None and not info.pods:
            del self._nodes[name]
        self._snapshot = None

    # -- pods --

    def pod_info(self, pod: Obj) -> PodInfo:
        return PodInfo.of(pod)

    def add_pod(self, pod: Obj) -> None:
        """A bound pod seen by the informer (confirms an assumption, if any)."""
        pi = self.pod_info(pod)
        self._remove(pi.key)
        self._place(pi, pod["spec"]["nodeName"], assumed=False)

    update_pod = add_pod

    def remove_pod(self, pod: Obj) -> None:
        md = pod.get("metadata") or {}
        self._remove(f"{md.get('namespace', '')}/{md.get('name', '')}")

    def assume_pod(self, pi: PodInfo, node: str) -> PodInfo:
        assumed = pi.with_node(node)
        self._remove(pi.key)
        self._place(assumed, node, assumed=True)
        return assumed

    def forget_pod(self, key: str) -> None:
        st = self._pods.get(key)
        if st is not None and st.assumed:
            self._remove(key)

    def is_assumed(self, key: str) -> bool:
        st = self._pods.get(key)
        return st is not None and st.assumed

    def node_of(self, key: str) -> str | None:
        st = self._pods.get(key)
        return st.node if st else None

    def _place(self, pi: PodInfo, node: str, *, assumed: bool) -> None:
        info = self._nodes.get(node)
        if info is None:
            info = self._nodes[node] = NodeInfo({"metadata": {"name": node}})
        info.add_pod(pi)
        self._pods[pi.key] = _PodState(pi, node, assumed)

    def _remove(self, key: str) -> None:
        st = self._pods.pop(key, None)
        if st is None:
            return
        info = self._nodes.get(st.node)
        if info is not None:
            info.remove_pod(key)
            if not info.pods and st.node not in self._has_node:
                del self._nodes[st.node]

    # -- the cycle's view --

    def snapshot(self) -> Snapshot:
        """Nodes in a stable order; the list is rebuilt only when nodes come or go."""
        snap = self._snapshot
        if snap is None:
            nodes = [self._nodes[n] for n in sorted(self._has_node)]
            snap = Snapshot(nodes, {n.name: n for n in nodes}, {})
            self._snapshot = snap
        if self._images_dirty:
            counts: dict[str, int] = {}
            for n in snap.nodes:
                for img in n.images:
                    counts[img] = counts.get(img, 0) + 1
            snap.image_nodes = counts
            self._images_dirty = False
        return snap

    def pods(self) -> list[PodInfo]:
        return [st.info for st in self._pods.values()]

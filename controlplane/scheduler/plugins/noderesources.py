"""NodeResourcesFit and NodeResourcesBalancedAllocation (noderesources/).

Fit filters nodes whose allocatable minus what their pods request cannot hold the
pod's requests; its score follows the configured strategy: LeastAllocated spreads
load (the default), MostAllocated packs nodes (bin packing). BalancedAllocation
prefers nodes whose cpu and memory would be used in equal proportion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from controlplane.scheduler.framework import (
    MAX_NODE_SCORE,
    SUCCESS,
    Code,
    CycleState,
    Status,
)
from controlplane.scheduler.snapshot import NodeInfo, PodInfo

FIT = "NodeResourcesFit"
BALANCED = "NodeResourcesBalancedAllocation"
LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
DEFAULT_RESOURCES = (("cpu", 1), ("memory", 1))


@dataclass(frozen=True)
class Insufficient:
    resource: str
    reason: str
    unresolvable: bool  # asks for more than the node has at all: preemption cannot help


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> list[Insufficient]:
    """fitsRequest: every resource the node lacks, "Too many pods" first."""
    out: list[Insufficient] = []
    alloc, used, req = node.allocatable, node.requested, pod.requests
    if len(node.pods) + 1 > alloc.allowed_pods:
        out.append(Insufficient("pods", "Too many pods", False))
    want = req.milli_cpu
    if want > 0 and want > alloc.milli_cpu - used.milli_cpu:
        out.append(Insufficient("cpu", "Insufficient cpu", want > alloc.milli_cpu))
    want = req.memory
    if want > 0 and want > alloc.memory - used.memory:
        out.append(Insufficient("memory", "Insufficient memory", want > alloc.memory))
    want = req.ephemeral_storage
    if want > 0 and want > alloc.ephemeral_storage - used.ephemeral_storage:
        out.append(Insufficient("ephemeral-storage", "Insufficient ephemeral-storage",
                                want > alloc.ephemeral_storage))
    if req.scalar:
        for name, want in sorted(req.scalar.items()):
            have = alloc.scalar.get(name, 0)
            if want > 0 and want > have - used.scalar.get(name, 0):
                out.append(Insufficient(name, f"Insufficient {name}", want > have))
    return out


def fit_status(pod: PodInfo, node: NodeInfo) -> Status:
    missing = insufficient_resources(pod, node)
    if not missing:
        return SUCCESS
    code = Code.UNSCHEDULABLE_AND_UNRESOLVABLE if any(m.unresolvable for m in missing) \
        else Code.UNSCHEDULABLE
    return Status(code, tuple(m.reason for m in missing))


def requested_and_allocatable(pod: PodInfo, node: NodeInfo, resource: str, *,
                              non_zero: bool) -> tuple[int, int]:
    """What the node would have requested with the pod on it, and what it offers."""
    if resource == "cpu":
        used = node.non_zero_cpu + pod.non_zero_cpu if non_zero \
            else node.requested.milli_cpu + pod.requests.milli_cpu
        return used, node.allocatable.milli_cpu
    if resource == "memory":
        used = node.non_zero_memory + pod.non_zero_memory if non_zero \
            else node.requested.memory + pod.requests.memory
        return used, node.allocatable.memory
    if resource == "ephemeral-storage":
        return (node.requested.ephemeral_storage + pod.requests.ephemeral_storage,
                node.allocatable.ephemeral_storage)
    return (node.requested.scalar.get(resource, 0) + pod.requests.scalar.get(resource, 0),
            node.allocatable.scalar.get(resource, 0))


def least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


@dataclass
class Fit:
    """NodeResourcesFit: the filter, and the score of its scoringStrategy."""

    strategy: str = LEAST_ALLOCATED
    resources: Sequence[tuple[str, int]] = field(default=DEFAULT_RESOURCES)
    name: str = FIT

    def __post_init__(self) -> None:
        self._cpu_and_memory = tuple(self.resources) == DEFAULT_RESOURCES

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status:
        return fit_status(pod, node)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        fn = most_requested if self.strategy == MOST_ALLOCATED else least_requested
        if self._cpu_and_memory:  # the common case, without the lookups
            cpu, mem = node.allocatable.milli_cpu, node.allocatable.memory
            if cpu and mem:
                return (fn(node.non_zero_cpu + pod.non_zero_cpu, cpu)
                        + fn(node.non_zero_memory + pod.non_zero_memory, mem)) // 2
        total = weights = 0
        for resource, weight in self.resources:
            requested, allocatable = requested_and_allocatable(pod, node, resource,
                                                               non_zero=True)
            if allocatable == 0:
                continue
            total += fn(requested, allocatable) * weight
            weights += weight
        return total // weights if weights else 0

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None


def balanced_score(fractions: Sequence[float]) -> int:
    """(1 - standard deviation of the usage fractions) * 100."""
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = (sum((f - mean) ** 2 for f in fractions) / len(fractions)) ** 0.5
    else:
        std = 0.0
    return int((1 - std) * MAX_NODE_SCORE)


@dataclass
class BalancedAllocation:
    resources: Sequence[tuple[str, int]] = field(default=DEFAULT_RESOURCES)
    name: str = BALANCED

    def __post_init__(self) -> None:
        self._cpu_and_memory = tuple(self.resources) == DEFAULT_RESOURCES

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        if self._cpu_and_memory:
            cpu, mem = node.allocatable.milli_cpu, node.allocatable.memory
            if cpu and mem:
                f_cpu = min((node.requested.milli_cpu + pod.requests.milli_cpu) / cpu, 1.0)
                f_mem = min((node.requested.memory + pod.requests.memory) / mem, 1.0)
                return int((1 - abs(f_cpu - f_mem) / 2) * MAX_NODE_SCORE)
        fractions = []
        for resource, _ in self.resources:
            requested, allocatable = requested_and_allocatable(pod, node, resource,
                                                               non_zero=False)
            if allocatable:
                fractions.append(min(requested / allocatable, 1.0))
        return balanced_score(fractions)

    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None:
        return None

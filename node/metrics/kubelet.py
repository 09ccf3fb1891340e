"""The agent's own metrics (/metrics), under kubelet's names.

- `kubelet_pod_start_duration_seconds`: from the agent first seeing a pod to the
  pod running (kubelet's buckets), observed once per pod by the agent.
- `kubelet_running_pods` / `kubelet_running_containers{container_state}`: counted
  from the runtime listing at scrape time, as kubelet counts its runtime cache.
- the process's CPU, memory and file descriptors (`process_*`).

Each agent has its own registry, so hollow nodes (many agents in one process)
never share or collide on a series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from node.metrics.collector import View
from node.runtime.interface import ContainerState, SandboxState

# pkg/kubelet/metrics: PodStartDuration's buckets.
POD_START_BUCKETS = (0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360,
                     480, 600, 900, 1200, 1800, 2700, 3600)
# kubecontainer.State as kubelet_running_containers labels it.
CONTAINER_STATES = {ContainerState.CREATED: "created", ContainerState.RUNNING: "running",
                    ContainerState.EXITED: "exited", ContainerState.UNKNOWN: "unknown"}


class RunningCollector(Collector):
    """kubelet_running_pods and kubelet_running_containers from the runtime listing."""

    def __init__(self, view: View) -> None:
        self.view = view

    def collect(self) -> Iterable[Metric]:
        sandboxes, containers = self.view()
        pods = GaugeMetricFamily("kubelet_running_pods",
                                 "[ALPHA] Number of pods that have a running pod sandbox")
        pods.add_metric([], len({s.pod.uid for s in sandboxes
                                 if s.state == SandboxState.READY}))
        yield pods
        running = GaugeMetricFamily("kubelet_running_containers",
                                    "[ALPHA] Number of containers currently running",
                                    labels=["container_state"])
        counts = Counter(CONTAINER_STATES[c.state] for c in containers)
        for state in sorted(counts):
            running.add_metric([state], counts[state])
        yield running


class AgentMetrics:
    """The registry behind the agent's /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.pod_start = Histogram(
            "kubelet_pod_start_duration_seconds",
            "[ALPHA] Duration in seconds from kubelet seeing a pod for the first time to "
            "the pod starting to run", buckets=POD_START_BUCKETS, registry=self.registry)
        ProcessCollector(registry=self.registry)
        self._running: RunningCollector | None = None

    def watch_runtime(self, view: View) -> None:
        """Count running pods and containers from `view` at every scrape."""
        if self._running is None:
            self._running = RunningCollector(view)
            self.registry.register(self._running)

    def observe_pod_start(self, seconds: float) -> None:
        self.pod_start.observe(seconds)

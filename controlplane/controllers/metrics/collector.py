"""kube-state-metrics served from the controller-manager's own informers.

The collector holds no copy of anything: at scrape time it walks the pod, node and
Deployment stores the controllers already keep (on the event loop, see
`jota/metrics/server.py`) and turns each object into samples with `kubestate.py`.
Only the leading replica runs informers, so only the leader reports object
state: two replicas never double a series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controlplane.controllers.metrics.kubestate import (
    COUNTER,
    FAMILIES,
    Sample,
    deployment_samples,
    node_samples,
    pod_samples,
)
from jota.api.meta import Obj
from jota.client import SharedInformerFactory

RESOURCES = {"pods": pod_samples, "nodes": node_samples, "deployments": deployment_samples}


def families(samples: Iterable[Sample]) -> list[Metric]:
    """Group samples into Prometheus families, every family present (empty or not)."""
    out: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    for fam in FAMILIES.values():
        cls = CounterMetricFamily if fam.type == COUNTER else GaugeMetricFamily
        out[fam.name] = cls(fam.name, fam.help, labels=list(fam.labels))
    for s in samples:
        out[s.family].add_metric(list(s.labels), s.value)
    return list(out.values())


class KubeStateCollector(Collector):
    """Reads `source()` (the running informer factory, None when not leading)."""

    def __init__(self, source: Callable[[], SharedInformerFactory | None]) -> None:
        self.source = source

    def describe(self) -> list[Metric]:
        return families(())

    def collect(self) -> Iterator[Metric]:
        factory = self.source()
        samples: list[Sample] = []
        if factory is not None:
            for resource, fn in RESOURCES.items():
                objs: Iterable[Obj] = factory.informer_for(resource, "").store.list()
                for obj in objs:
                    samples += fn(obj)
        yield from families(samples)

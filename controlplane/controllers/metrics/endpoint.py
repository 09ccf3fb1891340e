"""The controller-manager's metrics endpoint: its own series (workqueues, process),
kube-state-metrics and the HTTP service discovery routes, on one port.

The informers belong to the controllers and exist only while this replica leads:
`ManagerMetrics.use(factory)` is the manager's hook that hands them over (and
takes them back with None when it stops leading).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from prometheus_client import REGISTRY, CollectorRegistry

from controlplane.controllers.metrics import discovery
from controlplane.controllers.metrics.collector import RESOURCES, KubeStateCollector
from jota.client import SharedInformerFactory
from jota.metrics import MetricsServer, WorkqueueCollector, parse_bind_address
from jota.metrics.server import Response

SD_CONTENT_TYPE = "application/json"


class ManagerMetrics:
    def __init__(self, bind: str, *, node_metrics_port: int = discovery.NODE_METRICS_PORT,
                 components: Mapping[str, str | Sequence[str]] | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        host, port = parse_bind_address(bind)
        self.factory: SharedInformerFactory | None = None
        self.node_metrics_port = node_metrics_port
        self.components: dict[str, str | Sequence[str]] = dict(components or {})
        if port:
            self.components.setdefault(
                "controller-manager", f"{'127.0.0.1' if host == '0.0.0.0' else host}:{port}")
        self.registry = registry
        registry.register(WorkqueueCollector())
        registry.register(KubeStateCollector(lambda: self.factory))
        self.server = MetricsServer(host, port, registry=registry, routes={
            "/sd/nodes": self._sd_nodes, "/sd/control-plane": self._sd_control_plane,
        }) if port else None

    def use(self, factory: SharedInformerFactory | None) -> None:
        """Read object state from `factory` (asking it for the informers KSM needs,
        before it starts), or from nothing."""
        if factory is not None:
            for resource in RESOURCES:
                factory.informer_for(resource, "")
        self.factory = factory

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()

    async def _sd_nodes(self) -> Response:
        nodes = (self.factory.informer_for("nodes", "").store.list()
                 if self.factory is not None else [])
        groups = discovery.node_targets(nodes, self.node_metrics_port)
        return SD_CONTENT_TYPE, json.dumps(groups).encode()

    async def _sd_control_plane(self) -> Response:
        groups = discovery.control_plane_targets(self.components)
        return SD_CONTENT_TYPE, json.dumps(groups).encode()

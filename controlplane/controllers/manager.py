"""The controller-manager: every controller in one process, one replica leading.

Controllers share one informer factory (one watch per resource for all of
them). With leader election on, replicas race for the Lease
`kube-system/kube-controller-manager`; only the holder runs controllers, and a
replica that loses the lease stops them (and exits, as kube-controller-manager
does, so its supervisor restarts it clean).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

from controlplane.controllers.cronjob import CronJobController
from controlplane.controllers.csrapproving import CSRApprovingController
from controlplane.controllers.csrcleaner import CSRCleaner
from controlplane.controllers.csrsigning import CSRSigningController, SigningConfig
from controlplane.controllers.daemonset import DaemonSetController
from controlplane.controllers.deployment import DeploymentController
from controlplane.controllers.disruption import DisruptionController
from controlplane.controllers.endpoints import EndpointsController
from controlplane.controllers.endpointslice import EndpointSliceController
from controlplane.controllers.garbagecollector import GarbageCollector
from controlplane.controllers.job import JobController
from controlplane.controllers.namespace import NamespaceController
from controlplane.controllers.nodeipam import (
    DEFAULT_CLUSTER_CIDR,
    DEFAULT_NODE_MASK,
    NodeIPAMController,
)
from controlplane.controllers.nodelifecycle import NodeLifecycleController, NodeLifecycleSettings
from controlplane.controllers.podautoscaler import DEFAULT_SYNC_PERIOD, HorizontalController
from controlplane.controllers.podgc import DEFAULT_TERMINATED_POD_GC_THRESHOLD, PodGCController
from controlplane.controllers.pvbinder import PersistentVolumeBinder
from controlplane.controllers.replicaset import ReplicaSetController
from controlplane.controllers.statefulset import StatefulSetController
from controlplane.controllers.tokencleaner import TokenCleaner
from jota.client import Client, LeaderElector, SharedInformerFactory
from jota.client.leaderelection import Timing

logger = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-controller-manager"  # kube-controller-manager's


@dataclass(frozen=True)
class ControllerOptions:
    """kube-controller-manager flags controllers read (kube's names and defaults), passed
    through as one value rather than one more keyword argument each."""

    terminated_pod_gc_threshold: int = DEFAULT_TERMINATED_POD_GC_THRESHOLD
    cluster_cidr: str = DEFAULT_CLUSTER_CIDR
    node_cidr_mask_size: int = DEFAULT_NODE_MASK


class Controller(Protocol):
    name: str

    async def run(self, workers: int = 2) -> None: ...


def build_controllers(client: Client, factory: SharedInformerFactory,
                      settings: NodeLifecycleSettings | None = None, *,
                      hpa_sync_period: float = DEFAULT_SYNC_PERIOD,
                      signing: SigningConfig | None = None,
                      options: ControllerOptions | None = None) -> list[Controller]:
    opts = options or ControllerOptions()
    # csrsigning runs only with --cluster-signing-cert-file/--cluster-signing-key-file.
    certificates: list[Controller] = [CSRApprovingController(client, factory),
                                      CSRCleaner(client, factory), TokenCleaner(client, factory)]
    if signing is not None:
        certificates.append(CSRSigningController(client, factory, signing))
    return [NamespaceController(client, factory), GarbageCollector(client, factory),
            ReplicaSetController(client, factory), DeploymentController(client, factory),
            NodeIPAMController(client, factory, cluster_cidr=opts.cluster_cidr,
                               node_mask=opts.node_cidr_mask_size),
            PodGCController(client, factory,
                            terminated_pod_gc_threshold=opts.terminated_pod_gc_threshold),
            NodeLifecycleController(client, factory, settings),
            DaemonSetController(client, factory), StatefulSetController(client, factory),
            JobController(client, factory), CronJobController(client, factory),
            EndpointsController(client, factory), EndpointSliceController(client, factory),
            PersistentVolumeBinder(client, factory), DisruptionController(client, factory),
            HorizontalController(client, factory, sync_period=hpa_sync_period),
            *certificates]


# Told the informer factory while controllers run, None after (the metrics endpoint).
FactoryHook = Callable[[SharedInformerFactory | None], None]


async def run_controllers(client: Client, settings: NodeLifecycleSettings | None = None,
                          on_factory: FactoryHook | None = None, *,
                          hpa_sync_period: float = DEFAULT_SYNC_PERIOD,
                          signing: SigningConfig | None = None,
                          options: ControllerOptions | None = None) -> None:
    factory = SharedInformerFactory(client)
    controllers = build_controllers(client, factory, settings,
                                    hpa_sync_period=hpa_sync_period, signing=signing,
                                    options=options)
    if on_factory is not None:
        on_factory(factory)
    factory.start()
    synced = await factory.wait_for_cache_sync(timeout=120)
    late = [name for name, ok in synced.items() if not ok]
    if late:
        logger.warning("caches not synced yet; starting anyway",
                       extra={"resources": ",".join(late)})
    logger.info("controllers started",
                extra={"controllers": ",".join(c.name for c in controllers)})
    try:
        await asyncio.gather(*(c.run() for c in controllers))
    finally:
        if on_factory is not None:
            on_factory(None)
        await factory.shutdown()


async def run(client: Client, *, leader_elect: bool, identity: str = "",
              settings: NodeLifecycleSettings | None = None,
              on_factory: FactoryHook | None = None,
              hpa_sync_period: float = DEFAULT_SYNC_PERIOD,
              timing: Timing | None = None, signing: SigningConfig | None = None,
              options: ControllerOptions | None = None) -> None:
    if not leader_elect:
        await run_controllers(client, settings, on_factory, hpa_sync_period=hpa_sync_period,
                              signing=signing, options=options)
        return
    identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    elector = LeaderElector(
        client, namespace=LEASE_NAMESPACE, name=LEASE_NAME, identity=identity,
        on_started_leading=lambda: run_controllers(client, settings, on_factory,
                                                   hpa_sync_period=hpa_sync_period,
                                                   signing=signing, options=options),
        on_new_leader=lambda who: logger.info("leader is now", extra={"leader": who}),
        release_on_cancel=True, **asdict(timing or Timing()))
    await elector.run()
    logger.warning("lost the lease; exiting", extra={"identity": identity})

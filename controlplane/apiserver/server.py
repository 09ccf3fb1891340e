"""Assemble the apiserver: etcd, the API, the gRPC server with health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controlplane.apiserver.allocators import (
    DEFAULT_LB_RANGE,
    DEFAULT_NODE_PORT_RANGE,
    DEFAULT_SERVICE_CIDR,
    ServiceAllocator,
)
from controlplane.apiserver.compaction import compact_periodically
from controlplane.apiserver.rest import API
from controlplane.apiserver.service import ResourcesService
from controlplane.apiserver.streams import PodStreamsService
from controlplane.storage.codec import Codec, Transformer
from controlplane.storage.etcd import Etcd
from jota.api.gen import resources_pb2, resources_pb2_grpc, streams_pb2, streams_pb2_grpc

logger = logging.getLogger(__name__)
MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class Config:
    etcd_servers: list[str]
    listen: str = "127.0.0.1:6443"
    compaction_interval: float = 300.0
    bookmark_interval: float = 30.0
    service_cluster_ip_range: str = DEFAULT_SERVICE_CIDR
    service_node_port_range: str = DEFAULT_NODE_PORT_RANGE
    load_balancer_ip_range: str = DEFAULT_LB_RANGE
    encryption: Transformer | None = None  # --encryption-provider-config, loaded


class APIServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.etcd = Etcd(config.etcd_servers)
        services = ServiceAllocator(self.etcd, cluster_cidr=config.service_cluster_ip_range,
                                    node_ports=config.service_node_port_range,
                                    lb_cidr=config.load_balancer_ip_range)
        self.api = API(self.etcd, bookmark_interval=config.bookmark_interval,
                       services=services, codec=Codec(config.encryption))
        self.server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ])
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._compactor: asyncio.Task[None] | None = None

    async def start(self) -> None:
        resources_pb2_grpc.add_ResourcesServicer_to_server(  # type: ignore[no-untyped-call]
            ResourcesService(self.api), self.server)
        streams_pb2_grpc.add_PodStreamsServicer_to_server(  # type: ignore[no-untyped-call]
            PodStreamsService(self.api), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (resources_pb2.DESCRIPTOR.services_by_name["Resources"].full_name,
                 streams_pb2.DESCRIPTOR.services_by_name["PodStreams"].full_name,
                 health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)
        self.port = self.server.add_insecure_port(self.config.listen)
        if not self.port:
            raise OSError(f"cannot listen on {self.config.listen}")
        await self.api.start()
        for cache in self.api.caches.values():
            await cache.ready.wait()
        await self.server.start()
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("jota.v1.Resources", health_pb2.HealthCheckResponse.SERVING)
        self._compactor = asyncio.create_task(
            compact_periodically(self.etcd, self.config.compaction_interval))
        logger.info("serving", extra={"listen": self.config.listen,
                                      "etcd": ",".join(self.config.etcd_servers)})

    async def stop(self, grace: float = 2.0) -> None:
        if self._compactor:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.api.stop()
        await self.etcd.close()

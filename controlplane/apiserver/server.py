"""Assemble the apiserver: etcd, the API, the gRPC server with health and reflection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
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
from controlplane.apiserver.authn import Gate
from controlplane.apiserver.bootstrap import KubernetesService, advertise_address, first_address
from controlplane.apiserver.compaction import compact_periodically
from controlplane.apiserver.metricsapi import (
    DEFAULT_NODE_METRICS_PORT,
    DEFAULT_RESOLUTION,
    MetricsAPI,
)
from controlplane.apiserver.rest import API
from controlplane.apiserver.service import ResourcesService
from controlplane.apiserver.streams import PodStreamsService
from controlplane.storage.codec import Codec, Transformer
from controlplane.storage.etcd import Etcd
from jota.api import errors
from jota.api.gen import resources_pb2, resources_pb2_grpc, streams_pb2, streams_pb2_grpc
from jota.api.meta import Obj
from jota.api.registry import by_plural

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
    tls: ServerTLS | None = None  # None: plaintext, loopback only, everyone an admin
    advertise_address: str = ""  # "" = the --listen host (or the default route's address)
    metric_resolution: float = DEFAULT_RESOLUTION  # --metric-resolution; 0 = no metrics API
    node_metrics_port: int = DEFAULT_NODE_METRICS_PORT  # the agents' --metrics-port
    node_metrics_tls: ssl.SSLContext | None = None  # HTTPS to agents, kubelet client cert
    event_ttl: int = 3600  # --event-ttl: seconds an event lives after its last write


@dataclass(frozen=True)
class ServerTLS:
    """PEM bytes of kube-apiserver's --tls-cert-file, --tls-private-key-file,
    --client-ca-file, and --kubelet-client-certificate/-key (to reach node agents)."""

    cert: bytes
    key: bytes
    client_ca: bytes
    kubelet_cert: bytes = b""
    kubelet_key: bytes = b""
    bootstrap_listen: str = ""  # a second TLS port for bootstrap tokens; "" = none


class APIServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.etcd = Etcd(config.etcd_servers)
        services = ServiceAllocator(self.etcd, cluster_cidr=config.service_cluster_ip_range,
                                    node_ports=config.service_node_port_range,
                                    lb_cidr=config.load_balancer_ip_range)
        self.api = API(self.etcd, bookmark_interval=config.bookmark_interval,
                       services=services, codec=Codec(config.encryption),
                       event_ttl=config.event_ttl)
        self.server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.so_reuseport", 0),
        ])
        self.metrics = MetricsAPI(self.api, resolution=config.metric_resolution,
                                  port=config.node_metrics_port, tls=config.node_metrics_tls)
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._compactor: asyncio.Task[None] | None = None
        self.kubernetes_service: KubernetesService | None = None

    async def _secret(self, name: str) -> Obj | None:
        try:
            return await self.api.get(by_plural("secrets"), "kube-system", name)
        except errors.NotFound:
            return None

    async def _pod_node(self, namespace: str, name: str) -> str | None:
        try:
            pod = await self.api.get(by_plural("pods"), namespace, name)
        except errors.NotFound:
            return None
        return str((pod.get("spec") or {}).get("nodeName") or "")

    async def start(self) -> None:
        tls = self.config.tls
        gate = Gate(secure=tls is not None, secret=self._secret, pod_node=self._pod_node)
        kubelet = None
        if tls is not None and tls.kubelet_cert:
            kubelet = grpc.ssl_channel_credentials(root_certificates=tls.client_ca,
                                                   private_key=tls.kubelet_key,
                                                   certificate_chain=tls.kubelet_cert)
        resources_pb2_grpc.add_ResourcesServicer_to_server(  # type: ignore[no-untyped-call]
            ResourcesService(self.api, gate,
                             self.metrics if self.config.metric_resolution > 0 else None),
            self.server)
        streams_pb2_grpc.add_PodStreamsServicer_to_server(  # type: ignore[no-untyped-call]
            PodStreamsService(self.api, gate, kubelet), self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = (resources_pb2.DESCRIPTOR.services_by_name["Resources"].full_name,
                 streams_pb2.DESCRIPTOR.services_by_name["PodStreams"].full_name,
                 health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, self.server)
        if tls is None:
            self.port = self.server.add_insecure_port(self.config.listen)
        else:
            # gRPC Python cannot ask for a client certificate without requiring one (Go's
            # VerifyClientCertIfGiven), so the main port requires one, and joining nodes,
            # which hold only a bootstrap token, come in on a port of their own that asks
            # for none; there a token is the only way in (authn.Gate).
            self.port = self.server.add_secure_port(self.config.listen, grpc.ssl_server_credentials(
                [(tls.key, tls.cert)], root_certificates=tls.client_ca,
                require_client_auth=True))
            if tls.bootstrap_listen and not self.server.add_secure_port(
                    tls.bootstrap_listen, grpc.ssl_server_credentials([(tls.key, tls.cert)])):
                raise OSError(f"cannot listen on {tls.bootstrap_listen}")
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
        self.kubernetes_service = KubernetesService(
            self.api, address=advertise_address(self.config.listen,
                                                self.config.advertise_address),
            port=self.port, cluster_ip=first_address(self.config.service_cluster_ip_range))
        self.kubernetes_service.start()
        self.metrics.start()
        logger.info("serving", extra={"listen": self.config.listen,
                                      "etcd": ",".join(self.config.etcd_servers)})

    async def stop(self, grace: float = 2.0) -> None:
        await self.metrics.stop()
        if self.kubernetes_service is not None:
            await self.kubernetes_service.stop()
        if self._compactor:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.api.stop()
        await self.etcd.close()

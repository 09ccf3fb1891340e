"""A node agent started with kubelet's TLS flags: its streaming service and its metrics
port take only certificates of the cluster's CA (the apiserver's, Prometheus'), as
every node of a TLS cluster does."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jota import pki
from jota.api.gen import streams_pb2 as streams_pb
from jota.api.gen import streams_pb2_grpc as streams_grpc
from jota.local.processes import Daemon, start_node_agent

NODE = "tls-node"


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.new_ca()


@pytest.fixture(scope="module")
def tls_agent(apiserver: Daemon, ca: pki.KeyPair, test_image: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("tls-node")
    node = pki.issue(ca, pki.node_user(NODE), organizations=[pki.NODES], hosts=["127.0.0.1"],
                     server=True)
    for name, data in (("ca.crt", ca.cert), ("node.crt", node.cert), ("node.key", node.key)):
        (root / name).write_bytes(data)
    daemon = start_node_agent(apiserver.address, root, node_name=NODE, root_dir=root / "root",
                              extra_args=["--tls-cert-file", str(root / "node.crt"),
                                          "--tls-private-key-file", str(root / "node.key"),
                                          "--client-ca-file", str(root / "ca.crt")])
    yield daemon
    daemon.stop(timeout=30)


def logs_request() -> streams_pb.LogsRequest:
    return streams_pb.LogsRequest(target=streams_pb.PodTarget(
        namespace="default", pod="nope", container="main", pod_uid="0", container_id="0"))


def scrape(daemon: Daemon, context: ssl.SSLContext | None, scheme: str = "https") -> str:
    url = f"{scheme}://{daemon.extra['metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=20, context=context) as r:
        return str(r.read().decode())


def client_context(ca: pki.KeyPair, tmp_path: Path, pair: pki.KeyPair | None
                   ) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.cert.decode())
    if pair is not None:
        (tmp_path / "c.crt").write_bytes(pair.cert)
        (tmp_path / "c.key").write_bytes(pair.key)
        context.load_cert_chain(str(tmp_path / "c.crt"), str(tmp_path / "c.key"))
    return context


def test_metrics_need_a_certificate_of_the_clusters_ca(tls_agent: Daemon, ca: pki.KeyPair,
                                                       tmp_path: Path) -> None:
    prometheus = pki.issue(ca, "system:jota-prometheus")
    text = scrape(tls_agent, client_context(ca, tmp_path, prometheus))
    assert "kubelet_running_pods" in text
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        scrape(tls_agent, client_context(ca, tmp_path, None))
    stranger = pki.issue(pki.new_ca("stranger"), "system:jota-prometheus")
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        scrape(tls_agent, client_context(ca, tmp_path, stranger))
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        scrape(tls_agent, None, scheme="http")


async def test_streams_take_the_apiservers_certificate_only(tls_agent: Daemon,
                                                            ca: pki.KeyPair) -> None:
    def channel(pair: pki.KeyPair) -> grpc.aio.Channel:
        creds = grpc.ssl_channel_credentials(ca.cert, pair.key, pair.cert)
        return grpc.aio.secure_channel(tls_agent.address, creds)

    apiserver = pki.issue(ca, pki.APISERVER_KUBELET_CLIENT, organizations=[pki.MASTERS])
    async with channel(apiserver) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=20)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # The apiserver gets past the gate (the pod does not exist: NotFound, not denied).
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in streams_grpc.NodeStreamsStub(ch).Logs(logs_request(), timeout=20):
                pass
        assert caught.value.code() != grpc.StatusCode.PERMISSION_DENIED
    # Another holder of a certificate of the same CA (a node) may not read logs here.
    other_node = pki.issue(ca, pki.node_user("other"), organizations=[pki.NODES])
    async with channel(other_node) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in streams_grpc.NodeStreamsStub(ch).Logs(logs_request(), timeout=20):
                pass
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only the apiserver may" in (caught.value.details() or "")
    stranger = pki.issue(pki.new_ca("stranger"), pki.APISERVER_KUBELET_CLIENT)
    async with channel(stranger) as ch:
        with pytest.raises(grpc.aio.AioRpcError):
            await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                       timeout=10)

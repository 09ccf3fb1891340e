"""The default/kubernetes Service and its endpoints, kept by the apiserver itself."""

from __future__ import annotations

from typing import Any

import pytest

from jota.api import errors
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.node_helpers import eventually


async def test_the_kubernetes_service_points_at_the_apiserver(client: Client,
                                                              apiserver: Daemon) -> None:
    port = int(apiserver.address.rsplit(":", 1)[1])

    # Other tests start short-lived apiservers on this etcd (each writes its own port,
    # then removes its address as it stops): wait for this one's picture.
    async def service() -> dict[str, Any] | None:
        try:
            svc = await client.get("services", "kubernetes", "default")
        except errors.NotFound:
            return None
        return svc if svc["spec"]["ports"][0]["targetPort"] == port else None
    svc = await eventually(service, 60, "the kubernetes Service")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    assert svc["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP",
                                     "targetPort": port}]
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    wanted = [{"addresses": [{"ip": "127.0.0.1"}],
               "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]

    async def endpoints() -> bool:
        try:
            ep = await client.get("endpoints", "kubernetes", "default")
            es = await client.get("endpointslices", "kubernetes", "default")
        except errors.NotFound:
            return False
        return ep.get("subsets") == wanted and [e["addresses"] for e in es["endpoints"]] == [
            ["127.0.0.1"]] and es["ports"][0]["port"] == port
    await eventually(endpoints, 60, "the kubernetes Endpoints and EndpointSlice")
    es = await client.get("endpointslices", "kubernetes", "default")
    assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"

    # The address came from the allocator: nobody else can have it.
    with pytest.raises(errors.Invalid) as e:
        await client.create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "thief"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}}, "default")
    assert "provided IP is already allocated" in e.value.message

    # Deleted by someone: the apiserver puts it back.
    await client.delete("services", "kubernetes", "default")
    back = await eventually(service, 60, "the kubernetes Service recreated")
    assert back["spec"]["clusterIP"] == "10.96.0.1"

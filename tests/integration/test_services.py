"""Services get their IPs and ports; Endpoints and EndpointSlices follow ready pods.

Against the session apiserver (allocation) and controller-manager (endpoints
controllers). No node runs the pods: the test plays the kubelet, patching pod
status to Running/Ready with a pod IP, as tests/integration/test_workloads.py does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jota.api import errors
from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.conftest import CLI
from tests.integration.test_workloads import NO_NODE, eventually


def service(name: str, stype: str = "ClusterIP", **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": stype, "selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "web"}], **spec}}


def pod(name: str, app: str, port: int = 8080) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeSelector": NO_NODE, "containers": [
                {"name": "c", "image": "busybox:1.36",
                 "ports": [{"name": "web", "containerPort": port}]}]}}


async def set_status(client: Client, ns: str, name: str, ip: str, ready: bool) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    await client.patch("pods", name, {"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                        "lastTransitionTime": stamp}]}}, ns, patch_type="merge", status=True)


async def test_fifty_concurrent_services_get_unique_cluster_ips(
        apiserver: Daemon, client: Client, namespace: str) -> None:
    created = await asyncio.gather(*(client.create("services", service(f"s{i}"), namespace)
                                     for i in range(50)))
    ips = [s["spec"]["clusterIP"] for s in created]
    assert len(set(ips)) == 50
    assert all(ip.startswith(("10.9", "10.10", "10.11")) for ip in ips)
    listed = await client.list("services", namespace)
    assert sorted(s["spec"]["clusterIP"] for s in listed["items"]) == sorted(ips)


async def test_requested_ip_honoured_refused_when_taken_and_released_on_delete(
        apiserver: Daemon, client: Client, namespace: str) -> None:
    ip = "10.96.0.77"
    first = await client.create("services", service("a", clusterIP=ip), namespace)
    assert first["spec"]["clusterIPs"] == [ip]
    with pytest.raises(errors.Invalid) as e:
        await client.create("services", service("b", clusterIP=ip), namespace)
    assert e.value.message == (
        f'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{{"{ip}"}}: '
        f"failed to allocate IP {ip}: provided IP is already allocated")
    await client.delete("services", "a", namespace)
    again = await client.create("services", service("b", clusterIP=ip), namespace)
    assert again["spec"]["clusterIP"] == ip
    await client.delete("services", "b", namespace)


async def test_node_port_allocated_refused_when_taken_and_kept_on_update(
        apiserver: Daemon, client: Client, namespace: str) -> None:
    auto = await client.create("services", service("auto", "NodePort"), namespace)
    port = auto["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    spec_port = {"name": "http", "port": 80, "targetPort": "web", "nodePort": port}
    with pytest.raises(errors.Invalid) as e:
        await client.create("services", service("clash", "NodePort", ports=[spec_port]),
                            namespace)
    assert e.value.message == (f'Service "clash" is invalid: spec.ports[0].nodePort: '
                               f"Invalid value: {port}: provided port is already allocated")
    relabeled = await client.patch("services", "auto", {"metadata": {"labels": {"x": "y"}}},
                                   namespace, patch_type="merge")
    assert relabeled["spec"]["ports"][0]["nodePort"] == port
    as_cluster_ip = await client.patch("services", "auto", {"spec": {"type": "ClusterIP"}},
                                       namespace, patch_type="merge")
    assert "nodePort" not in as_cluster_ip["spec"]["ports"][0]
    taken = await client.create("services", service("clash", "NodePort", ports=[spec_port]),
                                namespace)
    assert taken["spec"]["ports"][0]["nodePort"] == port
    await client.delete("services", "clash", namespace)


async def test_load_balancer_gets_an_ingress_ip_from_the_pool(
        apiserver: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    lb = await client.create("services", service("lb", "LoadBalancer"), namespace)
    ingress = lb["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert ingress.startswith("172.30.255.")
    assert lb["spec"]["ports"][0]["nodePort"]
    out = jota.ok("get", "svc", "lb", "-n", namespace)
    assert ingress in out
    external = await client.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}}, namespace)
    assert not external["spec"].get("clusterIP")
    headless = await client.create("services", service("hl", clusterIP="None"), namespace)
    assert headless["spec"]["clusterIPs"] == ["None"]


async def test_endpoints_and_slices_follow_pod_readiness(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    await client.create("services", service("web"), namespace)
    for name, port in (("web-a", 8080), ("web-b", 9090)):
        await client.create("pods", pod(name, "web", port), namespace)
    await set_status(client, namespace, "web-a", "10.244.7.10", ready=True)
    await set_status(client, namespace, "web-b", "10.244.7.11", ready=True)

    async def addresses() -> tuple[list[str], list[str]]:
        try:
            ep = await client.get("endpoints", "web", namespace)
        except errors.NotFound:
            return [], []
        ready = sorted(f"{a['ip']}:{s['ports'][0]['port']}" for s in ep.get("subsets") or []
                       for a in s.get("addresses") or [])
        not_ready = sorted(a["ip"] for s in ep.get("subsets") or []
                           for a in s.get("notReadyAddresses") or [])
        return ready, not_ready

    async def slice_conditions() -> dict[str, Obj]:
        slices = await client.list("endpointslices", namespace,
                                   label_selector="kubernetes.io/service-name=web")
        return {e["addresses"][0]: e["conditions"] for s in slices["items"]
                for e in s.get("endpoints") or []}

    async def both_ready() -> bool:
        return await addresses() == (["10.244.7.10:8080", "10.244.7.11:9090"], [])

    await eventually(both_ready, what="both pods ready in Endpoints")
    conds = await eventually(slice_conditions, what="endpoints in slices")
    assert conds["10.244.7.10"] == {"ready": True, "serving": True, "terminating": False}
    out = jota.ok("get", "endpoints", "web", "-n", namespace)
    assert "10.244.7.10:8080" in out and "10.244.7.11:9090" in out
    out = jota.ok("describe", "svc", "web", "-n", namespace)
    assert "10.244.7.10:8080" in out

    await set_status(client, namespace, "web-b", "10.244.7.11", ready=False)

    async def b_not_ready() -> bool:
        return await addresses() == (["10.244.7.10:8080"], ["10.244.7.11"])

    await eventually(b_not_ready, what="web-b not ready")

    async def b_slice_not_ready() -> bool:
        return (await slice_conditions()).get("10.244.7.11", {}).get("ready") is False

    await eventually(b_slice_not_ready, what="web-b not ready in its slice")

    await client.delete("pods", "web-a", namespace)

    async def a_gone() -> bool:
        return await addresses() == ([], ["10.244.7.11"]) and \
            "10.244.7.10" not in await slice_conditions()

    await eventually(a_gone, what="web-a gone from Endpoints and slices")

    await client.delete("services", "web", namespace)

    async def cleaned() -> bool:
        slices = await client.list("endpointslices", namespace,
                                   label_selector="kubernetes.io/service-name=web")
        return await addresses() == ([], []) and not slices["items"]

    await eventually(cleaned, what="Endpoints and slices removed with the Service")

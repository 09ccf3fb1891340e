"""Two node "VMs" on one machine: own addresses, own engines, pods reaching each other.

The tests share one `jota local up --nodes 2` (see conftest.py) and run in file
order; the last one takes the cluster down and proves nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime

import docker

from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.docker import DEFAULT_SOCKET, answers
from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster, what_is_left

W1, W2 = "jota-worker-1", "jota-worker-2"
LEASE_PERIOD = 10.0  # the agent renews its Lease every 10 s


@contextlib.contextmanager
def engine(docker_host: str) -> Iterator[docker.DockerClient]:
    """A Docker API client of one node's engine (or this machine's), closed after."""
    api = docker.DockerClient(base_url=docker_host, timeout=30)
    try:
        yield api
    finally:
        api.close()


def engine_id(docker_host: str) -> str:
    with engine(docker_host) as api:
        return str(api.info()["ID"])


def web_pod(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{
                "name": "web", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                "command": ["httpd", "-f", "-v", "-p", "8080", "-h", "/www"]}]}}


async def wait_running(client: Client, name: str, timeout: float = 60.0) -> Obj:
    deadline = time.monotonic() + timeout
    pod: Obj = {}
    while time.monotonic() < deadline:
        pod = await client.get("pods", name, "default")
        status = pod.get("status") or {}
        if status.get("phase") == "Running" and status.get("podIP"):
            return pod
        await asyncio.sleep(0.3)
    raise AssertionError(f"pod {name} not Running with an IP: {pod.get('status')}")


def exec_in_pod(docker_host: str, pod: str, cmd: list[str]) -> tuple[int, str]:
    """`docker exec` in the pod's container, through the engine of the pod's node."""
    with engine(docker_host) as api:
        (container,) = api.containers.list(filters={"label": [
            f"io.kubernetes.pod.name={pod}", "io.kubernetes.container.name=web"]})
        code, out = container.exec_run(cmd)
        return int(code), out.decode(errors="replace")


def container_logs(docker_host: str, pod: str) -> str:
    with engine(docker_host) as api:
        (container,) = api.containers.list(filters={"label": [
            f"io.kubernetes.pod.name={pod}", "io.kubernetes.container.name=web"]})
        return str(container.logs().decode(errors="replace"))


def ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def internal_ip(node: Obj) -> str:
    return str(next(a["address"] for a in node["status"]["addresses"]
                    if a["type"] == "InternalIP"))


async def test_two_nodes_ready_with_own_addresses_and_engines(
        local_cluster: LocalCluster, client: Client) -> None:
    nodes = {n["metadata"]["name"]: n for n in (await client.list("nodes"))["items"]}
    assert sorted(nodes) == [W1, W2]
    assert all(ready(n) for n in nodes.values())
    assert {name: internal_ip(n) for name, n in nodes.items()} == {
        W1: "172.31.0.11", W2: "172.31.0.12"}
    assert {name: n["spec"]["podCIDR"] for name, n in nodes.items()} == {
        W1: "10.244.1.0/24", W2: "10.244.2.0/24"}
    ids = [engine_id(n.docker_host) for n in local_cluster.nodes]
    assert len(set(ids)) == 2
    assert engine_id(DEFAULT_SOCKET) not in ids


async def test_status_lists_nodes_with_address_and_engine(local_cluster: LocalCluster) -> None:
    out = local_cluster.jota("local", "status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[lines.index("") + 1].split() == ["NODE", "STATUS", "ADDRESS", "POD", "CIDR",
                                                  "ENGINE"]
    rows = [line.split() for line in lines[lines.index("") + 2:]]
    assert rows == [[n.name, "Running", n.address, n.pod_cidr, n.docker_host]
                    for n in local_cluster.nodes]


async def test_a_pod_reaches_a_pod_on_the_other_node(local_cluster: LocalCluster,
                                                     client: Client) -> None:
    await client.create("pods", web_pod("web-1", W1), "default")
    await client.create("pods", web_pod("web-2", W2), "default")
    pod1, pod2 = await wait_running(client, "web-1"), await wait_running(client, "web-2")
    ip1, ip2 = pod1["status"]["podIP"], pod2["status"]["podIP"]
    assert ipaddress.ip_address(ip1) in ipaddress.ip_network("10.244.1.0/24")
    assert ipaddress.ip_address(ip2) in ipaddress.ip_network("10.244.2.0/24")
    assert pod2["status"]["hostIP"] == "172.31.0.12"

    # busybox's `wget -T` crashes: the outer timeout bounds it instead.
    code, out = await asyncio.wait_for(asyncio.to_thread(
        exec_in_pod, local_cluster.node(W1).docker_host, "web-1",
        ["wget", "-q", "-O-", f"http://{ip2}:8080/"]), timeout=30)
    assert code == 0, out
    assert "It works!" in out
    # No NAT between pods: web-2 saw web-1's own address.
    assert f"[::ffff:{ip1}]:" in container_logs(local_cluster.node(W2).docker_host, "web-2")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def test_the_host_reaches_every_pod_ip(client: Client) -> None:
    for name in ("web-1", "web-2"):
        pod = await wait_running(client, name)
        url = f"http://{pod['status']['podIP']}:8080/"
        body = await asyncio.to_thread(fetch, url)
        assert "It works!" in body


async def lease_renew_time(client: Client, node: str) -> datetime:
    lease = await client.get("leases", node, "kube-node-lease")
    return datetime.fromisoformat(str(lease["spec"]["renewTime"]).replace("Z", "+00:00"))


async def test_stop_node_stops_its_lease_and_start_node_brings_it_back(
        local_cluster: LocalCluster, client: Client) -> None:
    stop = await asyncio.to_thread(local_cluster.jota, "local", "stop-node", W2)
    assert stop.returncode == 0, stop.stderr
    assert not answers(local_cluster.node(W2).docker_host)
    stopped_at = await lease_renew_time(client, W2)
    await asyncio.sleep(LEASE_PERIOD + 2)
    assert await lease_renew_time(client, W2) == stopped_at
    other = await lease_renew_time(client, W1)
    assert other > stopped_at  # the other node carried on

    start = await asyncio.to_thread(local_cluster.jota, "local", "start-node", W2)
    assert start.returncode == 0, start.stderr
    assert answers(local_cluster.node(W2).docker_host)
    deadline = time.monotonic() + 2 * LEASE_PERIOD
    while await lease_renew_time(client, W2) == stopped_at:
        assert time.monotonic() < deadline, "the lease of the restarted node is not renewed"
        await asyncio.sleep(0.5)
    # Its pod comes back too, in the node's pod CIDR.
    pod = await wait_running(client, "web-2")
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(
        "10.244.2.0/24")


def load_image(lc: LocalCluster, docker_host: str, image: str
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jota.cli.main", "local", "load-image", image],
                          env={**lc.env, "DOCKER_HOST": docker_host}, capture_output=True,
                          text=True, timeout=300, check=False)


def has_image(docker_host: str, image: str) -> bool:
    with engine(docker_host) as api:
        try:
            api.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False


def tag(docker_host: str, image: str, new: str) -> None:
    with engine(docker_host) as api:
        api.images.get(image).tag(new)


def untag(docker_host: str, image: str) -> None:
    with engine(docker_host) as api, contextlib.suppress(docker.errors.ImageNotFound):
        api.images.remove(image)


async def test_load_image_copies_from_docker_host_into_every_node(
        local_cluster: LocalCluster) -> None:
    lc = local_cluster
    loaded, only_w1 = "jota/loaded:e2e", "jota/only-on-worker-1:e2e"
    tag(DEFAULT_SOCKET, TEST_IMAGE, loaded)
    try:
        out = await asyncio.to_thread(load_image, lc, DEFAULT_SOCKET, loaded)
        assert out.returncode == 0, out.stderr
        for n in lc.nodes:
            assert f"Loading {loaded} from {DEFAULT_SOCKET} into {n.name}" in out.stdout
            assert has_image(n.docker_host, loaded), n.name
        # DOCKER_HOST names the source, as for the docker CLI: here worker-1's engine,
        # holding an image this machine's engine does not have.
        w1, w2 = lc.node(W1), lc.node(W2)
        tag(w1.docker_host, loaded, only_w1)
        assert not has_image(DEFAULT_SOCKET, only_w1)
        out = await asyncio.to_thread(load_image, lc, w1.docker_host, only_w1)
        assert out.returncode == 0, out.stderr
        assert has_image(w2.docker_host, only_w1)
        # A missing image: one line naming it and where it was looked for.
        out = await asyncio.to_thread(load_image, lc, DEFAULT_SOCKET, "jota/nope:1")
        assert (out.returncode, out.stderr) == (
            1, f"error: image 'jota/nope:1' is not in {DEFAULT_SOCKET}\n")
    finally:
        for host in (DEFAULT_SOCKET, *(n.docker_host for n in lc.nodes)):
            untag(host, loaded)
            untag(host, only_w1)


async def test_down_leaves_nothing_behind(local_cluster: LocalCluster) -> None:
    out = await asyncio.to_thread(local_cluster.jota, "local", "down")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "The local cluster is down." in out.stdout
    assert what_is_left() == []
    assert not local_cluster.state_dir.exists()
    assert answers(DEFAULT_SOCKET)

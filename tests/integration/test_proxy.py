"""jota-proxy's apply step for real: iptables-restore inside a private network namespace.

The host's tables are never touched: every command runs through
`nsenter --net=/run/netns/<ours>`, and the namespace is deleted at the end.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jota.client import Client
from node.proxy.apply import Iptables
from node.proxy.proxy import Proxy, ProxyConfig
from node.proxy.rules import render

P80 = [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080}]


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"jota-proxytest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


def ns_iptables(netns: str) -> Iptables:
    return Iptables(prefix=["nsenter", f"--net=/run/netns/{netns}"])


def service(name: str, ip: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": name},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "ports": P80, **spec}}


def slice_of(name: str, *ips: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "default", "name": f"{name}-x",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "p80", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip]} for ip in ips]}


def chains(save: str) -> set[str]:
    return {line[1:].split()[0] for line in save.splitlines() if line.startswith(":")}


def test_sync_then_resync_then_cleanup_in_a_namespace(netns: str) -> None:
    ipt = ns_iptables(netns)
    np = service("np", "10.96.0.11", type="NodePort",
                 ports=[{**P80[0], "nodePort": 30080}], sessionAffinity="ClientIP")
    services = [service("web", "10.96.0.10"), np, service("empty", "10.96.0.12")]
    slices = [slice_of("web", "10.244.1.2", "10.244.1.3", "10.244.2.4"),
              slice_of("np", "10.244.1.5")]
    rendered = render(services, slices, node_name="n1", cluster_cidr="10.244.0.0/16")
    assert ipt.sync(rendered) is True  # the first sync is full
    assert ipt.sync(rendered) is False  # then partial: here, nothing to write
    assert ipt.sync(rendered, full=True) is True

    save = ipt.save()
    names = chains(save)
    assert {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
            "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD"} <= names
    assert sum(n.startswith("KUBE-SVC-") for n in names) == 2
    assert sum(n.startswith("KUBE-SEP-") for n in names) == 4
    assert sum(n.startswith("KUBE-EXT-") for n in names) == 1
    assert "--probability 0.33333333349" in save  # iptables-save's rendering of 1/3
    assert '-A KUBE-SERVICES -d 10.96.0.12/32 -p tcp -m comment --comment ' \
        '"default/empty:p80 has no endpoints" -m tcp --dport 80 -j REJECT' in save
    # The jump rules exist exactly once after two syncs.
    assert save.count("-A PREROUTING -m comment --comment \"kubernetes service portals\" "
                      "-j KUBE-SERVICES") == 1
    assert save.count("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" "
                      "-j KUBE-POSTROUTING") == 1

    # An endpoint and a service go away: their chains are deleted, not left behind.
    assert not ipt.sync(render(services[:1], [slice_of("web", "10.244.1.2")], node_name="n1",
                    cluster_cidr="10.244.0.0/16"))
    save = ipt.save()
    names = chains(save)
    assert '"default/empty:p80 has no endpoints"' not in save
    assert sum(n.startswith("KUBE-SVC-") for n in names) == 1
    assert sum(n.startswith("KUBE-SEP-") for n in names) == 1
    assert not any(n.startswith("KUBE-EXT-") for n in names)

    ipt.cleanup()
    save = ipt.save()
    assert "KUBE-" not in save, save
    ipt.cleanup()  # idempotent: nothing left to remove is no error


def test_cleanup_leaves_other_rules_alone(netns: str) -> None:
    ipt = ns_iptables(netns)
    prefix = ["nsenter", f"--net=/run/netns/{netns}"]
    subprocess.run([*prefix, "iptables", "-t", "nat", "-N", "DOCKER"], check=True)
    subprocess.run([*prefix, "iptables", "-t", "nat", "-A", "PREROUTING", "-j", "DOCKER"],
                   check=True)
    ipt.sync(render([service("web", "10.96.0.10")], [slice_of("web", "10.244.1.2")],
                    node_name="n1"))
    ipt.cleanup()
    save = ipt.save()
    assert "KUBE-" not in save
    assert ":DOCKER - [0:0]" in save and "-A PREROUTING -j DOCKER" in save


async def test_proxy_follows_services_and_endpointslices(netns: str, client: Client,
                                                          namespace: str) -> None:
    """The whole daemon minus main(): informers on the real apiserver, rules in the netns."""
    ipt = ns_iptables(netns)
    proxy = Proxy(client, ProxyConfig(node_name="n1", cluster_cidr="10.244.0.0/16",
                                      min_sync_period=0.1), ipt)
    cluster_ip = f"10.96.{random.randint(1, 250)}.{random.randint(2, 250)}"
    svc = service("web", cluster_ip)  # no selector: the slice below is ours alone
    await client.create("services", {"apiVersion": "v1", "kind": "Service", **svc,
                                     "metadata": {"name": "web"}}, namespace)
    task = asyncio.create_task(proxy.run())
    try:
        comment = f'"{namespace}/web:p80 has no endpoints"'
        await wait_for(lambda: comment in ipt.save())
        eps = slice_of("web", "10.244.1.2", "10.244.1.3")
        await client.create("endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", **eps,
            "metadata": {"name": "web-x", "labels": eps["metadata"]["labels"]}}, namespace)
        await wait_for(lambda: "--to-destination 10.244.1.3:8080" in ipt.save())
        save = ipt.save()
        assert comment not in save
        assert f'"{namespace}/web:p80 cluster IP"' in save
        assert proxy.stats.syncs >= 2 and proxy.stats.failures == 0
    finally:
        task.cancel()
        await asyncio.wait([task])
        await proxy.cleanup()
    assert "KUBE-" not in ipt.save()


async def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)

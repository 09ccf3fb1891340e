"""The resolv.conf and /etc/hosts a pod sees, per dnsPolicy, on a real agent and Docker.

The agent here runs with `--cluster-dns 10.96.0.10` and a resolv.conf of its own
(`--resolv-conf`), so what dnsPolicy Default gives is known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jota.client.client import Client
from jota.local.processes import Daemon, start_node_agent
from tests.integration.conftest import CLI
from tests.integration.node_helpers import container, pod, wait_running

pytestmark = pytest.mark.integration

NODE_RESOLV = "nameserver 192.0.2.53\nsearch corp.test\noptions edns0\n"


@pytest.fixture
def dns_node(apiserver: Daemon, test_image: str, tmp_path: Path) -> Iterator[str]:
    name = f"dns-{uuid.uuid4().hex[:6]}"
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(NODE_RESOLV)
    agent = start_node_agent(apiserver.address, tmp_path, node_name=name,
                             root_dir=tmp_path / "root",
                             extra_args=["--cluster-dns", "10.96.0.10",
                                         "--resolv-conf", str(resolv)])
    yield name
    agent.stop(timeout=30)
    assert "Traceback" not in agent.log.read_text()


def sleeper(name: str, node: str, *containers: str, **spec: object) -> dict[str, object]:
    return pod(name, *(container(c, "sleep", "3600") for c in containers or ("main",)),
               node=node, **spec)


async def test_resolv_conf_follows_dns_policy(dns_node: str, client: Client, namespace: str,
                                              jota: CLI) -> None:
    await client.create("pods", sleeper("first", dns_node, "main", "side"), namespace)
    await client.create("pods", sleeper("host", dns_node, dnsPolicy="Default"), namespace)
    await client.create("pods", sleeper("own", dns_node, dnsPolicy="None", dnsConfig={
        "nameservers": ["192.0.2.1"], "searches": ["a.test"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}), namespace)
    for name in ("first", "host", "own"):
        await wait_running(client, name, namespace)

    def resolv(pod_name: str, c: str = "main") -> str:
        return jota.ok("exec", "-n", namespace, pod_name, "-c", c, "--",
                       "cat", "/etc/resolv.conf")

    cluster_first = (f"nameserver 10.96.0.10\nsearch {namespace}.svc.cluster.local "
                     f"svc.cluster.local cluster.local corp.test\noptions ndots:5\n")
    assert resolv("first") == cluster_first
    assert resolv("first", "side") == cluster_first  # every container of the pod
    assert resolv("host") == NODE_RESOLV
    assert resolv("own") == "nameserver 192.0.2.1\nsearch a.test\noptions ndots:2 edns0\n"


async def test_hostname_and_subdomain(dns_node: str, client: Client, namespace: str,
                                      jota: CLI) -> None:
    await client.create("pods", sleeper("web-0-pod", dns_node, hostname="web-0",
                                        subdomain="nginx"), namespace)
    await wait_running(client, "web-0-pod", namespace)
    fqdn = f"web-0.nginx.{namespace}.svc.cluster.local"
    out = jota.ok("exec", "-n", namespace, "web-0-pod", "--", "sh", "-c",
                  "hostname; hostname -f; cat /etc/hosts")
    lines = out.splitlines()
    assert lines[:2] == ["web-0", fqdn]
    ip = (await client.get("pods", "web-0-pod", namespace))["status"]["podIP"]
    assert f"{ip}\t{fqdn} web-0" in lines

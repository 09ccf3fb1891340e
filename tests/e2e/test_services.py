"""Services carrying real traffic across the two node VMs of `jota local up --nodes 2`.

A Deployment of web pods spread over both nodes, each answering its own hostname,
behind a LoadBalancer Service (so also a ClusterIP and a NodePort): traffic from a
pod, from this machine to every node's NodePort and to the LoadBalancer IP reaches
backends on both nodes; session affinity and the Local traffic policies keep traffic
where they say; a pod that turns not ready gets none; a deleted Service
leaves no rules behind; a NetworkPolicy denies a pod's traffic, then another allows
it from pods with the client's label. Everything lives in the namespace `e2e-services`, deleted
at the end; the cluster is the session's (conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jota.local.images import TEST_IMAGE
from node.netpol.rules import pod_chain, policy_chain
from node.proxy.rules import service_chain
from tests.e2e.conftest import LocalCluster

NS = "e2e-services"
W1, W2 = "jota-worker-1", "jota-worker-2"
REPLICAS = 4

# Each pod writes its hostname (= pod name) into the page it serves; the readiness
# probe reads a file a test can remove to make the pod not ready.
WEB_SCRIPT = ("mkdir -p /www && hostname > /www/index.html && touch /tmp/ready && "
              "exec httpd -f -p 8080 -h /www")


def web_deployment() -> dict[str, Any]:
    labels = {"app": "web"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {
                "topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": labels}}],
                "containers": [{
                    "name": "web", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                    "command": ["sh", "-c", WEB_SCRIPT],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]},
                                       # A slow probe on 2 busy cores is not a
                                       # sick pod: three misses in a row are.
                                       "periodSeconds": 1, "failureThreshold": 3,
                                       "timeoutSeconds": 5}}]}}}}


def service(name: str, type_: str = "ClusterIP") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"type": type_, "selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def client_pod(name: str, node: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "client", "image": TEST_IMAGE,
                                     "imagePullPolicy": "Never",
                                     "command": ["sleep", "3600"]}]}}


# ---- helpers ---------------------------------------------------------------------------------

def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def jota(lc: LocalCluster, *args: str, stdin: str = "") -> str:
    out = subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=lc.env,
                         input=stdin,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"jota {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def apply(lc: LocalCluster, *objs: dict[str, Any]) -> None:
    jota(lc, "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": list(objs)}))


def get(lc: LocalCluster, *args: str) -> Any:
    return json.loads(jota(lc, "get", "-n", NS, *args, "-o", "json"))


def web_pods(lc: LocalCluster) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in get(lc, "pods", "-l", "app=web")["items"]}


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def ready_endpoints(lc: LocalCluster, svc: str) -> set[str]:
    slices = get(lc, "endpointslices", "-l", f"kubernetes.io/service-name={svc}")["items"]
    return {a for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") is not False
            for a in e.get("addresses") or []}


def node_nat(node: str) -> str:
    """The node's nat table, as `iptables-save` prints it inside its namespace."""
    return subprocess.run(["nsenter", f"--net=/run/netns/jota0-{node.removeprefix('jota-')}",
                           "iptables-save", "-t", "nat"], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def from_host(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode()).strip()


def from_pod(lc: LocalCluster, pod: str, url: str, times: int) -> list[str]:
    """`times` requests from inside `pod`, each bounded by `timeout` (busybox's wget -T
    crashes); a failed one reads FAIL."""
    script = f"for i in $(seq {times}); do timeout 5 wget -q -O- {url} || echo FAIL; done"
    return jota(lc, "exec", "-n", NS, pod, "--", "sh", "-c", script).split()


def from_host_times(url: str, times: int) -> list[str]:
    return [from_host(url) for _ in range(times)]


# ---- the workload ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(local_cluster: LocalCluster) -> Iterator[dict[str, dict[str, Any]]]:
    """The web pods (name -> pod, spread over both nodes), the LoadBalancer Service
    `web` and a client pod on each node."""
    lc = local_cluster
    apply(lc, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    try:
        apply(lc, web_deployment(), service("web", "LoadBalancer"),
              client_pod("client-1", W1, {"role": "client"}), client_pod("client-2", W2))
        pods = wait_for(f"{REPLICAS} ready web pods", lambda: (
            p if len(p := web_pods(lc)) == REPLICAS and all(map(is_ready, p.values()))
            else None))
        assert {p["spec"]["nodeName"] for p in pods.values()} == {W1, W2}
        wait_for("the client pods", lambda: all(
            get(lc, "pod", c)["status"].get("phase") == "Running"
            for c in ("client-1", "client-2")))
        wait_for("every web pod in the endpoints of web", lambda: ready_endpoints(
            lc, "web") == {p["status"]["podIP"] for p in pods.values()})
        yield pods
    finally:
        jota(lc, "delete", "namespace", NS)


def svc_of(lc: LocalCluster, name: str) -> dict[str, Any]:
    return dict(get(lc, "service", name))


def by_node(pods: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name, pod in pods.items():
        out.setdefault(pod["spec"]["nodeName"], set()).add(name)
    return out


def test_a_pod_reaches_backends_on_both_nodes_through_the_cluster_ip(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    ip = svc_of(local_cluster, "web")["spec"]["clusterIP"]
    for client in ("client-1", "client-2"):
        answers = from_pod(local_cluster, client, f"http://{ip}/", 24)
        assert "FAIL" not in answers
        assert set(answers) <= set(web)
        for node, names in by_node(web).items():
            assert set(answers) & names, f"no answer from {node}'s pods via {client}"


def test_this_machine_reaches_the_node_ports_of_every_node(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    port = svc_of(local_cluster, "web")["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    for node in local_cluster.nodes:
        answers = from_host_times(f"http://{node.address}:{port}/", 24)
        assert set(answers) <= set(web)
        assert {web[a]["spec"]["nodeName"] for a in answers} == {W1, W2}, node.name


def test_this_machine_reaches_the_load_balancer_ip_and_the_cluster_ip(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    svc = svc_of(local_cluster, "web")
    (ingress,) = svc["status"]["loadBalancer"]["ingress"]
    assert ingress["ip"].startswith("172.30.255.")
    for ip in (ingress["ip"], svc["spec"]["clusterIP"]):
        answers = from_host_times(f"http://{ip}/", 24)
        assert {web[a]["spec"]["nodeName"] for a in answers} == {W1, W2}, ip


def test_a_pod_that_is_not_ready_leaves_the_endpoints_and_gets_no_traffic(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    lc = local_cluster
    sick = sorted(web)[0]
    ip = web[sick]["status"]["podIP"]
    jota(lc, "exec", "-n", NS, sick, "--", "rm", "/tmp/ready")
    try:
        wait_for(f"{sick} not ready", lambda: not is_ready(get(lc, "pod", sick)))
        wait_for(f"{ip} out of the ready endpoints", lambda: ip not in ready_endpoints(
            lc, "web"))
        wait_for(f"{ip} out of both nodes' rules", lambda: all(
            f"--to-destination {ip}:8080" not in node_nat(n) for n in (W1, W2)))
        cluster_ip = svc_of(lc, "web")["spec"]["clusterIP"]
        answers = from_pod(lc, "client-2", f"http://{cluster_ip}/", 24)
        answers += from_host_times(f"http://{cluster_ip}/", 12)
        assert "FAIL" not in answers
        assert sick not in answers
        assert set(answers) == set(web) - {sick}
    finally:
        jota(lc, "exec", "-n", NS, sick, "--", "touch", "/tmp/ready")
    wait_for(f"{ip} back in the endpoints", lambda: ip in ready_endpoints(lc, "web"))


def test_deleting_a_service_removes_its_rules_and_its_traffic(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    lc = local_cluster
    apply(lc, service("gone"))
    ip = wait_for("a cluster IP", lambda: svc_of(lc, "gone")["spec"].get("clusterIP"))
    chain = service_chain("KUBE-SVC-", f"{NS}/gone:http", "tcp")
    wait_for(f"{chain} on both nodes", lambda: all(
        f":{chain} " in node_nat(n) for n in (W1, W2)))
    assert from_host(f"http://{ip}/") in web

    jota(lc, "delete", "service", "gone", "-n", NS)
    wait_for(f"{chain} gone from both nodes", lambda: all(
        chain not in node_nat(n) and f"-d {ip}/32" not in node_nat(n) for n in (W1, W2)))
    with pytest.raises(OSError):
        from_host(f"http://{ip}/", timeout=3)


def wait_service_rules(lc: LocalCluster, name: str, prefix: str = "KUBE-SVC-"
                       ) -> dict[str, Any]:
    """The Service, once both nodes have its `prefix` chain."""
    chain = service_chain(prefix, f"{NS}/{name}:http", "tcp")
    wait_for(f"{chain} on both nodes", lambda: all(
        f":{chain} " in node_nat(n) for n in (W1, W2)))
    return svc_of(lc, name)


def test_session_affinity_client_ip_keeps_a_client_on_one_backend(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    lc = local_cluster
    sticky = service("sticky")
    sticky["spec"]["sessionAffinity"] = "ClientIP"
    apply(lc, sticky)
    try:
        ip = wait_service_rules(lc, "sticky")["spec"]["clusterIP"]
        for answers in (from_pod(lc, "client-1", f"http://{ip}/", 12),
                        from_host_times(f"http://{ip}/", 12)):
            assert len(set(answers)) == 1 and answers[0] in web, answers
    finally:
        jota(lc, "delete", "service", "sticky", "-n", NS)


def test_traffic_policies_local_keep_traffic_on_the_receiving_node(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    """externalTrafficPolicy Local: a node port answers only from that node's pods;
    internalTrafficPolicy Local: a pod's cluster IP traffic stays on its node."""
    lc = local_cluster
    local = service("local", "NodePort")
    local["spec"].update(externalTrafficPolicy="Local", internalTrafficPolicy="Local")
    apply(lc, local)
    pods_on = by_node(web)
    try:
        svc = wait_service_rules(lc, "local", "KUBE-SVL-")
        port = svc["spec"]["ports"][0]["nodePort"]
        for node in local_cluster.nodes:
            answers = from_host_times(f"http://{node.address}:{port}/", 12)
            assert set(answers) <= pods_on[node.name], node.name
        ip = svc["spec"]["clusterIP"]
        for client, node_name in (("client-1", W1), ("client-2", W2)):
            answers = from_pod(lc, client, f"http://{ip}/", 12)
            assert set(answers) <= pods_on[node_name], client
    finally:
        jota(lc, "delete", "service", "local", "-n", NS)


# ---- NetworkPolicy ---------------------------------------------------------------------------

def guarded_pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "guarded", "namespace": NS, "labels": {"app": "guarded"}},
            "spec": {"nodeName": W2, "terminationGracePeriodSeconds": 0, "containers": [{
                "name": "web", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                "command": ["sh", "-c", WEB_SCRIPT]}]}}


def network_policy(name: str, ingress: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": "guarded"}},
                     "policyTypes": ["Ingress"], "ingress": ingress}}


def node_filter(node: str) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/jota0-{node.removeprefix('jota-')}",
                           "iptables-save", "-t", "filter"], capture_output=True, text=True,
                          check=True, timeout=30).stdout


def test_a_network_policy_blocks_and_then_allows_by_the_clients_label(
        local_cluster: LocalCluster, web: dict[str, dict[str, Any]]) -> None:
    """`guarded` runs on worker-2; client-1 (role=client) calls it from worker-1,
    client-2 (no label) from worker-2 itself."""
    lc = local_cluster
    apply(lc, guarded_pod())
    ip = wait_for("guarded running", lambda: get(lc, "pod", "guarded")["status"].get("podIP"))
    url = f"http://{ip}:8080/"
    for client in ("client-1", "client-2"):
        assert from_pod(lc, client, url, 1) == ["guarded"]
    guarded_chain = pod_chain(f"{NS}/guarded", "Ingress")
    try:
        apply(lc, network_policy("deny-all", []))
        wait_for("the deny rules on worker-2", lambda: f":{guarded_chain} " in node_filter(W2))
        assert from_pod(lc, "client-1", url, 3) == ["FAIL"] * 3
        assert from_pod(lc, "client-2", url, 3) == ["FAIL"] * 3

        apply(lc, network_policy("allow-clients", [{
            "from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
            "ports": [{"port": 8080}]}]))
        allow_chain = policy_chain(f"{NS}/allow-clients", "Ingress")
        wait_for("the allow rules on worker-2", lambda: f":{allow_chain} " in node_filter(W2))
        assert from_pod(lc, "client-1", url, 3) == ["guarded"] * 3
        assert from_pod(lc, "client-2", url, 3) == ["FAIL"] * 3
        assert guarded_chain not in node_filter(W1)  # guarded where the pod lives
    finally:
        jota(lc, "delete", "networkpolicy", "deny-all", "allow-clients", "-n", NS,
             "--ignore-not-found")
    wait_for("the policy rules gone from worker-2", lambda: "KUBE-NWPLCY-" not in node_filter(W2))
    assert from_pod(lc, "client-2", url, 1) == ["guarded"]

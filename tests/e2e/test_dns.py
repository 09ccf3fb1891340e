"""Cluster DNS from inside pods of `jota local up --nodes 2`.

jota-dns runs on this machine, behind kube-system/kube-dns (10.96.0.10), which each
node's jota-proxy DNATs; the agents write resolv.conf with that IP, the search path
and ndots:5. Pods look names up with busybox's `nslookup` (its own resolver: it asks
exactly the name given) and `wget` (the C library's resolver, so the search path
applies). Every name asked is under cluster.local, so nothing is forwarded upstream
off this machine. Everything lives in the namespace `e2e-dns`, deleted at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from jota.local.images import TEST_IMAGE
from tests.e2e.conftest import LocalCluster
from tests.e2e.test_services import (
    WEB_SCRIPT,
    apply,
    by_node,
    client_pod,
    is_ready,
    wait_for,
)
from tests.e2e.test_services import jota as jota_ok

NS = "e2e-dns"
W1, W2 = "jota-worker-1", "jota-worker-2"
ZONE = "cluster.local"


def get(lc: LocalCluster, *args: str) -> Any:
    return json.loads(jota_ok(lc, "get", "-n", NS, *args, "-o", "json"))


def exec_in(lc: LocalCluster, pod: str, script: str) -> subprocess.CompletedProcess[str]:
    return lc.jota("exec", "-n", NS, pod, "--", "sh", "-c", script)


def nslookup(lc: LocalCluster, pod: str, name: str) -> tuple[int, list[str]]:
    """(exit code, the addresses in the answer); busybox prints the server's own
    address first, so only those after the `Name:` line count."""
    out = exec_in(lc, pod, f"nslookup -type=a {name}")
    text = out.stdout.split("Name:", 1)[1] if "Name:" in out.stdout else ""
    return out.returncode, sorted(re.findall(r"Address: ([0-9.]+)", text))


def deployment() -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": 4, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": labels}}],
                    "containers": [{"name": "web", "image": TEST_IMAGE,
                                    "imagePullPolicy": "Never",
                                    "command": ["sh", "-c", WEB_SCRIPT],
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                    # Ready when httpd answers, not when a file exists:
                                    # an exec probe is a `docker exec` a second per pod,
                                    # which times out on busy cores, and three misses
                                    # empty the Service (its REJECT refuses connections).
                                    "readinessProbe": {
                                        "httpGet": {"path": "/", "port": "http"},
                                        "periodSeconds": 1}}]}}}}


def web_service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
            "spec": {"selector": {"app": "web"},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def stateful_set() -> list[dict[str, Any]]:
    labels = {"app": "db"}
    return [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": NS},
             "spec": {"clusterIP": "None", "selector": labels,
                      "ports": [{"name": "tcp", "port": 7000}]}},
            {"apiVersion": "apps/v1", "kind": "StatefulSet",
             "metadata": {"name": "db", "namespace": NS},
             "spec": {"serviceName": "db", "replicas": 2, "podManagementPolicy": "Parallel",
                      "selector": {"matchLabels": labels}, "template": {
                          "metadata": {"labels": labels},
                          "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                              "name": "db", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                              "command": ["sleep", "3600"]}]}}}}]


@pytest.fixture(scope="module")
def clients(local_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """A client pod on each node, started before any Service of the namespace exists."""
    lc = local_cluster
    apply(lc, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    try:
        pods = [client_pod("client-1", W1), client_pod("client-2", W2)]
        for p in pods:
            p["metadata"]["namespace"] = NS
        apply(lc, *pods)
        wait_for("the client pods", lambda: all(
            get(lc, "pod", c)["status"].get("phase") == "Running"
            for c in ("client-1", "client-2")))
        yield lc
    finally:
        jota_ok(lc, "delete", "namespace", NS)


def test_pods_get_the_cluster_dns(clients: LocalCluster) -> None:
    out = exec_in(clients, "client-1", "cat /etc/resolv.conf")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "nameserver 10.96.0.10", f"search {NS}.svc.{ZONE} svc.{ZONE} {ZONE}",
        "options ndots:5"]


def test_a_service_made_after_the_client_resolves_and_spreads_over_both_nodes(
        clients: LocalCluster) -> None:
    lc = clients
    name = f"web.{NS}.svc.{ZONE}"
    code, _ = nslookup(lc, "client-1", name + ".")
    assert code != 0  # not there yet
    apply(lc, web_service(), deployment())
    ip = get(lc, "service", "web")["spec"]["clusterIP"]
    for client in ("client-1", "client-2"):
        def resolves(c: str = client) -> bool:
            return nslookup(lc, c, name + ".") == (0, [ip])

        assert wait_for(f"{name} from {client}", resolves), client
    pods = wait_for("4 ready web pods", lambda: (
        p if len(p := {q["metadata"]["name"]: q for q in
                       get(lc, "pods", "-l", "app=web")["items"]}) == 4
        and all(map(is_ready, p.values())) else None))
    wait_for("every web pod in the endpoints", lambda: _endpoints(lc, "web") == {
        p["status"]["podIP"] for p in pods.values()})
    # by every name the search path completes: svc, svc.ns, svc.ns.svc.cluster.local
    for url in ("http://web/", f"http://web.{NS}/", f"http://{name}/"):
        script = f"for i in $(seq 12); do timeout 5 wget -q -O- {url} || echo FAIL; done"
        out = exec_in(lc, "client-2", script)
        answers = out.stdout.split()
        assert "FAIL" not in answers and answers, (url, out.stdout, out.stderr)
        assert set(answers) <= set(pods)
    script = f"for i in $(seq 24); do timeout 5 wget -q -O- http://{name}/ || echo FAIL; done"
    answers = exec_in(lc, "client-1", script).stdout.split()
    for node, names in by_node(pods).items():
        assert set(answers) & names, f"no answer from {node}'s pods by name"


def test_headless_service_and_stateful_pod_names(clients: LocalCluster) -> None:
    lc = clients
    apply(lc, *stateful_set())
    pods = wait_for("2 ready db pods", lambda: (
        p if len(p := {q["metadata"]["name"]: q for q in
                       get(lc, "pods", "-l", "app=db")["items"]}) == 2
        and all(map(is_ready, p.values())) else None))
    ips = {name: p["status"]["podIP"] for name, p in pods.items()}
    assert wait_for("db's endpoints", lambda: (
        set(ips.values()) <= _endpoints(lc, "db")))
    assert wait_for("db resolving to every pod", lambda: (
        nslookup(lc, "client-1", f"db.{NS}.svc.{ZONE}.") == (0, sorted(ips.values()))))
    for pod, ip in ips.items():
        assert nslookup(lc, "client-2", f"{pod}.db.{NS}.svc.{ZONE}.") == (0, [ip])


def _endpoints(lc: LocalCluster, svc: str) -> set[str]:
    slices = get(lc, "endpointslices", "-l", f"kubernetes.io/service-name={svc}")["items"]
    return {a for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") is not False
            for a in e.get("addresses") or []}


def test_an_unknown_name_is_nxdomain(clients: LocalCluster) -> None:
    out = exec_in(clients, "client-2", f"nslookup nope.{NS}.svc.{ZONE}.")
    assert out.returncode != 0
    assert "NXDOMAIN" in out.stdout + out.stderr

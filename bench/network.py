"""The network benchmark: HTTP through a ClusterIP and through the Ingress, against
straight to the pod IP, on `jota local up --nodes 2`, in the same run.

One web pod (busybox httpd, a 13-byte page) on jota-worker-1, behind a ClusterIP
Service and an Ingress. From this machine, wrk (C, so the client is not what is
measured) asks, round by round so a burst of load elsewhere lands on each alike:

- pod IP: straight to the pod, routed over the host bridge to the node (the floor);
- ClusterIP: this machine routes the service CIDR to jota-worker-1, whose jota-proxy
  DNATs it (iptables, as kube-proxy) to the same pod;
- Ingress: jota-ingress's nginx on this machine (172.31.0.1:80, Host header), which
  proxies to the pod IP.

busybox httpd closes every connection, so each request is a new TCP connection
through the path (and, for the Ingress, a new upstream connection): the figures are
connection-setup heavy, the worst case for DNAT and proxying. A cluster already up
(`jota local up --nodes 2`) is used as it is; else one is made and removed after.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench import Section, Table
from bench.stats import fmt_ms, fmt_rate, ratio
from jota.api import errors
from jota.client.client import Client
from jota.local import cluster
from jota.local.controlplane import admin_credentials, ingress_publish_address
from jota.local.images import TEST_IMAGE
from jota.local.state import read_state

NS = "bench-network"
HOST = "bench.example.test"
NODE = "jota-worker-1"
CONNECTIONS = 16
THREADS = 2
WAIT = 240.0
PAGE = "hello, bench"

Obj = dict[str, Any]


def objects() -> list[tuple[str, Obj]]:
    labels = {"app": "web"}
    return [
        ("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        ("deployments", {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": NODE},
                         "terminationGracePeriodSeconds": 0,
                         "containers": [{
                             "name": "httpd", "image": TEST_IMAGE, "imagePullPolicy": "Never",
                             "command": ["sh", "-c", f"mkdir -p /www && echo '{PAGE}' > "
                                         "/www/index.html && exec httpd -f -p 8080 -h /www"],
                             "ports": [{"name": "http", "containerPort": 8080}],
                             "readinessProbe": {"httpGet": {"path": "/", "port": "http"},
                                                "periodSeconds": 1}}]}}}}),
        ("services", {"apiVersion": "v1", "kind": "Service",
                      "metadata": {"name": "web", "namespace": NS},
                      "spec": {"selector": labels,
                               "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
        ("ingresses", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                       "metadata": {"name": "web", "namespace": NS},
                       "spec": {"ingressClassName": "jota", "rules": [{
                           "host": HOST, "http": {"paths": [{
                               "path": "/", "pathType": "Prefix", "backend": {
                                   "service": {"name": "web",
                                               "port": {"number": 80}}}}]}}]}}),
    ]


@dataclass(frozen=True)
class Wrk:
    requests_per_s: float
    p50: float  # seconds
    p99: float
    errors: int


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> Wrk:
    """The figures of `wrk --latency`'s report."""
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (rate and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{out}")
    errs = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Wrk(float(rate.group(1)), _seconds(p50.group(1)), _seconds(p99.group(1)),
               errs + (int(non2xx.group(1)) if non2xx else 0))


def wrk(url: str, seconds: int, host: str = "") -> Wrk:
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
           *(["-H", f"Host: {host}"] if host else []), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         check=True)
    return parse_wrk(out.stdout)


def _answers(url: str, host: str = "") -> bool:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return bool(resp.read().decode().strip() == PAGE)
    except (OSError, urllib.error.URLError):
        return False


async def _wait(what: str, check: Any) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if value := await check():
            return value
        await asyncio.sleep(0.5)
    raise TimeoutError(f"bench network: {what} not within {WAIT:.0f}s")


async def _deploy(client: Client) -> tuple[str, str]:
    """(pod IP, ClusterIP) once the pod is ready and all three paths answer."""
    for resource, obj in objects():
        ns = "" if resource == "namespaces" else NS
        with contextlib.suppress(errors.AlreadyExists):
            await client.create(resource, obj, ns)

    async def ready_pod() -> str:
        slices = await client.list("endpointslices", NS,
                                   label_selector="kubernetes.io/service-name=web")
        return next((str(a) for s in slices["items"] for e in s.get("endpoints") or []
                     if (e.get("conditions") or {}).get("ready") for a in e["addresses"]), "")

    pod_ip = await _wait("a ready web pod", ready_pod)
    svc = await client.get("services", "web", NS)
    cluster_ip = str(svc["spec"]["clusterIP"])
    for url, host in ((f"http://{pod_ip}:8080/", ""), (f"http://{cluster_ip}/", ""),
                      (f"http://{ingress_publish_address(_layout())}/", HOST)):
        async def answers(url: str = url, host: str = host) -> bool:
            return await asyncio.to_thread(_answers, url, host)
        await _wait(f"{url} ({host or 'no Host'})", answers)
    return pod_ip, cluster_ip


def _layout() -> Any:
    return read_state().layout()


def _cluster_up() -> bool:
    state = read_state()
    return bool(state.nodes) and all(c.alive for c in state.components)


async def run(quick: bool) -> Section:
    if shutil.which("wrk") is None:
        raise RuntimeError("bench network needs wrk (hack/install-deps.sh installs it)")
    made = False
    if not _cluster_up():
        print("bench network: starting `jota local up --nodes 2`", file=sys.stderr)
        await asyncio.to_thread(cluster.up, lambda m: print(f"  {m}", file=sys.stderr), 2)
        made = True
    try:
        state = read_state()
        if state.component("ingress") is None:
            raise RuntimeError("the local cluster runs no jota-ingress (needs root and nginx)")
        api = next(c.address for c in state.components if c.name == "apiserver")
        client = Client(api, credentials=admin_credentials().channel())
        try:
            pod_ip, cluster_ip = await _deploy(client)
            publish = ingress_publish_address(state.layout())
            cases = {"pod": (f"http://{pod_ip}:8080/", ""),
                     "clusterip": (f"http://{cluster_ip}/", ""),
                     "ingress": (f"http://{publish}/", HOST)}
            rounds, seconds = (1, 3) if quick else (3, 10)
            results: dict[str, list[Wrk]] = {k: [] for k in cases}
            for _ in range(rounds):
                for key, (url, host) in cases.items():
                    results[key].append(await asyncio.to_thread(wrk, url, seconds, host))
        finally:
            with contextlib.suppress(errors.APIError):
                await client.delete("namespaces", NS)
            await client.close()
    finally:
        if made:
            await asyncio.to_thread(cluster.down, lambda _m: None)
    return _section(results, rounds, seconds, publish)


def _section(results: dict[str, list[Wrk]], rounds: int, seconds: int,
             publish: str) -> Section:
    def med(key: str, attr: str) -> float:
        return float(statistics.median(getattr(w, attr) for w in results[key]))

    base = med("pod", "requests_per_s")
    table = Table(f"HTTP GET of a 13-byte page from this machine, wrk -t{THREADS} "
                  f"-c{CONNECTIONS}, {rounds} round(s) of {seconds} s per path",
                  ["Path", "Requests/s", "p50 ms", "p99 ms", "Errors", "vs. pod IP"])
    rows = [("pod", "Pod IP (baseline: no Service in the way)"),
            ("clusterip", f"ClusterIP (jota-proxy's DNAT on {NODE})"),
            ("ingress", f"Ingress (jota-ingress's nginx at {publish}:80)")]
    for key, what in rows:
        table.rows.append([what, fmt_rate(med(key, "requests_per_s")),
                           fmt_ms(med(key, "p50")), fmt_ms(med(key, "p99")),
                           str(sum(w.errors for w in results[key])),
                           f"{ratio(med(key, 'requests_per_s'), base):.2f}x"])
    table.notes.append(
        "Medians over the rounds; the paths take turns each round. The pod is busybox "
        "httpd, which closes each connection: every request is a TCP handshake through "
        "the path. Client, nginx, the node's dockerd and the pod share the machine's cores.")
    intro = __doc__.split("\n\n")[0] if __doc__ else ""
    return Section("Service and Ingress data path (HTTP)", intro, [table])


__all__ = ["parse_wrk", "run"]

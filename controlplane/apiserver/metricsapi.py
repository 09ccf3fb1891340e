"""metrics.k8s.io/v1beta1 served by the apiserver itself, as metrics-server would be.

A scraper task fetches every Ready node's `/metrics/resource` (InternalIP, the
agents' --metrics-port, given here as --node-metrics-port) every
--metric-resolution seconds and keeps the last two scrapes per node in memory;
Get and List of `nodemetrics` and `podmetrics` are answered from them through the
generic Resources service (read-only kinds: the verbs are get and list), with
metrics-server's NotFound messages. Nothing is written to etcd: usage is a
figure of the moment, as in Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import urllib.request

from controlplane.apiserver import resourcemetrics as rm
from controlplane.apiserver.rest import API, make_predicate
from jota.api import errors
from jota.api.meta import Obj, labels_of
from jota.api.registry import ResourceType

logger = logging.getLogger(__name__)

DEFAULT_RESOLUTION = 15.0
DEFAULT_NODE_METRICS_PORT = 10255
SCRAPE_TIMEOUT = 10.0


def internal_ip(node: Obj) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if isinstance(a, dict) and a.get("type") == "InternalIP":
            return str(a.get("address") or "")
    return ""


def is_ready(node: Obj) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _fetch(url: str, tls: ssl.SSLContext | None = None) -> str:
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT, context=tls) as resp:
        return str(resp.read().decode())


class MetricsAPI:
    """The in-memory NodeMetrics/PodMetrics and the task that keeps them fresh."""

    def __init__(self, api: API, *, resolution: float = DEFAULT_RESOLUTION,
                 port: int = DEFAULT_NODE_METRICS_PORT, tls: ssl.SSLContext | None = None
                 ) -> None:
        self.api = api
        self.tls = tls  # agents serve HTTPS and want the apiserver's client certificate
        self.resolution = resolution
        self.port = port
        self.scrapes: dict[str, tuple[rm.Scrape | None, rm.Scrape]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.resolution > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics scraper")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.scrape_once()
            except Exception:
                logger.exception("metrics scrape failed")
            await asyncio.sleep(self.resolution)

    def _objects(self, resource: str, namespace: str = "") -> list[Obj]:
        items, _ = self.api.caches[resource].list(namespace, lambda _o: True)
        return [c.obj for c in items]

    async def scrape_once(self) -> None:
        nodes = {str(n["metadata"]["name"]): n for n in self._objects("nodes")
                 if is_ready(n) and internal_ip(n)}
        for gone in set(self.scrapes) - set(nodes):
            del self.scrapes[gone]

        async def one(name: str, node: Obj) -> None:
            ip = internal_ip(node)
            host = f"[{ip}]" if ":" in ip else ip
            scheme = "https" if self.tls is not None else "http"
            url = f"{scheme}://{host}:{self.port}/metrics/resource"
            try:
                text = await asyncio.to_thread(_fetch, url, self.tls)
                scrape = rm.parse(text, time.time())
            except Exception as e:
                logger.debug("unable to scrape node", extra={"node": name, "error": str(e)})
                return
            prev = self.scrapes.get(name)
            self.scrapes[name] = (prev[1] if prev else None, scrape)

        await asyncio.gather(*(one(n, node) for n, node in nodes.items()))

    # ---- reads -----------------------------------------------------------------------

    def node_items(self) -> list[Obj]:
        now = time.time()
        nodes = {str(n["metadata"]["name"]): n for n in self._objects("nodes")}
        out = []
        for name, (prev, cur) in sorted(self.scrapes.items()):
            usage = rm.node_usage(prev, cur)
            if usage is not None and name in nodes:
                out.append(rm.node_metrics_object(name, labels_of(nodes[name]), usage, now))
        return out

    def pod_items(self, namespace: str) -> list[Obj]:
        now = time.time()
        pods = {(str(p["metadata"].get("namespace")), str(p["metadata"]["name"])): p
                for p in self._objects("pods", namespace)}
        out = []
        for _node, (prev, cur) in sorted(self.scrapes.items()):
            for (ns, name), containers in rm.pod_usage(prev, cur).items():
                pod = pods.get((ns, name))
                if pod is None:
                    continue
                out.append(rm.pod_metrics_object(ns, name, labels_of(pod), containers, now))
        return sorted(out, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        if rt.plural == "nodemetrics":
            for item in self.node_items():
                if item["metadata"]["name"] == name:
                    return item
            raise errors.NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found')
        for item in self.pod_items(namespace):
            if item["metadata"]["name"] == name:
                return item
        raise errors.NotFound(f'podmetrics.metrics.k8s.io "{namespace}/{name}" not found')

    async def list(self, rt: ResourceType, namespace: str, *, label_selector: str = "",
                   field_selector: str = "") -> bytes:
        predicate = make_predicate(rt, label_selector, field_selector)
        items = self.node_items() if rt.plural == "nodemetrics" else self.pod_items(namespace)
        doc = {"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": {},
               "items": [o for o in items if predicate(o)]}
        return json.dumps(doc, separators=(",", ":")).encode()

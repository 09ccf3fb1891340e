"""Node IPAM: every Node gets a pod subnet (spec.podCIDR) out of the cluster CIDR.

As kube-controller-manager's range allocator: the lowest free /24 (by default)
of `--cluster-cidr` goes to a node that has none; a node that brings its own
(jota-node --pod-cidr) keeps it and that subnet counts as taken. A CIDR is
never changed once set (the field is immutable in Kubernetes).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from jota.api import errors
from jota.api.meta import Obj, name_of
from jota.client import Client, RateLimitingQueue, SharedInformerFactory, run_worker

logger = logging.getLogger(__name__)

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24


class CIDRsExhausted(Exception):
    pass


def pod_cidr_of(node: Obj) -> str:
    return str((node.get("spec") or {}).get("podCIDR") or "")


def next_free(cluster_cidr: str, node_mask: int, taken: Iterable[str]) -> str:
    """The lowest subnet of `cluster_cidr` with prefix `node_mask` overlapping no taken one."""
    cluster = ipaddress.ip_network(cluster_cidr)
    used = []
    for cidr in taken:
        try:
            used.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    for subnet in cluster.subnets(new_prefix=node_mask):
        if not any(subnet.overlaps(u) for u in used):
            return str(subnet)
    raise CIDRsExhausted(f"no free /{node_mask} left in {cluster_cidr}")


class NodeIPAMController:
    name = "nodeipam"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_mask: int = DEFAULT_NODE_MASK) -> None:
        self.client = client
        self.cluster_cidr = cluster_cidr
        self.node_mask = node_mask
        self.informer = factory.informer_for("nodes")
        self.queue = RateLimitingQueue("nodeipam")
        self.informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new))

    def _enqueue(self, node: Obj) -> None:
        if not pod_cidr_of(node):
            self.queue.add(name_of(node))

    async def run(self, workers: int = 1) -> None:
        # One worker: allocations must see each other.
        try:
            await run_worker(self.queue, self.sync)
        finally:
            self.queue.shut_down()

    async def sync(self, name: str) -> None:
        try:
            node = await self.client.get("nodes", name)
        except errors.NotFound:
            return
        if pod_cidr_of(node):
            return
        taken = [pod_cidr_of(n) for n in self.informer.store.list() if pod_cidr_of(n)]
        cidr = next_free(self.cluster_cidr, self.node_mask, taken)
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                 "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}}
        await self.client.patch("nodes", name, patch, patch_type="merge")
        logger.info("allocated pod CIDR", extra={"node": name, "cidr": cidr})

"""Node IPAM: every Node gets a pod subnet (spec.podCIDR) out of the cluster CIDR.

As kube-controller-manager's range allocator: the lowest free /24 (by default)
of `--cluster-cidr` goes to a node that has none; a node that brings its own
(jota-node --pod-cidr) keeps it and that subnet counts as taken. A CIDR is
never changed once set (the field is immutable in Kubernetes).

When the cluster CIDR is full, the Node gets kube's `CIDRNotAvailable` event and the
log one warning line (not a traceback per retry); the node is retried with backoff,
and at once whenever a Node goes away (its subnet may be free again).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from jota.api import errors
from jota.api.meta import Obj, name_of
from jota.client import (
    NORMAL,
    Client,
    EventRecorder,
    RateLimitingQueue,
    RetryLater,
    SharedInformerFactory,
    run_worker,
)

logger = logging.getLogger(__name__)

DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"
DEFAULT_NODE_MASK = 24
CIDR_NOT_AVAILABLE = "CIDRNotAvailable"


class CIDRsExhausted(Exception):
    pass


def parse_cluster_cidr(text: str) -> str:
    """--cluster-cidr: one IPv4 CIDR, host bits allowed and dropped (as Go's ParseCIDR)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None
    if net.version != 4:
        raise ValueError(f"{text} is not an IPv4 CIDR: pod networks are IPv4 only")
    return str(net)


def check_node_mask(cluster_cidr: str, node_mask: int) -> None:
    """--node-cidr-mask-size against --cluster-cidr: each node's subnet must fit in it."""
    prefix = ipaddress.ip_network(cluster_cidr).prefixlen
    if not 0 < node_mask <= 32:
        raise ValueError(f"--node-cidr-mask-size: {node_mask} is not an IPv4 prefix length "
                         f"(1-32)")
    if node_mask < prefix:
        raise ValueError(f"--node-cidr-mask-size: {node_mask} is shorter than the prefix of "
                         f"--cluster-cidr {cluster_cidr}: the mask size of the cluster CIDR "
                         f"must be less than or equal to --node-cidr-mask-size")


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
        self.recorder = EventRecorder(client, "cidrAllocator")
        self.starved: set[str] = set()  # nodes already warned about, waiting for a subnet
        self.informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
            on_delete=lambda _obj: self._retry_starved())

    def _enqueue(self, node: Obj) -> None:
        if not pod_cidr_of(node):
            self.queue.add(name_of(node))

    def _retry_starved(self) -> None:
        """A deleted Node may have freed a subnet: waiting nodes try again now."""
        for name in sorted(self.starved):
            self.queue.add(name)

    async def run(self, workers: int = 1) -> None:
        # One worker: allocations must see each other.
        try:
            await run_worker(self.queue, self.sync)
        finally:
            self.queue.shut_down()
            await self.recorder.shutdown()

    async def sync(self, name: str) -> None:
        try:
            node = await self.client.get("nodes", name)
        except errors.NotFound:
            self.starved.discard(name)
            return
        if pod_cidr_of(node):
            self.starved.discard(name)
            return
        taken = [pod_cidr_of(n) for n in self.informer.store.list() if pod_cidr_of(n)]
        try:
            cidr = next_free(self.cluster_cidr, self.node_mask, taken)
        except CIDRsExhausted as e:
            self._not_available(node, e)
            raise RetryLater(str(e)) from None
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                 "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}}
        await self.client.patch("nodes", name, patch, patch_type="merge")
        self.starved.discard(name)
        logger.info("allocated pod CIDR", extra={"node": name, "cidr": cidr})

    def _not_available(self, node: Obj, e: CIDRsExhausted) -> None:
        """kube's RecordNodeStatusChange(CIDRNotAvailable) on every attempt (the recorder
        counts repeats); one warning line per node, not one per retry."""
        name = name_of(node)
        self.recorder.event(node, NORMAL, CIDR_NOT_AVAILABLE,
                            f"Node {name} status is now: {CIDR_NOT_AVAILABLE}")
        if name not in self.starved:
            self.starved.add(name)
            logger.warning("no pod CIDR available for node; retrying later: %s", e,
                           extra={"node": name})

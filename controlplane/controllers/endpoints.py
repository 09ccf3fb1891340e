"""The Endpoints controller: a Service's pods as `Endpoints` subsets.

As Kubernetes' `pkg/controller/endpoint`: for each Service with a selector, the
pods it selects that have an IP, are not finished and not being deleted, become
addresses (Ready) or notReadyAddresses (not Ready, or everything when
`publishNotReadyAddresses`), with each service port's targetPort resolved per pod
(a named targetPort is looked up in that pod's containers). Addresses with the same
ports share a subset. The pure `desired_subsets` decides; `EndpointsController`
writes only when the result differs from what is stored.

The helpers here (`selected_pods`, `resolve_target_port`, `is_pod_ready`) are
shared with the EndpointSlice controller.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from jota.api import errors
from jota.api.meta import Obj, labels_of, name_of, namespace_of
from jota.api.selectors import LabelSelector, from_label_selector_object
from jota.client import (
    NAMESPACE_INDEX,
    Client,
    IndexFunc,
    RateLimitingQueue,
    SharedInformerFactory,
    index_by_namespace,
    object_of,
    run_workers,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_ENDPOINTS = 1000


# ---- pure: facts about services and pods -----------------------------------------------------


def service_selector(svc: Obj) -> LabelSelector | None:
    """None for a Service without a selector: its Endpoints are the user's to write."""
    sel = (svc.get("spec") or {}).get("selector")
    if not sel:
        return None
    return from_label_selector_object({"matchLabels": sel})


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def is_pod_ready(pod: Obj) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if isinstance(p, dict)]
    return str(status.get("podIP") or (ips[0] if ips and ips[0] else ""))


def should_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: has an IP, not finished, not going away (unless wanted)."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if not pod_ip(pod):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def selected_pods(svc: Obj, pods: list[Obj], include_terminating: bool) -> list[Obj]:
    selector = service_selector(svc)
    if selector is None:
        return []
    return [p for p in pods if namespace_of(p) == namespace_of(svc)
            and selector.matches(labels_of(p)) and should_be_in_endpoints(
                p, include_terminating)]


def resolve_target_port(svc_port: Obj, pod: Obj) -> int | None:
    """podutil.FindPort: a number as is; a name from the pod's container ports of the
    same protocol; None when this pod has no such port."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = svc_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in (c or {}).get("ports") or []:
            if isinstance(p, dict) and p.get("name") == target and \
                    (p.get("protocol") or "TCP") == protocol:
                port = p.get("containerPort")
                return port if isinstance(port, int) else None
    return None


def target_ref(pod: Obj) -> Obj:
    md = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": md.get("namespace", ""), "name": md.get("name", ""),
            "uid": md.get("uid", "")}


def hostname_of(pod: Obj, svc: Obj) -> str:
    """A pod's DNS name under a headless Service: spec.hostname if its subdomain is it."""
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == name_of(svc):
        return str(spec["hostname"])
    return ""


def endpoint_ports(svc: Obj, pod: Obj) -> list[Obj]:
    ports: list[Obj] = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        if not isinstance(sp, dict):
            continue
        number = resolve_target_port(sp, pod)
        if number is None:
            continue
        port: Obj = {"port": number, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("name"):
            port["name"] = sp["name"]
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        ports.append(port)
    return ports


def derived_labels(svc: Obj) -> dict[str, str]:
    labels = dict((svc.get("metadata") or {}).get("labels") or {})
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


# ---- pure: the Endpoints object ----------------------------------------------------------------


def _port_key(ports: list[Obj]) -> tuple[Any, ...]:
    return tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))


def desired_subsets(svc: Obj, pods: list[Obj]) -> list[Obj]:
    """The subsets of a Service's Endpoints (already repacked: one per port set)."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    has_ports = bool(spec.get("ports"))
    groups: dict[tuple[Any, ...], Obj] = {}
    for pod in selected_pods(svc, pods, include_terminating=False):
        ports = endpoint_ports(svc, pod)
        if has_ports and not ports:
            continue  # no port of this Service resolves on this pod
        if not has_ports and not is_headless(svc):
            continue
        address: Obj = {"ip": pod_ip(pod), "targetRef": target_ref(pod)}
        if hostname_of(pod, svc):
            address["hostname"] = hostname_of(pod, svc)
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            address["nodeName"] = node
        group = groups.setdefault(_port_key(ports), {"ports": sorted(
            ports, key=lambda p: (p.get("name", ""), p["port"]))})
        field = "addresses" if publish or is_pod_ready(pod) else "notReadyAddresses"
        group.setdefault(field, []).append(address)
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset: Obj = {}
        for field in ("addresses", "notReadyAddresses"):
            if group.get(field):
                subset[field] = sorted(group[field], key=lambda a: (a["ip"],
                                                                    a["targetRef"]["uid"]))
        if group["ports"]:
            subset["ports"] = group["ports"]
        subsets.append(subset)
    return subsets


def truncate(subsets: list[Obj], limit: int = MAX_ENDPOINTS) -> tuple[list[Obj], bool]:
    """At most `limit` addresses, ready ones first (as Kubernetes caps Endpoints)."""
    total = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or [])
                for s in subsets)
    if total <= limit:
        return subsets, False
    left = limit
    out = []
    for field in ("addresses", "notReadyAddresses"):
        for s in subsets:
            take = (s.get(field) or [])[:left]
            left -= len(take)
            if take:
                out.append({field: take, **({"ports": s["ports"]} if "ports" in s else {})})
    return out, True


def desired_endpoints(svc: Obj, pods: list[Obj], current: Obj | None) -> Obj:
    """The whole Endpoints object to store (metadata from `current` kept)."""
    subsets, truncated = truncate(desired_subsets(svc, pods))
    ep: Obj = copy.deepcopy(current) if current else {
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": name_of(svc), "namespace": namespace_of(svc)}}
    md = ep["metadata"]
    labels = derived_labels(svc)
    if labels:
        md["labels"] = labels
    else:
        md.pop("labels", None)
    annotations = dict(md.get("annotations") or {})
    if truncated:
        annotations[OVER_CAPACITY] = "truncated"
    else:
        annotations.pop(OVER_CAPACITY, None)
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    if subsets:
        ep["subsets"] = subsets
    else:
        ep.pop("subsets", None)
    return ep


def needs_write(current: Obj | None, desired: Obj) -> bool:
    if current is None:
        return True
    cmd, dmd = current.get("metadata") or {}, desired.get("metadata") or {}
    return (current.get("subsets") or []) != (desired.get("subsets") or []) or \
        (cmd.get("labels") or {}) != (dmd.get("labels") or {}) or \
        (cmd.get("annotations") or {}) != (dmd.get("annotations") or {})


def service_key(obj: Obj) -> str:
    return f"{namespace_of(obj)}/{name_of(obj)}"


# ---- the controller -----------------------------------------------------------------------------


class ServicePodWatcher:
    """Informers on Services and pods that enqueue the key of every Service a pod
    change concerns (shared by the Endpoints and EndpointSlice controllers)."""

    def __init__(self, factory: SharedInformerFactory, queue: RateLimitingQueue) -> None:
        self.queue = queue
        indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: index_by_namespace}
        self.services = factory.informer_for("services", indexers=indexers)
        self.pods = factory.informer_for("pods", indexers=indexers)
        self.services.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pods.add_event_handler(on_add=self._pod_changed,
                                    on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    def _enqueue(self, svc: Obj) -> None:
        self.queue.add(service_key(svc))

    def services_of(self, pod: Obj) -> list[Obj]:
        return [s for s in self.services.store.by_index(NAMESPACE_INDEX, namespace_of(pod))
                if (sel := service_selector(s)) is not None and sel.matches(labels_of(pod))]

    def _pod_changed(self, pod: Obj) -> None:
        for svc in self.services_of(pod):
            self._enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == \
                (new.get("metadata") or {}).get("resourceVersion"):
            return
        keys = {service_key(s) for s in self.services_of(old) + self.services_of(new)}
        for key in keys:
            self.queue.add(key)

    def _pod_deleted(self, obj: DeletedObj) -> None:
        self._pod_changed(object_of(obj))

    def pods_in(self, namespace: str) -> list[Obj]:
        return list(self.pods.store.by_index(NAMESPACE_INDEX, namespace))


class EndpointsController:
    name = "endpoints"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.queue = RateLimitingQueue("endpoints")
        self.watch = ServicePodWatcher(factory, self.queue)
        self.endpoints = factory.informer_for("endpoints")
        self.endpoints.add_event_handler(on_delete=lambda obj: self.queue.add(
            service_key(object_of(obj))))

    async def run(self, workers: int = 2) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        svc = self.watch.services.store.get_by_key(key)
        current = self.endpoints.store.get_by_key(key)
        if svc is None:
            if current is not None:
                with contextlib.suppress(errors.NotFound):
                    await self.client.delete("endpoints", name, namespace)
            return
        if service_selector(svc) is None:
            return  # Endpoints of a Service without a selector are the user's
        desired = desired_endpoints(svc, self.watch.pods_in(namespace), current)
        if not needs_write(current, desired):
            return
        try:
            if current is None:
                await self.client.create("endpoints", desired, namespace)
            else:
                await self.client.update("endpoints", desired, namespace)
        except errors.AlreadyExists:
            fresh = await self.client.get("endpoints", name, namespace)
            await self.client.update("endpoints",
                                     desired_endpoints(svc, self.watch.pods_in(namespace),
                                                       fresh), namespace)

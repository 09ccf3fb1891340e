"""The EndpointSlice controller: a Service's pods as discovery.k8s.io/v1 EndpointSlices.

As Kubernetes' `pkg/controller/endpointslice`: every pod a Service selects that has an
IP and is not finished becomes an endpoint with conditions `ready` (Ready and not
terminating, or always with `publishNotReadyAddresses`), `serving` (Ready) and
`terminating` (being deleted). Endpoints are grouped by their resolved port set and
packed at most 100 to a slice; existing slices are reused so an endpoint that did not
change stays where it is. A Service with no endpoints keeps one empty placeholder slice.

`plan` is pure: (Service, pods, existing slices) -> slices to create, update, delete.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from controlplane.controllers.endpoints import (
    ServicePodWatcher,
    derived_labels,
    endpoint_ports,
    hostname_of,
    is_pod_ready,
    pod_ip,
    selected_pods,
    service_selector,
    target_ref,
)
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import (
    Client,
    RateLimitingQueue,
    RetryLater,
    SharedInformerFactory,
    object_of,
    run_workers,
)

logger = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100


# ---- pure ---------------------------------------------------------------------------------------


def slice_ports(svc: Obj, pod: Obj) -> list[Obj]:
    """EndpointPorts: name (always, "" for an unnamed port), port, protocol."""
    ports = []
    for p in endpoint_ports(svc, pod):
        port: Obj = {"name": p.get("name", ""), "port": p["port"], "protocol": p["protocol"]}
        if p.get("appProtocol"):
            port["appProtocol"] = p["appProtocol"]
        ports.append(port)
    return sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"]))


def pod_endpoint(svc: Obj, pod: Obj) -> Obj:
    serving = is_pod_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: Obj = {"addresses": [pod_ip(pod)],
               "conditions": {"ready": publish or (serving and not terminating),
                              "serving": serving, "terminating": terminating},
               "targetRef": target_ref(pod)}
    if hostname_of(pod, svc):
        ep["hostname"] = hostname_of(pod, svc)
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        ep["nodeName"] = node
    return ep


def _ports_key(ports: list[Obj] | None) -> str:
    return json.dumps(ports or [], sort_keys=True)


def _endpoint_key(ep: Obj) -> str:
    ref = ep.get("targetRef") or {}
    return str(ref.get("uid") or (ep.get("addresses") or [""])[0])


def desired_endpoints(svc: Obj, pods: list[Obj]) -> dict[str, dict[str, Obj]]:
    """Endpoints by port set (JSON of the ports) then by pod uid."""
    has_ports = bool((svc.get("spec") or {}).get("ports"))
    groups: dict[str, dict[str, Obj]] = {}
    for pod in selected_pods(svc, pods, include_terminating=True):
        if ":" in pod_ip(pod):
            continue  # IPv4 slices only
        ports = slice_ports(svc, pod)
        if has_ports and not ports:
            continue
        ep = pod_endpoint(svc, pod)
        groups.setdefault(_ports_key(ports), {})[_endpoint_key(ep)] = ep
    return groups


def owner_ref(svc: Obj) -> Obj:
    md = svc.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Service", "name": md.get("name", ""),
            "uid": md.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def new_slice(svc: Obj, ports: list[Obj] | None, endpoints: list[Obj]) -> Obj:
    labels = {**derived_labels(svc), SERVICE_NAME_LABEL: name_of(svc),
              MANAGED_BY_LABEL: MANAGED_BY}
    body: Obj = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"generateName": f"{name_of(svc)}-",
                              "namespace": namespace_of(svc), "labels": labels,
                              "ownerReferences": [owner_ref(svc)]},
                 "addressType": "IPv4", "endpoints": endpoints}
    if ports is not None:
        body["ports"] = ports
    return body


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def _sorted(endpoints: list[Obj]) -> list[Obj]:
    return sorted(endpoints, key=lambda e: (e["addresses"][0], _endpoint_key(e)))


def plan(svc: Obj, pods: list[Obj], existing: list[Obj],
         max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """What to write so the slices hold exactly the desired endpoints, reusing slices."""
    result = Plan()
    wanted = desired_endpoints(svc, pods)
    labels_wanted = {**derived_labels(svc), SERVICE_NAME_LABEL: name_of(svc),
                     MANAGED_BY_LABEL: MANAGED_BY}
    kept: dict[str, list[Obj]] = {}
    placed: set[tuple[str, str]] = set()
    for es in sorted(existing, key=name_of):
        key = _ports_key(es.get("ports"))
        group = wanted.get(key)
        if group is None or es.get("addressType", "IPv4") != "IPv4":
            result.delete.append(es)
            continue
        endpoints = []
        for ep in es.get("endpoints") or []:
            k = _endpoint_key(ep)
            if k in group and (key, k) not in placed:
                endpoints.append(group[k])
                placed.add((key, k))
        fresh = copy.deepcopy(es)
        fresh["endpoints"] = endpoints
        fresh["metadata"]["labels"] = {**(es["metadata"].get("labels") or {}),
                                       **labels_wanted}
        kept.setdefault(key, []).append(fresh)
    for key, group in wanted.items():
        rest = _sorted([ep for k, ep in group.items() if (key, k) not in placed])
        for es in kept.get(key, []):
            room = max_per_slice - len(es["endpoints"])
            if room > 0 and rest:
                es["endpoints"] += rest[:room]
                rest = rest[room:]
        ports = json.loads(key)
        while rest:
            result.create.append(new_slice(svc, ports, rest[:max_per_slice]))
            rest = rest[max_per_slice:]
    slices = [es for group in kept.values() for es in group]
    for es in slices:
        if not es["endpoints"]:
            result.delete.append(es)
    live = [es for es in slices if es["endpoints"]]
    for es in live:
        original = next(e for e in existing if name_of(e) == name_of(es))
        if _content(es) != _content(original):
            result.update.append(es)
    if not wanted:
        result.delete = [es for es in existing if not _is_placeholder(es)]
        if not any(_is_placeholder(es) for es in existing):
            result.create.append(new_slice(svc, None, []))
        result.update = []
        for es in existing:
            if _is_placeholder(es) and (es["metadata"].get("labels") or {}) != labels_wanted:
                fresh = copy.deepcopy(es)
                fresh["metadata"]["labels"] = labels_wanted
                result.update.append(fresh)
    return result


def _is_placeholder(es: Obj) -> bool:
    return not es.get("endpoints") and not es.get("ports")


def _content(es: Obj) -> tuple[Any, ...]:
    return (es.get("endpoints") or [], es.get("ports") or [],
            (es.get("metadata") or {}).get("labels") or {})


# ---- the controller -----------------------------------------------------------------------------


def _slice_service(es: Obj) -> str:
    labels = (es.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return ""
    return str(labels.get(SERVICE_NAME_LABEL) or "")


def _index_by_service(es: Obj) -> list[str]:
    svc = _slice_service(es)
    return [f"{namespace_of(es)}/{svc}"] if svc else []


SERVICE_INDEX = "service"


def _rv(obj: Obj | None) -> int:
    raw = ((obj or {}).get("metadata") or {}).get("resourceVersion") or "0"
    return int(raw) if str(raw).isdigit() else 0


def cache_is_stale(written: dict[str, int], cached: dict[str, Obj | None]) -> bool:
    """As the endpointSliceTracker: a slice this controller wrote (rv > 0) or deleted
    (rv = 0) that the informer has not caught up with yet means a sync now would act
    on an old picture (and create a duplicate)."""
    for name, rv in written.items():
        obj = cached.get(name)
        if (rv == 0 and obj is not None) or (rv > 0 and _rv(obj) < rv):
            return True
    return False


class EndpointSliceController:
    name = "endpointslice"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.queue = RateLimitingQueue("endpointslice")
        self.watch = ServicePodWatcher(factory, self.queue)
        self.slices = factory.informer_for("endpointslices",
                                           indexers={SERVICE_INDEX: _index_by_service})
        self.written: dict[str, dict[str, int]] = {}
        self.slices.add_event_handler(
            on_add=self._slice_changed, on_update=lambda _old, new: self._slice_changed(new),
            on_delete=lambda obj: self._slice_changed(object_of(obj)))

    def _slice_changed(self, es: Obj) -> None:
        svc = _slice_service(es)
        if svc:
            self.queue.add(f"{namespace_of(es)}/{svc}")

    async def run(self, workers: int = 2) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        namespace, _, _name = key.partition("/")
        svc = self.watch.services.store.get_by_key(key)
        written = self.written.get(key, {})
        if cache_is_stale(written, {n: self.slices.store.get_by_key(f"{namespace}/{n}")
                                    for n in written}):
            raise RetryLater(f"endpointslice cache is behind for service {key}")
        self.written.pop(key, None)
        existing = list(self.slices.store.by_index(SERVICE_INDEX, key))
        if svc is None or service_selector(svc) is None or \
                (svc.get("spec") or {}).get("type") == "ExternalName":
            todo = Plan(delete=existing)  # the garbage collector would, too
        else:
            todo = plan(svc, self.watch.pods_in(namespace), existing)
        marks = self.written.setdefault(key, {})
        for es in todo.update:
            marks[name_of(es)] = _rv(await self.client.update("endpointslices", es,
                                                              namespace))
        for es in todo.create:
            created = await self.client.create("endpointslices", es, namespace)
            marks[name_of(created)] = _rv(created)
        for es in todo.delete:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete("endpointslices", name_of(es), namespace)
            marks[name_of(es)] = 0

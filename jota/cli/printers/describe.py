"""`jota describe`: kubectl describe's layout for Pod, Deployment, Service, Node and
Namespace, and kubectl's generic describer (metadata, then every other field as
`Key:  value` lines) for every other kind.

Describers that need more than the object take it from `related` (objects the CLI
fetched alongside: a Deployment's ReplicaSets, a Service's Endpoints or
EndpointSlices, a Node's pods and Lease, a Namespace's quotas and limit ranges);
anything missing prints as kubectl prints an empty list.
"""

from __future__ import annotations

import base64
import binascii
import copy
from datetime import datetime
from typing import Any

from jota.api.meta import Obj
from jota.api.registry import ResourceType
from jota.cli.printers import quantity
from jota.cli.printers.age import human_age, rfc1123z
from jota.cli.printers.columns import format_endpoints, node_roles
from jota.cli.printers.describe_common import (
    Writer,
    annotations_multiline,
    describe_events,
    events_for,
    labels_multiline,
    taints_multiline,
)
from jota.cli.printers.describe_csr import describe_csr
from jota.cli.printers.describe_hpa import describe_hpa
from jota.cli.printers.describe_pod import describe_pod, describe_pod_template
from jota.cli.printers.fields import (
    as_dict,
    as_list,
    dig,
    format_labels,
    go_value,
    int_or_string,
    selector_string,
)

__all__ = ["describe", "events_for"]


def describe(rt: ResourceType, obj: Obj, events: list[Obj] | None, *, now: datetime,
             related: list[Obj] | None = None) -> str:
    """kubectl describe's text for `obj`. `events` are the cluster's events (filtered and
    sorted here with events_for); None leaves the Events section out (`--show-events=false`).
    Times print in `now`'s time zone."""
    mine = None if events is None else events_for({**obj, "kind": rt.kind}, events)
    others = related or []
    if rt.kind == "Pod":
        return describe_pod(obj, mine, now)
    if rt.kind == "Deployment":
        return _deployment(obj, mine, _of_kind(others, "ReplicaSet"), now)
    if rt.kind == "Service":
        return _service(obj, mine, others, now)
    if rt.kind == "Node":
        return _node(obj, mine, others, now)
    if rt.kind == "Namespace":
        return _namespace(obj, others, now)
    if rt.kind == "ConfigMap":
        return _configmap(obj, mine, now)
    if rt.kind == "Secret":
        return _secret(obj)
    if rt.kind == "HorizontalPodAutoscaler":
        return describe_hpa(obj, mine, now)
    if rt.kind == "CertificateSigningRequest":
        return describe_csr(obj, mine, now)
    return _generic(obj, mine, now)


def _of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind]


# --- Deployment ----------------------------------------------------------------------------

def _without_hash(template: Any) -> Any:
    clean = copy.deepcopy(as_dict(template))
    as_dict(dig(clean, "metadata", "labels", default={})).pop("pod-template-hash", None)
    return clean


def _deployment(d: Obj, events: list[Obj] | None, replica_sets: list[Obj],
                now: datetime) -> str:
    w = Writer()
    md, spec, status = (as_dict(d.get(k)) for k in ("metadata", "spec", "status"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    w.write(0, f"CreationTimestamp:\t{rfc1123z(md.get('creationTimestamp'), now)}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"Selector:\t{selector_string(spec.get('selector'))}\n")
    w.write(0, f"Replicas:\t{spec.get('replicas', 1)} desired | "
               f"{status.get('updatedReplicas', 0)} updated | {status.get('replicas', 0)} total"
               f" | {status.get('availableReplicas', 0)} available | "
               f"{status.get('unavailableReplicas', 0)} unavailable\n")
    strategy = as_dict(spec.get("strategy"))
    w.write(0, f"StrategyType:\t{strategy.get('type', 'RollingUpdate')}\n")
    w.write(0, f"MinReadySeconds:\t{spec.get('minReadySeconds', 0)}\n")
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        ru = as_dict(strategy.get("rollingUpdate"))
        unavailable = int_or_string(ru.get("maxUnavailable", "25%"))
        surge = int_or_string(ru.get("maxSurge", "25%"))
        w.write(0, f"RollingUpdateStrategy:\t{unavailable} max unavailable, "
                   f"{surge} max surge\n")
    describe_pod_template(w, spec.get("template"))
    conditions = as_list(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tReason\n")
        w.write(1, "----\t------\t------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')}\t{c.get('reason', '')}\n")
    uid = md.get("uid")
    owned = [rs for rs in replica_sets
             if any(r.get("controller") and (not uid or r.get("uid") == uid)
                    and r.get("kind") == "Deployment" and r.get("name") == md.get("name")
                    for r in as_list(dig(rs, "metadata", "ownerReferences")))]
    wanted = _without_hash(spec.get("template"))
    new = [rs for rs in owned if _without_hash(dig(rs, "spec", "template")) == wanted][:1]
    old = [rs for rs in owned if rs not in new and (dig(rs, "spec", "replicas") or 0) > 0]
    w.write(0, f"OldReplicaSets:\t{_replica_sets(old)}\n")
    w.write(0, f"NewReplicaSet:\t{_replica_sets(new)}\n")
    describe_events(w, events, now)
    return w.text()


def _replica_sets(rss: list[Obj]) -> str:
    text = ", ".join(f"{dig(rs, 'metadata', 'name', default='')} "
                     f"({dig(rs, 'status', 'replicas', default=0)}/"
                     f"{dig(rs, 'spec', 'replicas', default=0)} replicas created)"
                     for rs in rss)
    return text or "<none>"


# --- Service -------------------------------------------------------------------------------

def _service(svc: Obj, events: list[Obj] | None, related: list[Obj], now: datetime) -> str:
    w = Writer()
    md, spec = as_dict(svc.get("metadata")), as_dict(svc.get("spec"))
    name = md.get("name")
    slices = [s for s in _of_kind(related, "EndpointSlice")
              if as_dict(dig(s, "metadata", "labels")).get("kubernetes.io/service-name") == name]
    endpoints = next((e for e in _of_kind(related, "Endpoints")
                      if dig(e, "metadata", "name") == name), None)
    w.write(0, f"Name:\t{name or ''}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"Selector:\t{format_labels(spec.get('selector'))}\n")
    w.write(0, f"Type:\t{spec.get('type') or 'ClusterIP'}\n")
    if spec.get("ipFamilyPolicy"):
        w.write(0, f"IP Family Policy:\t{spec['ipFamilyPolicy']}\n")
    families = as_list(spec.get("ipFamilies"))
    w.write(0, f"IP Families:\t{','.join(str(f) for f in families) or '<none>'}\n")
    w.write(0, f"IP:\t{spec.get('clusterIP', '')}\n")
    if as_list(spec.get("clusterIPs")):
        w.write(0, f"IPs:\t{','.join(str(i) for i in spec['clusterIPs'])}\n")
    if as_list(spec.get("externalIPs")):
        w.write(0, f"External IPs:\t{','.join(str(i) for i in spec['externalIPs'])}\n")
    if spec.get("loadBalancerIP"):
        w.write(0, f"IP:\t{spec['loadBalancerIP']}\n")
    if spec.get("externalName"):
        w.write(0, f"External Name:\t{spec['externalName']}\n")
    ingress = as_list(dig(svc, "status", "loadBalancer", "ingress"))
    if ingress:
        shown = [str(i.get("ip") or i.get("hostname") or "") for i in ingress]
        w.write(0, f"LoadBalancer Ingress:\t{', '.join(shown)}\n")
    for port in as_list(spec.get("ports")):
        pname = str(port.get("name") or "")
        proto = port.get("protocol") or "TCP"
        shown_name = pname or "<unset>"
        w.write(0, f"Port:\t{shown_name}\t{port.get('port', 0)}/{proto}\n")
        target = port.get("targetPort", port.get("port", 0))
        w.write(0, f"TargetPort:\t{target}/{proto}\n")
        if port.get("nodePort"):
            w.write(0, f"NodePort:\t{shown_name}\t{port['nodePort']}/{proto}\n")
        if slices or endpoints is None:
            shown_eps = _slice_endpoints(slices, pname)
        else:
            shown_eps = format_endpoints(endpoints, {pname})
        w.write(0, f"Endpoints:\t{shown_eps}\n")
    w.write(0, f"Session Affinity:\t{spec.get('sessionAffinity') or 'None'}\n")
    if spec.get("externalTrafficPolicy"):
        w.write(0, f"External Traffic Policy:\t{spec['externalTrafficPolicy']}\n")
    if spec.get("internalTrafficPolicy"):
        w.write(0, f"Internal Traffic Policy:\t{spec['internalTrafficPolicy']}\n")
    if spec.get("healthCheckNodePort"):
        w.write(0, f"HealthCheck NodePort:\t{spec['healthCheckNodePort']}\n")
    if as_list(spec.get("loadBalancerSourceRanges")):
        ranges = ",".join(str(r) for r in spec["loadBalancerSourceRanges"])
        w.write(0, f"LoadBalancer Source Ranges:\t{ranges}\n")
    describe_events(w, events, now)
    return w.text()


def _slice_endpoints(slices: list[Obj], port_name: str) -> str:
    if not slices:
        return "<none>"
    shown: list[str] = []
    count = 0
    for es in slices:
        ready = [e for e in as_list(es.get("endpoints"))
                 if as_list(e.get("addresses"))
                 and dig(e, "conditions", "ready", default=True) is not False]
        ports = as_list(es.get("ports"))
        if not ports:
            addrs = [str(e["addresses"][0]) for e in ready]
        else:
            addrs = []
            for p in ports:
                if str(p.get("name") or "") == port_name:
                    for e in ready:
                        ip = str(e["addresses"][0])
                        ip = f"[{ip}]" if ":" in ip else ip
                        addrs.append(f"{ip}:{p.get('port', '')}")
        count += len(addrs)
        shown += addrs
    if count > 3:
        return f"{','.join(shown[:3])} + {count - 3} more..."
    return ",".join(shown)


# --- Node ----------------------------------------------------------------------------------

def _node(node: Obj, events: list[Obj] | None, related: list[Obj], now: datetime) -> str:
    w = Writer()
    md, spec, status = (as_dict(node.get(k)) for k in ("metadata", "spec", "status"))
    name = md.get("name", "")
    w.write(0, f"Name:\t{name}\n")
    w.write(0, f"Roles:\t{','.join(node_roles(node)) or '<none>'}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(md.get('creationTimestamp'), now)}\n")
    taints_multiline(w, "Taints", spec.get("taints"))
    w.write(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}\n")
    lease = next((le for le in _of_kind(related, "Lease")
                  if dig(le, "metadata", "name") == name), None)
    lspec = as_dict(dig(lease, "spec"))
    w.write(0, "Lease:\n")
    w.write(1, f"HolderIdentity:\t{lspec.get('holderIdentity') or '<unset>'}\n")
    for title, key in (("AcquireTime", "acquireTime"), ("RenewTime", "renewTime")):
        value = rfc1123z(lspec[key], now) if lspec.get(key) else "<unset>"
        w.write(1, f"{title}:\t{value}\n")
    conditions = as_list(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\t"
                   "Reason\tMessage\n")
        w.write(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \t"
                       f"{rfc1123z(c.get('lastHeartbeatTime'), now)} \t"
                       f"{rfc1123z(c.get('lastTransitionTime'), now)} \t"
                       f"{c.get('reason', '')} \t{c.get('message', '')}\n")
    w.write(0, "Addresses:\n")
    for addr in as_list(status.get("addresses")):
        w.write(1, f"{addr.get('type', '')}:\t{addr.get('address', '')}\n")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        values = as_dict(status.get(key))
        if values:
            w.write(0, f"{title}:\n")
            for res in sorted(values):
                w.write(0, f"  {res}:\t{go_value(values[res])}\n")
    info = as_dict(status.get("nodeInfo"))
    w.write(0, "System Info:\n")
    for title, key in (("Machine ID", "machineID"), ("System UUID", "systemUUID"),
                       ("Boot ID", "bootID"), ("Kernel Version", "kernelVersion"),
                       ("OS Image", "osImage"), ("Operating System", "operatingSystem"),
                       ("Architecture", "architecture"),
                       ("Container Runtime Version", "containerRuntimeVersion"),
                       ("Kubelet Version", "kubeletVersion"),
                       ("Kube-Proxy Version", "kubeProxyVersion")):
        w.write(0, f"  {title}:\t{info.get(key, '')}\n")
    if spec.get("podCIDR"):
        w.write(0, f"PodCIDR:\t{spec['podCIDR']}\n")
    if as_list(spec.get("podCIDRs")):
        w.write(0, f"PodCIDRs:\t{','.join(str(c) for c in spec['podCIDRs'])}\n")
    if spec.get("providerID"):
        w.write(0, f"ProviderID:\t{spec['providerID']}\n")
    pods = [p for p in _of_kind(related, "Pod") if dig(p, "spec", "nodeName") == name
            and dig(p, "status", "phase") not in ("Succeeded", "Failed")]
    _node_resources(w, node, pods, now)
    describe_events(w, events, now)
    return w.text()


def _pod_totals(pod: Obj) -> tuple[dict[str, quantity.Quantity], dict[str, quantity.Quantity]]:
    """PodRequestsAndLimits: containers summed, each init container taken as a maximum."""
    totals: list[dict[str, quantity.Quantity]] = [{}, {}]
    for c in as_list(dig(pod, "spec", "containers")):
        for i, key in enumerate(("requests", "limits")):
            values = as_dict(dig(c, "resources", key))
            if key == "requests":
                values = {**as_dict(dig(c, "resources", "limits")), **values}
            for res, raw in values.items():
                q = quantity.parse(raw)
                totals[i][res] = totals[i][res] + q if res in totals[i] else q
    for c in as_list(dig(pod, "spec", "initContainers")):
        for i, key in enumerate(("requests", "limits")):
            for res, raw in as_dict(dig(c, "resources", key)).items():
                q = quantity.parse(raw)
                if res not in totals[i] or q.value > totals[i][res].value:
                    totals[i][res] = q
    return totals[0], totals[1]


def _percent(part: quantity.Quantity, whole: quantity.Quantity) -> int:
    return int(part.value / whole.value * 100) if whole.value else 0


def _node_resources(w: Writer, node: Obj, pods: list[Obj], now: datetime) -> None:
    allocatable = as_dict(dig(node, "status", "allocatable")) or as_dict(
        dig(node, "status", "capacity"))
    alloc = {r: quantity.parse(allocatable.get(r)) for r in ("cpu", "memory",
                                                            "ephemeral-storage")}
    zero = quantity.ZERO
    w.write(0, f"Non-terminated Pods:\t({len(pods)} in total)\n")
    w.write(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\t"
               "Memory Limits\tAge\n")
    w.write(1, "---------\t----\t\t------------\t----------\t---------------\t"
               "-------------\t---\n")
    sums: list[dict[str, quantity.Quantity]] = [{}, {}]
    for pod in pods:
        req, lim = _pod_totals(pod)
        for i, part in enumerate((req, lim)):
            for res, q in part.items():
                sums[i][res] = sums[i][res] + q if res in sums[i] else q
        cells = []
        for res in ("cpu", "memory"):
            for part in (req, lim):
                q = part.get(res, zero)
                cells.append(f"{q} ({_percent(q, alloc[res])}%)")
        w.write(1, f"{dig(pod, 'metadata', 'namespace', default='')}\t"
                   f"{dig(pod, 'metadata', 'name', default='')}\t\t" + "\t".join(cells) +
                f"\t{human_age(dig(pod, 'metadata', 'creationTimestamp'), now)}\n")
    w.write(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., "
               "overcommitted.)\n")
    w.write(1, "Resource\tRequests\tLimits\n")
    w.write(1, "--------\t--------\t------\n")
    for res in ("cpu", "memory", "ephemeral-storage"):
        total_req, total_lim = sums[0].get(res, zero), sums[1].get(res, zero)
        w.write(1, f"{res}\t{total_req} ({_percent(total_req, alloc[res])}%)\t"
                   f"{total_lim} ({_percent(total_lim, alloc[res])}%)\n")


# --- Namespace -----------------------------------------------------------------------------

def _namespace(ns: Obj, related: list[Obj], now: datetime) -> str:
    w = Writer()
    md = as_dict(ns.get("metadata"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"Status:\t{dig(ns, 'status', 'phase', default='')}\n")
    conditions = as_list(dig(ns, "status", "conditions"))
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage\n")
        w.write(1, "----\t------\t------------------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')}\t{c.get('status', '')}\t"
                       f"{rfc1123z(c.get('lastTransitionTime'), now)}\t{c.get('reason', '')}\t"
                       f"{c.get('message', '')}\n")
    w.write(0, "\n")
    quotas = sorted(_of_kind(related, "ResourceQuota"),
                    key=lambda q: str(dig(q, "metadata", "name", default="")))
    if not quotas:
        w.write(0, "No resource quota.\n")
    else:
        w.write(0, "Resource Quotas\n")
        for q in quotas:
            w.write(1, f"Name:\t{dig(q, 'metadata', 'name', default='')}\n")
            scopes = sorted(str(s) for s in as_list(dig(q, "spec", "scopes")))
            if scopes:
                w.write(1, f"Scopes:\t{', '.join(scopes)}\n")
            w.write(1, "Resource\tUsed\tHard\n")
            w.write(1, "--------\t---\t---\n")
            hard, used = as_dict(dig(q, "status", "hard")), as_dict(dig(q, "status", "used"))
            for res in sorted(hard):
                w.write(1, f"{res}\t{go_value(used.get(res, '0'))}\t{go_value(hard[res])}\n")
    w.write(0, "\n")
    ranges = _of_kind(related, "LimitRange")
    if not ranges:
        w.write(0, "No LimitRange resource.\n")
    else:
        w.write(0, "Resource Limits\n Type\tResource\tMin\tMax\tDefault Request\t"
                   "Default Limit\tMax Limit/Request Ratio\n")
        w.write(0, " ----\t--------\t---\t---\t---------------\t-------------\t"
                   "-----------------------\n")
        for lr in ranges:
            for item in as_list(dig(lr, "spec", "limits")):
                parts = [as_dict(item.get(k)) for k in ("min", "max", "defaultRequest",
                                                         "default", "maxLimitRequestRatio")]
                for res in sorted(set().union(*parts)):
                    cells = [go_value(p[res]) if res in p else "-" for p in parts]
                    w.write(0, f" {item.get('type', '')}\t{res}\t" + "\t".join(cells) + "\n")
    return w.text()


# --- ConfigMap and Secret (never the generic describer: it would print secret values) ----

def _header(w: Writer, obj: Obj) -> None:
    md = as_dict(obj.get("metadata"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))


def _configmap(cm: Obj, events: list[Obj] | None, now: datetime) -> str:
    w = Writer()
    _header(w, cm)
    w.write(0, "\nData\n====\n")
    data = as_dict(cm.get("data"))
    for key in sorted(data):
        w.write(0, f"{key}:\n----\n")
        w.write(0, f"{data[key]}\n")
    w.write(0, "\nBinaryData\n====\n")
    binary = as_dict(cm.get("binaryData"))
    for key in sorted(binary):
        w.write(0, f"{key}: {_decoded_len(binary[key])} bytes\n")
    w.write(0, "\n")
    describe_events(w, events, now)
    return w.text()


def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value), validate=False))
    except (ValueError, binascii.Error):
        return len(str(value))


def _secret(secret: Obj) -> str:
    w = Writer()
    _header(w, secret)
    stype = secret.get("type") or "Opaque"
    w.write(0, f"\nType:\t{stype}\n")
    w.write(0, "\nData\n====\n")
    data = as_dict(secret.get("data"))
    for key in sorted(data):
        if key == "token" and stype == "kubernetes.io/service-account-token":
            token = base64.b64decode(str(data[key])).decode(errors="replace")
            w.write(0, f"{key}:\t{token}\n")
        else:
            w.write(0, f"{key}:\t{_decoded_len(data[key])} bytes\n")
    return w.text()


# --- everything else -----------------------------------------------------------------------

_ACRONYMS = {"API", "URL", "UID", "OSB", "GUID"}


def _camel_split(word: str) -> list[str]:
    """fatih/camelcase.Split: runs of one character class, `HTTPServer` -> HTTP, Server."""
    def cls(ch: str) -> int:
        return 1 if ch.islower() else 2 if ch.isupper() else 3 if ch.isdigit() else 4

    runs: list[list[str]] = []
    for ch in word:
        if runs and cls(runs[-1][-1]) == cls(ch):
            runs[-1].append(ch)
        else:
            runs.append([ch])
    for i in range(len(runs) - 1):
        if cls(runs[i][0]) == 2 and cls(runs[i + 1][0]) == 1:
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(r) for r in runs if r]


def smart_label(field: str) -> str:
    if any(not (ch.isalpha() or ch == "-") for ch in field):
        return field
    parts = []
    for part in _camel_split(field):
        if part == "_":
            continue
        parts.append(part.upper() if part.upper() in _ACRONYMS else part[:1].upper() + part[1:])
    return " ".join(parts)


_GENERIC_SKIP = {".metadata.name", ".metadata.namespace", ".metadata.labels",
                 ".metadata.annotations"}


def _unstructured(w: Writer, level: int, content: dict[str, Any], prefix: str) -> None:
    for key in sorted(content):
        value, path = content[key], f"{prefix}.{key}"
        if path in _GENERIC_SKIP:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(key)}:\n")
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(key)}:\n")
            for child in value:
                if isinstance(child, dict):
                    _unstructured(w, level + 1, child, path)
                else:
                    w.write(level + 1, f"{go_value(child)}\n")
        else:
            w.write(level, f"{smart_label(key)}:\t{go_value(value)}\n")


def _generic(obj: Obj, events: list[Obj] | None, now: datetime) -> str:
    w = Writer()
    md = as_dict(obj.get("metadata"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    _unstructured(w, 0, obj, "")
    describe_events(w, events, now)
    return w.text()

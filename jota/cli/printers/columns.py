"""The columns `jota get` prints for each kind: kubectl's printers, as a table keyed by kind.

Each entry lists the columns (priority 1 = only with `-o wide`) and a function
from an object to all of its cells, in kubectl's words (`<none>`, `<pending>`,
`80:30080/TCP`, `cpu: 73%/50%`). A kind missing here gets NAME and AGE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jota.api import certificates
from jota.api.meta import Obj, annotations_of, labels_of, name_of
from jota.cli.printers.age import human_age, human_between, human_duration, rfc3339
from jota.cli.printers.columns_net import (
    endpoints_row,
    endpointslice_row,
    format_endpoints,
    ingress_row,
    ingressclass_row,
    networkpolicy_row,
    service_ports,
    service_row,
)
from jota.cli.printers.fields import (
    NONE,
    as_dict,
    as_list,
    condition_true,
    dig,
    format_labels,
    format_selector,
    go_value,
    int_or_string,
    quantity,
    selector_string,
)
from jota.cli.printers.pod_status import pod_ip, readiness_gates, summarize_pod
from jota.cli.printers.usage import metrics_row

__all__ = ["Column", "KindColumns", "format_endpoints", "format_labels", "kind_columns",
           "service_ports"]

Row = Callable[[Obj, datetime], list[str]]


@dataclass(frozen=True)
class Column:
    name: str
    priority: int = 0


@dataclass(frozen=True)
class KindColumns:
    columns: tuple[Column, ...]
    row: Row


def _cols(*names: str) -> tuple[Column, ...]:
    """Column names; a trailing `+` marks a wide-only column."""
    return tuple(Column(n.rstrip("+"), 1 if n.endswith("+") else 0) for n in names)


def _age(obj: Obj, now: datetime) -> str:
    return human_age(dig(obj, "metadata", "creationTimestamp"), now)


def _s(obj: Any, *path: str | int) -> str:
    return go_value(dig(obj, *path, default=""))


def _n(obj: Any, *path: str | int) -> str:
    return str(int(dig(obj, *path, default=0) or 0))


def _containers(template_spec: Any) -> tuple[str, str]:
    containers = as_list(dig(template_spec, "containers"))
    return (",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers))


# --- workloads ---------------------------------------------------------------------------

def _pod(pod: Obj, now: datetime) -> list[str]:
    summary = summarize_pod(pod, now)
    status = as_dict(pod.get("status"))
    return [name_of(pod), summary.ready, summary.status, summary.restarts, _age(pod, now),
            pod_ip(pod), _s(pod, "spec", "nodeName") or NONE,
            str(status.get("nominatedNodeName") or NONE), readiness_gates(pod)]


def _deployment(d: Obj, now: datetime) -> list[str]:
    names, images = _containers(dig(d, "spec", "template", "spec"))
    return [name_of(d), f"{_n(d, 'status', 'readyReplicas')}/{_n(d, 'spec', 'replicas')}",
            _n(d, "status", "updatedReplicas"), _n(d, "status", "availableReplicas"),
            _age(d, now), names, images, selector_string(dig(d, "spec", "selector"))]


def _replicaset(rs: Obj, now: datetime) -> list[str]:
    names, images = _containers(dig(rs, "spec", "template", "spec"))
    return [name_of(rs), _n(rs, "spec", "replicas"), _n(rs, "status", "replicas"),
            _n(rs, "status", "readyReplicas"), _age(rs, now), names, images,
            selector_string(dig(rs, "spec", "selector"))]


def _daemonset(ds: Obj, now: datetime) -> list[str]:
    names, images = _containers(dig(ds, "spec", "template", "spec"))
    return [name_of(ds), _n(ds, "status", "desiredNumberScheduled"),
            _n(ds, "status", "currentNumberScheduled"), _n(ds, "status", "numberReady"),
            _n(ds, "status", "updatedNumberScheduled"), _n(ds, "status", "numberAvailable"),
            format_labels(dig(ds, "spec", "template", "spec", "nodeSelector")), _age(ds, now),
            names, images, selector_string(dig(ds, "spec", "selector"))]


def _statefulset(ss: Obj, now: datetime) -> list[str]:
    names, images = _containers(dig(ss, "spec", "template", "spec"))
    return [name_of(ss), f"{_n(ss, 'status', 'readyReplicas')}/{_n(ss, 'spec', 'replicas')}",
            _age(ss, now), names, images]


def _job_status(job: Obj) -> str:
    for ctype, text in (("Complete", "Complete"), ("Failed", "Failed")):
        if condition_true(job, ctype):
            return text
    if dig(job, "metadata", "deletionTimestamp"):
        return "Terminating"
    for ctype in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if condition_true(job, ctype):
            return ctype
    return "Running"


def _job(job: Obj, now: datetime) -> list[str]:
    spec, status = as_dict(job.get("spec")), as_dict(job.get("status"))
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = status.get("startTime"), status.get("completionTime")
    if not start:
        duration = ""
    elif not end:
        duration = human_age(start, now)
    else:
        duration = human_between(start, end)
    names, images = _containers(dig(spec, "template", "spec"))
    return [name_of(job), _job_status(job), completions, duration, _age(job, now), names,
            images, format_selector(spec.get("selector"))]


def _cronjob(cj: Obj, now: datetime) -> list[str]:
    spec, status = as_dict(cj.get("spec")), as_dict(cj.get("status"))
    last = status.get("lastScheduleTime")
    suspend = spec.get("suspend")
    names, images = _containers(dig(spec, "jobTemplate", "spec", "template", "spec"))
    return [name_of(cj), str(spec.get("schedule", "")), str(spec.get("timeZone") or NONE),
            "<unset>" if suspend is None else ("True" if suspend else "False"),
            str(len(as_list(status.get("active")))), human_age(last, now) if last else NONE,
            _age(cj, now), names, images,
            format_selector(dig(spec, "jobTemplate", "spec", "selector"))]


def _hpa_metrics(hpa: Obj) -> str:
    specs = as_list(dig(hpa, "spec", "metrics"))
    if not specs and dig(hpa, "spec", "targetCPUUtilizationPercentage") is not None:
        # An autoscaling/v1 document: its one CPU target, as the v2 conversion does.
        current = dig(hpa, "status", "currentCPUUtilizationPercentage")
        cur = f"{current}%" if current is not None else "<unknown>"
        return f"cpu: {cur}/{dig(hpa, 'spec', 'targetCPUUtilizationPercentage')}%"
    if not specs:
        return NONE
    statuses = as_list(dig(hpa, "status", "currentMetrics"))
    out: list[str] = []
    for i, spec in enumerate(specs):
        st = statuses[i] if i < len(statuses) else {}
        mtype = spec.get("type")
        key = {"External": "external", "Pods": "pods", "Object": "object",
               "Resource": "resource", "ContainerResource": "containerResource"}.get(mtype)
        if key is None:
            out.append("<unknown type>")
            continue
        target = as_dict(dig(spec, key, "target"))
        current = as_dict(dig(st, key, "current"))
        has_current = isinstance(dig(st, key), dict)
        if key in ("resource", "containerResource"):
            rname = _s(spec, key, "name")
            if target.get("averageValue") is not None:
                cur = _q(current.get("averageValue")) if has_current else "<unknown>"
                out.append(f"{rname}: {cur}/{_q(target['averageValue'])}")
            else:
                util = current.get("averageUtilization")
                cur = f"{util}%" if has_current and util is not None else "<unknown>"
                tgt = target.get("averageUtilization")
                out.append(f"{rname}: {cur}/{f'{tgt}%' if tgt is not None else '<auto>'}")
        elif key == "pods":
            cur = _q(current.get("averageValue")) if has_current else "<unknown>"
            out.append(f"{cur}/{_q(target.get('averageValue'))}")
        elif target.get("averageValue") is not None:
            cur = "<unknown>"
            if has_current and current.get("averageValue") is not None:
                cur = _q(current["averageValue"])
            out.append(f"{cur}/{_q(target['averageValue'])} (avg)")
        else:
            cur = _q(current.get("value")) if has_current else "<unknown>"
            out.append(f"{cur}/{_q(target.get('value'))}")
    if len(out) > 2:
        return f"{', '.join(out[:2])} + {len(out) - 2} more..."
    return ", ".join(out)


def _q(value: Any) -> str:
    return quantity(value)


def _hpa(hpa: Obj, now: datetime) -> list[str]:
    ref = as_dict(dig(hpa, "spec", "scaleTargetRef"))
    minimum = dig(hpa, "spec", "minReplicas")
    return [name_of(hpa), f"{ref.get('kind', '')}/{ref.get('name', '')}", _hpa_metrics(hpa),
            "<unset>" if minimum is None else str(minimum), _n(hpa, "spec", "maxReplicas"),
            _n(hpa, "status", "currentReplicas"), _age(hpa, now)]


# --- cluster, config, storage, policy ----------------------------------------------------

def node_roles(node: Obj) -> list[str]:
    roles = set()
    for key, value in labels_of(node).items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return sorted(roles)


def node_status(node: Obj) -> str:
    status = []
    ready = next((c for c in as_list(dig(node, "status", "conditions"))
                  if c.get("type") == "Ready"), None)
    if ready is not None:
        status.append("Ready" if ready.get("status") == "True" else "NotReady")
    else:
        status.append("Unknown")
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    return ",".join(status)


def _node_address(node: Obj, kind: str) -> str:
    for addr in as_list(dig(node, "status", "addresses")):
        if addr.get("type") == kind:
            return str(addr.get("address", ""))
    return NONE


def _node(node: Obj, now: datetime) -> list[str]:
    info = as_dict(dig(node, "status", "nodeInfo"))
    return [name_of(node), node_status(node), ",".join(node_roles(node)) or NONE,
            _age(node, now), str(info.get("kubeletVersion", "")),
            _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            str(info.get("osImage") or "<unknown>"), str(info.get("kernelVersion") or "<unknown>"),
            str(info.get("containerRuntimeVersion") or "<unknown>")]


def _namespace(ns: Obj, now: datetime) -> list[str]:
    return [name_of(ns), _s(ns, "status", "phase"), _age(ns, now)]


def _configmap(cm: Obj, now: datetime) -> list[str]:
    count = len(as_dict(cm.get("data"))) + len(as_dict(cm.get("binaryData")))
    return [name_of(cm), str(count), _age(cm, now)]


def _secret(s: Obj, now: datetime) -> list[str]:
    return [name_of(s), str(s.get("type") or "Opaque"), str(len(as_dict(s.get("data")))),
            _age(s, now)]


def _serviceaccount(sa: Obj, now: datetime) -> list[str]:
    return [name_of(sa), str(len(as_list(sa.get("secrets")))), _age(sa, now)]


def _event_source(ev: Obj) -> str:
    component = _s(ev, "source", "component") or str(ev.get("reportingComponent") or "")
    host = _s(ev, "source", "host") or str(ev.get("reportingInstance") or "")
    return f"{component}, {host}" if host else component


def _event(ev: Obj, now: datetime) -> list[str]:
    first = (human_age(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp")
             else human_age(ev.get("eventTime"), now))
    last = human_age(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = int(ev.get("count") or 0)
    series = ev.get("series")
    if isinstance(series, dict):
        last = human_age(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1
    inv = as_dict(ev.get("involvedObject"))
    kind = str(inv.get("kind", "")).lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    return [last, str(ev.get("type", "")), str(ev.get("reason", "")), target,
            str(inv.get("fieldPath", "")), _event_source(ev),
            str(ev.get("message", "")).strip(), first, str(count), name_of(ev)]


_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def access_modes(modes: Any) -> str:
    present = set(as_list(modes))
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


def _phase(obj: Obj) -> str:
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return _s(obj, "status", "phase")


def _pv(pv: Obj, now: datetime) -> list[str]:
    spec = as_dict(pv.get("spec"))
    claim = as_dict(spec.get("claimRef"))
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    sc = annotations_of(pv).get("volume.beta.kubernetes.io/storage-class",
                                spec.get("storageClassName") or "")
    return [name_of(pv), quantity(dig(spec, "capacity", "storage")),
            access_modes(spec.get("accessModes")),
            str(spec.get("persistentVolumeReclaimPolicy", "")), _phase(pv), claim_text, str(sc),
            str(spec.get("volumeAttributesClassName") or "<unset>"),
            _s(pv, "status", "reason"), _age(pv, now), str(spec.get("volumeMode") or "<unset>")]


def _pvc(pvc: Obj, now: datetime) -> list[str]:
    spec = as_dict(pvc.get("spec"))
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(dig(pvc, "status", "accessModes"))
        capacity = quantity(dig(pvc, "status", "capacity", "storage"))
    sc = annotations_of(pvc).get("volume.beta.kubernetes.io/storage-class",
                                 spec.get("storageClassName") or "")
    return [name_of(pvc), _phase(pvc), str(spec.get("volumeName") or ""), capacity, modes,
            str(sc), str(spec.get("volumeAttributesClassName") or "<unset>"), _age(pvc, now),
            str(spec.get("volumeMode") or "<unset>")]


def _storageclass(sc: Obj, now: datetime) -> list[str]:
    name = name_of(sc)
    ann = annotations_of(sc)
    if "true" in (ann.get("storageclass.kubernetes.io/is-default-class"),
                  ann.get("storageclass.beta.kubernetes.io/is-default-class")):
        name += " (default)"
    return [name, str(sc.get("provisioner", "")), str(sc.get("reclaimPolicy") or "Delete"),
            str(sc.get("volumeBindingMode") or "Immediate"),
            "true" if sc.get("allowVolumeExpansion") else "false", _age(sc, now)]


def _lease(lease: Obj, now: datetime) -> list[str]:
    return [name_of(lease), _s(lease, "spec", "holderIdentity"), _age(lease, now)]


def _pdb(pdb: Obj, now: datetime) -> list[str]:
    spec = as_dict(pdb.get("spec"))
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [name_of(pdb), "N/A" if low is None else int_or_string(low),
            "N/A" if high is None else int_or_string(high),
            _n(pdb, "status", "disruptionsAllowed"), _age(pdb, now)]


def _priorityclass(pc: Obj, now: datetime) -> list[str]:
    return [name_of(pc), str(pc.get("value", 0)), "true" if pc.get("globalDefault") else "false",
            _age(pc, now), str(pc.get("preemptionPolicy") or "")]


def _created_at(obj: Obj, now: datetime) -> list[str]:
    return [name_of(obj), rfc3339(dig(obj, "metadata", "creationTimestamp"))]


def _binding(rb: Obj, now: datetime) -> list[str]:
    ref = as_dict(rb.get("roleRef"))
    users, groups, sas = [], [], []
    for s in as_list(rb.get("subjects")):
        if s.get("kind") == "User":
            users.append(str(s.get("name", "")))
        elif s.get("kind") == "Group":
            groups.append(str(s.get("name", "")))
        elif s.get("kind") == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
    return [name_of(rb), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(rb, now),
            ", ".join(users), ", ".join(groups), ", ".join(sas)]


def _resourcequota(rq: Obj, now: datetime) -> list[str]:
    hard, used = as_dict(dig(rq, "status", "hard")), as_dict(dig(rq, "status", "used"))
    requests: list[str] = []
    limits: list[str] = []
    for res in sorted(hard):
        text = f"{res}: {quantity(used.get(res))}/{quantity(hard[res])}"
        pieces = res.split(".")
        (limits if len(pieces) > 1 and pieces[0] == "limits" else requests).append(text)
    return [name_of(rq), _age(rq, now), ", ".join(requests), ", ".join(limits)]


def _csr(csr: Obj, now: datetime) -> list[str]:
    seconds = dig(csr, "spec", "expirationSeconds")
    requested = human_duration(seconds) if isinstance(seconds, int) else NONE
    return [name_of(csr), _age(csr, now), _s(csr, "spec", "signerName") or NONE,
            _s(csr, "spec", "username"), requested, certificates.condition_text(csr)]


def _name_age(obj: Obj, now: datetime) -> list[str]:
    return [name_of(obj), _age(obj, now)]


_KINDS: dict[str, KindColumns] = {
    "Pod": KindColumns(_cols("Name", "Ready", "Status", "Restarts", "Age", "IP+", "Node+",
                             "Nominated Node+", "Readiness Gates+"), _pod),
    "Deployment": KindColumns(_cols("Name", "Ready", "Up-to-date", "Available", "Age",
                                    "Containers+", "Images+", "Selector+"), _deployment),
    "ReplicaSet": KindColumns(_cols("Name", "Desired", "Current", "Ready", "Age",
                                    "Containers+", "Images+", "Selector+"), _replicaset),
    "DaemonSet": KindColumns(_cols("Name", "Desired", "Current", "Ready", "Up-to-date",
                                   "Available", "Node Selector", "Age", "Containers+",
                                   "Images+", "Selector+"), _daemonset),
    "StatefulSet": KindColumns(_cols("Name", "Ready", "Age", "Containers+", "Images+"),
                               _statefulset),
    "Job": KindColumns(_cols("Name", "Status", "Completions", "Duration", "Age",
                             "Containers+", "Images+", "Selector+"), _job),
    "CronJob": KindColumns(_cols("Name", "Schedule", "Timezone", "Suspend", "Active",
                                 "Last Schedule", "Age", "Containers+", "Images+",
                                 "Selector+"), _cronjob),
    "HorizontalPodAutoscaler": KindColumns(_cols("Name", "Reference", "Targets", "MinPods",
                                                 "MaxPods", "Replicas", "Age"), _hpa),
    "Service": KindColumns(_cols("Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                                 "Selector+"), service_row(False)),
    "Endpoints": KindColumns(_cols("Name", "Endpoints", "Age"), endpoints_row),
    "EndpointSlice": KindColumns(_cols("Name", "AddressType", "Ports", "Endpoints", "Age"),
                                 endpointslice_row),
    "Ingress": KindColumns(_cols("Name", "Class", "Hosts", "Address", "Ports", "Age"),
                           ingress_row(False)),
    "IngressClass": KindColumns(_cols("Name", "Controller", "Parameters", "Age"),
                                ingressclass_row),
    "NetworkPolicy": KindColumns(_cols("Name", "Pod-Selector", "Age"), networkpolicy_row),
    "Node": KindColumns(_cols("Name", "Status", "Roles", "Age", "Version", "Internal-IP+",
                              "External-IP+", "OS-Image+", "Kernel-Version+",
                              "Container-Runtime+"), _node),
    "Namespace": KindColumns(_cols("Name", "Status", "Age"), _namespace),
    "ConfigMap": KindColumns(_cols("Name", "Data", "Age"), _configmap),
    "Secret": KindColumns(_cols("Name", "Type", "Data", "Age"), _secret),
    "ServiceAccount": KindColumns(_cols("Name", "Secrets", "Age"), _serviceaccount),
    "NodeMetrics": KindColumns(_cols("Name", "CPU", "Memory", "Window"), metrics_row),
    "PodMetrics": KindColumns(_cols("Name", "CPU", "Memory", "Window"), metrics_row),
    "Event": KindColumns(_cols("Last Seen", "Type", "Reason", "Object", "Subobject+",
                               "Source+", "Message", "First Seen+", "Count+", "Name+"),
                         _event),
    "PersistentVolume": KindColumns(_cols("Name", "Capacity", "Access Modes", "Reclaim Policy",
                                          "Status", "Claim", "StorageClass",
                                          "VolumeAttributesClass", "Reason", "Age",
                                          "VolumeMode+"), _pv),
    "PersistentVolumeClaim": KindColumns(_cols("Name", "Status", "Volume", "Capacity",
                                               "Access Modes", "StorageClass",
                                               "VolumeAttributesClass", "Age", "VolumeMode+"),
                                         _pvc),
    "StorageClass": KindColumns(_cols("Name", "Provisioner", "ReclaimPolicy",
                                      "VolumeBindingMode", "AllowVolumeExpansion", "Age"),
                                _storageclass),
    "Lease": KindColumns(_cols("Name", "Holder", "Age"), _lease),
    "PodDisruptionBudget": KindColumns(_cols("Name", "Min Available", "Max Unavailable",
                                             "Allowed Disruptions", "Age"), _pdb),
    "PriorityClass": KindColumns(_cols("Name", "Value", "Global-Default", "Age",
                                       "PreemptionPolicy"), _priorityclass),
    "Role": KindColumns(_cols("Name", "Created At"), _created_at),
    "ClusterRole": KindColumns(_cols("Name", "Created At"), _created_at),
    "RoleBinding": KindColumns(_cols("Name", "Role", "Age", "Users+", "Groups+",
                                     "ServiceAccounts+"), _binding),
    "ClusterRoleBinding": KindColumns(_cols("Name", "Role", "Age", "Users+", "Groups+",
                                            "ServiceAccounts+"), _binding),
    "ResourceQuota": KindColumns(_cols("Name", "Age", "Request", "Limit"), _resourcequota),
    "LimitRange": KindColumns(_cols("Name", "Created At"), _created_at),
    "CustomResourceDefinition": KindColumns(_cols("Name", "Created At"), _created_at),
    "CertificateSigningRequest": KindColumns(_cols("Name", "Age", "SignerName", "Requestor",
                                                   "RequestedDuration", "Condition"), _csr),
}

_WIDE_VARIANTS: dict[str, Row] = {
    "Service": service_row(True),
    "Ingress": ingress_row(True),
}

_DEFAULT = KindColumns(_cols("Name", "Age"), _name_age)


def kind_columns(kind: str, *, wide: bool = False) -> KindColumns:
    """The columns of `kind` (NAME and AGE for kinds kubectl has no printer for)."""
    found = _KINDS.get(kind, _DEFAULT)
    if wide and kind in _WIDE_VARIANTS:
        return KindColumns(found.columns, _WIDE_VARIANTS[kind])
    return found

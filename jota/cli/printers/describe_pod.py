"""`jota describe pod` and the pod template inside workload describes, as kubectl's."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from jota.api.meta import Obj
from jota.api.qos import qos_class
from jota.cli.printers import quantity
from jota.cli.printers.age import human_age, rfc1123z
from jota.cli.printers.describe_common import (
    Writer,
    annotations_multiline,
    bool_title,
    describe_events,
    go_bool,
    labels_multiline,
    tolerations_multiline,
)
from jota.cli.printers.fields import as_dict, as_list, controller_of, dig, go_value


def describe_pod(pod: Obj, events: list[Obj] | None, now: datetime) -> str:
    w = Writer()
    md, spec, status = (as_dict(pod.get(k)) for k in ("metadata", "spec", "status"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    if spec.get("priority") is not None:
        w.write(0, f"Priority:\t{spec['priority']}\n")
    if spec.get("priorityClassName"):
        w.write(0, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    if spec.get("runtimeClassName"):
        w.write(0, f"Runtime Class Name:\t{spec['runtimeClassName']}\n")
    if spec.get("serviceAccountName"):
        w.write(0, f"Service Account:\t{spec['serviceAccountName']}\n")
    if spec.get("nodeName"):
        w.write(0, f"Node:\t{spec['nodeName']}/{status.get('hostIP', '')}\n")
    else:
        w.write(0, "Node:\t<none>\n")
    if status.get("startTime"):
        w.write(0, f"Start Time:\t{rfc1123z(status['startTime'], now)}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    phase = status.get("phase", "")
    if md.get("deletionTimestamp") and phase not in ("Failed", "Succeeded"):
        w.write(0, f"Status:\tTerminating (lasts {human_age(md['deletionTimestamp'], now)})\n")
        w.write(0, f"Termination Grace Period:\t{md.get('deletionGracePeriodSeconds', 0)}s\n")
    else:
        w.write(0, f"Status:\t{phase}\n")
    if status.get("reason"):
        w.write(0, f"Reason:\t{status['reason']}\n")
    if status.get("message"):
        w.write(0, f"Message:\t{status['message']}\n")
    w.write(0, f"IP:\t{status.get('podIP', '')}\n")
    ips = as_list(status.get("podIPs"))
    if not ips:
        w.write(0, "IPs:\t<none>\n")
    else:
        w.write(0, "IPs:\n")
        for ip in ips:
            w.write(1, f"IP:\t{ip.get('ip', '')}\n")
    ref = controller_of(pod)
    if ref:
        w.write(0, f"Controlled By:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
    if status.get("nominatedNodeName"):
        w.write(0, f"NominatedNodeName:\t{status['nominatedNodeName']}\n")
    if as_list(spec.get("initContainers")):
        describe_containers(w, "Init Containers", spec["initContainers"],
                            as_list(status.get("initContainerStatuses")), pod, "", now)
    describe_containers(w, "Containers", as_list(spec.get("containers")),
                        as_list(status.get("containerStatuses")), pod, "", now)
    gates = as_list(spec.get("readinessGates"))
    if gates:
        w.write(0, "Readiness Gates:\n  Type\tStatus\n")
        conds = {c.get("type"): c.get("status") for c in as_list(status.get("conditions"))}
        for gate in gates:
            ctype = gate.get("conditionType", "")
            w.write(1, f"{ctype} \t{conds.get(ctype, '<none>')} \n")
    conditions = as_list(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n  Type\tStatus\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')} \t{c.get('status', '')} \n")
    describe_volumes(w, as_list(spec.get("volumes")), "")
    w.write(0, f"QoS Class:\t{status.get('qosClass') or qos_class(pod)}\n")
    labels_multiline(w, "Node-Selectors", spec.get("nodeSelector"))
    tolerations_multiline(w, "Tolerations", spec.get("tolerations"))
    describe_events(w, events, now)
    return w.text()


def describe_pod_template(w: Writer, template: Any) -> None:
    w.write(0, "Pod Template:\n")
    if not isinstance(template, dict):
        w.write(1, "<unset>")
        return
    md, spec = as_dict(template.get("metadata")), as_dict(template.get("spec"))
    labels_multiline(w, "Labels", md.get("labels"), indent="  ")
    if md.get("annotations"):
        annotations_multiline(w, "Annotations", md.get("annotations"), indent="  ", skip=False)
    if spec.get("serviceAccountName"):
        w.write(1, f"Service Account:\t{spec['serviceAccountName']}\n")
    if as_list(spec.get("initContainers")):
        describe_containers(w, "Init Containers", spec["initContainers"], None, None, "  ",
                            None)
    describe_containers(w, "Containers", as_list(spec.get("containers")), None, None, "  ",
                        None)
    describe_volumes(w, as_list(spec.get("volumes")), "  ")
    if spec.get("priorityClassName"):
        w.write(1, f"Priority Class Name:\t{spec['priorityClassName']}\n")
    labels_multiline(w, "Node-Selectors", spec.get("nodeSelector"), indent="  ")
    tolerations_multiline(w, "Tolerations", spec.get("tolerations"), indent="  ")


# --- containers ----------------------------------------------------------------------------

def describe_containers(w: Writer, label: str, containers: list[Any],
                        statuses: list[Any] | None, pod: Obj | None, space: str,
                        now: datetime | None) -> None:
    by_name = {s.get("name"): s for s in as_list(statuses)}
    w.write(0, f"{space}{label}:{' <none>' if not containers else ''}\n")
    for c in containers:
        status = by_name.get(c.get("name"))
        _basic_info(w, c, status, space)
        for title, key in (("Command", "command"), ("Args", "args")):
            if as_list(c.get(key)):
                w.write(2, f"{title}:\n")
                for item in c[key]:
                    for piece in str(item).split("\n"):
                        w.write(3, f"{piece}\n")
        if status is not None:
            _state(w, "State", as_dict(status.get("state")), now)
            if isinstance(dig(status, "lastState", "terminated"), dict):
                _state(w, "Last State", as_dict(status.get("lastState")), now)
            w.write(2, f"Ready:\t{bool_title(status.get('ready'))}\n")
            w.write(2, f"Restart Count:\t{status.get('restartCount', 0)}\n")
        _resources(w, as_dict(c.get("resources")))
        for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                           ("Startup", "startupProbe")):
            if isinstance(c.get(key), dict):
                w.write(2, f"{title}:\t{describe_probe(c[key])}\n")
        if as_list(c.get("envFrom")):
            _env_from(w, c["envFrom"])
        _env(w, c, pod)
        _mounts(w, c)


def _basic_info(w: Writer, c: dict[str, Any], status: dict[str, Any] | None,
                space: str) -> None:
    w.write(1, f"{' ' if space else ''}{c.get('name', '')}:\n")
    if status is not None:
        w.write(2, f"Container ID:\t{status.get('containerID', '')}\n")
    w.write(2, f"Image:\t{c.get('image', '')}\n")
    if status is not None:
        w.write(2, f"Image ID:\t{status.get('imageID', '')}\n")
    ports = as_list(c.get("ports"))
    port_text = ", ".join(f"{p.get('containerPort', 0)}/{p.get('protocol') or 'TCP'}"
                          for p in ports)
    host_text = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol') or 'TCP'}" for p in ports)
    if "," in port_text:
        w.write(2, f"Ports:\t{port_text}\n")
    else:
        w.write(2, f"Port:\t{port_text or '<none>'}\n")
    if "," in host_text:
        w.write(2, f"Host Ports:\t{host_text}\n")
    else:
        w.write(2, f"Host Port:\t{host_text or '<none>'}\n")
    if c.get("restartPolicy"):
        w.write(2, f"Restart Policy:\t{c['restartPolicy']}\n")


def _state(w: Writer, title: str, state: dict[str, Any], now: datetime | None) -> None:
    def when(value: Any) -> str:
        return rfc1123z(value, now or datetime.now().astimezone())

    if isinstance(state.get("running"), dict):
        w.write(2, f"{title}:\tRunning\n")
        w.write(3, f"Started:\t{when(state['running'].get('startedAt'))}\n")
    elif isinstance(state.get("waiting"), dict):
        w.write(2, f"{title}:\tWaiting\n")
        if state["waiting"].get("reason"):
            w.write(3, f"Reason:\t{state['waiting']['reason']}\n")
    elif isinstance(state.get("terminated"), dict):
        term = state["terminated"]
        w.write(2, f"{title}:\tTerminated\n")
        if term.get("reason"):
            w.write(3, f"Reason:\t{term['reason']}\n")
        if term.get("message"):
            w.write(3, f"Message:\t{term['message']}\n")
        w.write(3, f"Exit Code:\t{term.get('exitCode', 0)}\n")
        if term.get("signal"):
            w.write(3, f"Signal:\t{term['signal']}\n")
        w.write(3, f"Started:\t{when(term.get('startedAt'))}\n")
        w.write(3, f"Finished:\t{when(term.get('finishedAt'))}\n")
    else:
        w.write(2, f"{title}:\tWaiting\n")


def _resources(w: Writer, resources: dict[str, Any]) -> None:
    for title, key in (("Limits", "limits"), ("Requests", "requests")):
        values = as_dict(resources.get(key))
        if values:
            w.write(2, f"{title}:\n")
        for name in sorted(values):
            w.write(3, f"{name}:\t{go_value(values[name])}\n")


def describe_probe(probe: dict[str, Any]) -> str:
    attrs = (f"delay={probe.get('initialDelaySeconds', 0)}s "
             f"timeout={probe.get('timeoutSeconds', 1)}s "
             f"period={probe.get('periodSeconds', 10)}s "
             f"#success={probe.get('successThreshold', 1)} "
             f"#failure={probe.get('failureThreshold', 3)}")
    if isinstance(probe.get("exec"), dict):
        return f"exec {go_value(as_list(probe['exec'].get('command')))} {attrs}"
    if isinstance(probe.get("httpGet"), dict):
        get = probe["httpGet"]
        scheme = str(get.get("scheme") or "HTTP").lower()
        host, port = str(get.get("host", "")), str(get.get("port", ""))
        if port:
            host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return f"http-get {scheme}://{host}{get.get('path', '')} {attrs}"
    if isinstance(probe.get("tcpSocket"), dict):
        sock = probe["tcpSocket"]
        return f"tcp-socket {sock.get('host', '')}:{sock.get('port', '')} {attrs}"
    if isinstance(probe.get("grpc"), dict):
        grpc = probe["grpc"]
        return f"grpc <pod>:{grpc.get('port', 0)} {grpc.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _env_from(w: Writer, sources: list[Any]) -> None:
    w.write(2, "Environment Variables from:\n")
    for src in sources:
        kind, ref = ("ConfigMap", src.get("configMapRef")) if src.get("configMapRef") else (
            ("Secret", src.get("secretRef")) if src.get("secretRef") else ("", {}))
        ref = as_dict(ref)
        optional = go_bool(ref.get("optional"))
        prefix = f" with prefix '{src['prefix']}'" if src.get("prefix") else ""
        w.write(3, f"{ref.get('name', '')}\t{kind}{prefix}\tOptional: {optional}\n")


def _env(w: Writer, c: dict[str, Any], pod: Obj | None) -> None:
    env = as_list(c.get("env"))
    w.write(2, f"Environment:{'' if env else chr(9) + '<none>'}\n")
    for e in env:
        name, source = e.get("name", ""), e.get("valueFrom")
        if not isinstance(source, dict):
            for i, piece in enumerate(str(e.get("value", "")).split("\n")):
                w.write(3, f"{name}:\t{piece}\n" if i == 0 else f"\t{piece}\n")
            continue
        if isinstance(source.get("fieldRef"), dict):
            ref = source["fieldRef"]
            value = _field_value(pod, str(ref.get("fieldPath", ""))) if pod else ""
            w.write(3, f"{name}:\t{value} ({ref.get('apiVersion') or 'v1'}:"
                       f"{ref.get('fieldPath', '')})\n")
        elif isinstance(source.get("resourceFieldRef"), dict):
            ref = source["resourceFieldRef"]
            resource = str(ref.get("resource", ""))
            value = _resource_value(c, ref)
            if value == "0" and resource in ("limits.cpu", "limits.memory"):
                value = "node allocatable"
            w.write(3, f"{name}:\t{value} ({resource})\n")
        elif isinstance(source.get("secretKeyRef"), dict):
            ref = source["secretKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' in secret "
                       f"'{ref.get('name', '')}'>\tOptional: {go_bool(ref.get('optional'))}\n")
        elif isinstance(source.get("configMapKeyRef"), dict):
            ref = source["configMapKeyRef"]
            w.write(3, f"{name}:\t<set to the key '{ref.get('key', '')}' of config map "
                       f"'{ref.get('name', '')}'>\tOptional: {go_bool(ref.get('optional'))}\n")


def _field_value(pod: Obj, path: str) -> str:
    md = as_dict(pod.get("metadata"))
    for prefix, key in (("metadata.labels['", "labels"), ("metadata.annotations['",
                                                          "annotations")):
        if path.startswith(prefix) and path.endswith("']"):
            return str(as_dict(md.get(key)).get(path[len(prefix):-2], ""))
    simple = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": dig(pod, "spec", "nodeName"),
              "spec.serviceAccountName": dig(pod, "spec", "serviceAccountName"),
              "status.hostIP": dig(pod, "status", "hostIP"),
              "status.podIP": dig(pod, "status", "podIP")}
    if path in simple:
        return str(simple[path] or "")
    if path == "status.podIPs":
        return ",".join(str(i.get("ip", "")) for i in as_list(dig(pod, "status", "podIPs")))
    return ""


def _resource_value(c: dict[str, Any], ref: dict[str, Any]) -> str:
    kind, _, res = str(ref.get("resource", "")).partition(".")
    raw = dig(c, "resources", kind, res)
    if raw is None and kind == "requests":
        raw = dig(c, "resources", "limits", res)
    if raw is None:
        return "0"
    divisor = quantity.parse(ref.get("divisor") or "1").value or Decimal(1)
    return str(math.ceil(quantity.parse(raw).value / divisor))


def _mounts(w: Writer, c: dict[str, Any]) -> None:
    mounts = sorted(as_list(c.get("volumeMounts")), key=lambda m: str(m.get("mountPath", "")))
    w.write(2, f"Mounts:{'' if mounts else chr(9) + '<none>'}\n")
    for m in mounts:
        flags = ["ro" if m.get("readOnly") else "rw"]
        if m.get("subPath"):
            flags.append(f'path="{m["subPath"]}"')
        w.write(3, f"{m.get('mountPath', '')} from {m.get('name', '')} ({','.join(flags)})\n")


# --- volumes and QoS ---------------------------------------------------------------------

def describe_volumes(w: Writer, volumes: list[Any], space: str) -> None:
    if not volumes:
        w.write(0, f"{space}Volumes:\t<none>\n")
        return
    w.write(0, f"{space}Volumes:\n")
    for v in volumes:
        w.write(1, f"{' ' if space else ''}{v.get('name', '')}:\n")
        if isinstance(v.get("hostPath"), dict):
            hp = v["hostPath"]
            w.write(2, "Type:\tHostPath (bare host directory volume)\n"
                       f"    Path:\t{hp.get('path', '')}\n"
                       f"    HostPathType:\t{hp.get('type') or '<none>'}\n")
        elif isinstance(v.get("emptyDir"), dict):
            ed = v["emptyDir"]
            limit = ed.get("sizeLimit")
            w.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"
                       f"    Medium:\t{ed.get('medium', '')}\n"
                       f"    SizeLimit:\t{go_value(limit) if limit else '<unset>'}\n")
        elif isinstance(v.get("secret"), dict):
            s = v["secret"]
            w.write(2, "Type:\tSecret (a volume populated by a Secret)\n"
                       f"    SecretName:\t{s.get('secretName', '')}\n"
                       f"    Optional:\t{go_bool(s.get('optional'))}\n")
        elif isinstance(v.get("configMap"), dict):
            cm = v["configMap"]
            w.write(2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"
                       f"    Name:\t{cm.get('name', '')}\n"
                       f"    Optional:\t{go_bool(cm.get('optional'))}\n")
        elif isinstance(v.get("persistentVolumeClaim"), dict):
            pvc = v["persistentVolumeClaim"]
            w.write(2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim "
                       "in the same namespace)\n"
                       f"    ClaimName:\t{pvc.get('claimName', '')}\n"
                       f"    ReadOnly:\t{go_bool(pvc.get('readOnly'))}\n")
        elif isinstance(v.get("projected"), dict):
            _projected(w, v["projected"])
        elif isinstance(v.get("downwardAPI"), dict):
            w.write(2, "Type:\tDownwardAPI (a volume populated by information about the pod)\n"
                       "    Items:\n")
            for item in as_list(v["downwardAPI"].get("items")):
                path = dig(item, "fieldRef", "fieldPath") or dig(item, "resourceFieldRef",
                                                                  "resource")
                w.write(3, f"{path} -> {item.get('path', '')}\n")
        else:
            w.write(1, "<unknown>\n")


def _projected(w: Writer, projected: dict[str, Any]) -> None:
    w.write(2, "Type:\tProjected (a volume that contains injected data from multiple "
               "sources)\n")

    def optional(ref: dict[str, Any]) -> str:
        return "<nil>" if ref.get("optional") is None else go_bool(ref["optional"])

    for src in as_list(projected.get("sources")):
        if isinstance(src.get("secret"), dict):
            w.write(2, f"SecretName:\t{src['secret'].get('name', '')}\n"
                       f"    SecretOptionalName:\t{optional(src['secret'])}\n")
        elif isinstance(src.get("downwardAPI"), dict):
            w.write(2, "DownwardAPI:\ttrue\n")
        elif isinstance(src.get("configMap"), dict):
            w.write(2, f"ConfigMapName:\t{src['configMap'].get('name', '')}\n"
                       f"    ConfigMapOptional:\t{optional(src['configMap'])}\n")
        elif isinstance(src.get("serviceAccountToken"), dict):
            seconds = src["serviceAccountToken"].get("expirationSeconds", 3600)
            w.write(2, f"TokenExpirationSeconds:\t{seconds}\n")


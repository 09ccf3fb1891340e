"""Rules for Services: ports, types, traffic policies, and a clusterIP that never moves."""

from __future__ import annotations

import ipaddress
from typing import Any

from jota.api import errors, names
from jota.api.meta import Obj
from jota.api.validation.common import (
    Errs,
    arr,
    as_int,
    check_name,
    child,
    duplicate,
    each,
    immutable,
    index,
    invalid,
    obj,
    one_of,
)
from jota.api.validation.meta import validate_labels
from jota.api.validation.pod import PROTOCOLS, port_or_name

TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def validate_service(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    stype = spec.get("type") or "ClusterIP"
    errs = one_of("spec.type", spec.get("type"), TYPES)
    cluster_ip = spec.get("clusterIP")
    headless = cluster_ip == "None"
    if stype == "ExternalName":
        ext = spec.get("externalName")
        if not ext:
            errs.append(errors.required("spec.externalName"))
        else:
            errs += check_name("spec.externalName", ext, names.is_dns1123_subdomain)
    ports = spec.get("ports")
    if not arr(ports) and stype != "ExternalName" and not headless and not isinstance(
            ports, dict | str | int | float | bool):
        errs.append(errors.required("spec.ports"))
    errs += _ports(arr(ports), stype)
    errs += one_of("spec.sessionAffinity", spec.get("sessionAffinity"), ["ClientIP", "None"])
    errs += one_of("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"),
                   ["PreferDualStack", "RequireDualStack", "SingleStack"])
    errs += one_of("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"),
                   ["Cluster", "Local"])
    etp = spec.get("externalTrafficPolicy")
    if etp and stype not in _NODE_PORT_TYPES:
        errs.append(invalid("spec.externalTrafficPolicy", etp,
                            "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
    else:
        errs += one_of("spec.externalTrafficPolicy", etp, ["Cluster", "Local"])
    if isinstance(cluster_ip, str) and cluster_ip not in ("", "None"):
        errs += _ip("spec.clusterIP", cluster_ip)
    for i, ip in enumerate(arr(spec.get("externalIPs"))):
        if isinstance(ip, str):
            errs += _ip(index("spec.externalIPs", i), ip)
    errs += validate_labels(spec.get("selector"), "spec.selector")
    if old is not None:
        old_ip = obj(old.get("spec")).get("clusterIP")
        if old_ip and cluster_ip and stype != "ExternalName":
            errs += immutable("spec.clusterIP", cluster_ip, old_ip)
    return errs


def _ip(path: str, value: str) -> Errs:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [invalid(path, value,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    return []


def _ports(ports: list[Any], stype: str) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, raw in enumerate(ports):
        p, path = obj(raw), index("spec.ports", i)
        name = p.get("name")
        if not name:
            if len(ports) > 1:
                errs.append(errors.required(child(path, "name")))
        elif isinstance(name, str):
            errs += each(child(path, "name"), name, names.is_dns1123_label(name))
            if name in seen:
                errs.append(duplicate(child(path, "name"), name))
            seen.add(name)
        port = p.get("port")
        if port is None:
            errs.append(errors.required(child(path, "port")))
        elif as_int(port) is not None:
            errs += each(child(path, "port"), port, names.is_valid_port_num(port))
        errs += one_of(child(path, "protocol"), p.get("protocol"), PROTOCOLS)
        errs += port_or_name(child(path, "targetPort"), p.get("targetPort"))
        node_port = as_int(p.get("nodePort"))
        if node_port:
            if stype not in _NODE_PORT_TYPES:
                errs.append(errors.forbidden(child(path, "nodePort"),
                                             f"may not be used when `type` is '{stype}'"))
            else:
                # The range (--service-node-port-range) is the apiserver's allocator's to
                # check, as in Kubernetes: validation knows no flags.
                errs += each(child(path, "nodePort"), node_port,
                             names.is_valid_port_num(node_port))
    return errs

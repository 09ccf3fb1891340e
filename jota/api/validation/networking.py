"""Rules for Ingresses and NetworkPolicies."""

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
    each,
    index,
    invalid,
    obj,
    one_of,
)
from jota.api.validation.meta import validate_label_selector
from jota.api.validation.pod import PROTOCOLS, port_or_name

PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]


def _wildcard_host(path: str, host: str) -> Errs:
    try:
        ipaddress.ip_address(host)
        return [invalid(path, host, "must be a DNS name, not an IP address")]
    except ValueError:
        pass
    if host.startswith("*."):
        msgs = names.is_dns1123_subdomain(host[2:])
        return each(path, host, msgs)
    return each(path, host, names.is_dns1123_subdomain(host))


def _backend(b: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    svc, res = b.get("service"), b.get("resource")
    if svc is not None and res is not None:
        errs.append(invalid(path, "<backend>", "cannot set both resource and service backends"))
    elif svc is None and res is None:
        errs.append(invalid(path, "<backend>", "resource or service backend is required"))
    s = obj(svc)
    if svc is not None:
        if not s.get("name"):
            errs.append(errors.required(child(child(path, "service"), "name")))
        else:
            errs += check_name(child(child(path, "service"), "name"), s.get("name"),
                               names.is_dns1035_label)
        port = obj(s.get("port"))
        port_path = child(child(path, "service"), "port")
        if not port.get("name") and not port.get("number"):
            errs.append(errors.required(port_path, "port name or number is required"))
        elif port.get("name") and port.get("number"):
            errs.append(invalid(port_path, port, "cannot set both port name & port number"))
        elif port.get("number") is not None:
            errs += port_or_name(child(port_path, "number"), port.get("number"))
        elif port.get("name") is not None:
            errs += port_or_name(child(port_path, "name"), port.get("name"))
    return errs


def validate_ingress(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs: Errs = []
    rules = arr(spec.get("rules"))
    if spec.get("defaultBackend") is None and not rules:
        errs.append(invalid("spec", "<spec>", "either `defaultBackend` or `rules` must be "
                                             "specified"))
    if isinstance(spec.get("defaultBackend"), dict):
        errs += _backend(spec["defaultBackend"], "spec.defaultBackend")
    if spec.get("ingressClassName"):
        errs += check_name("spec.ingressClassName", spec.get("ingressClassName"),
                           names.is_dns1123_subdomain)
    for i, rule in enumerate(rules):
        rule, rp = obj(rule), index("spec.rules", i)
        if isinstance(rule.get("host"), str) and rule.get("host"):
            errs += _wildcard_host(child(rp, "host"), rule["host"])
        http = rule.get("http")
        if http is None:
            continue
        paths = arr(obj(http).get("paths"))
        if not paths:
            errs.append(errors.required(child(rp, "http.paths")))
        for j, p in enumerate(paths):
            p, pp = obj(p), index(child(rp, "http.paths"), j)
            ptype, ppath = p.get("pathType"), p.get("path")
            if not ptype:
                errs.append(errors.required(child(pp, "pathType"), "pathType must be specified"))
            else:
                errs += one_of(child(pp, "pathType"), ptype, PATH_TYPES)
            if ptype in ("Exact", "Prefix") and isinstance(ppath, str) and \
                    not ppath.startswith("/"):
                errs.append(invalid(child(pp, "path"), ppath, "must be an absolute path"))
            errs += _backend(obj(p.get("backend")), child(pp, "backend"))
    for i, tls in enumerate(arr(spec.get("tls"))):
        for j, host in enumerate(arr(obj(tls).get("hosts"))):
            if isinstance(host, str):
                errs += _wildcard_host(index(child(index("spec.tls", i), "hosts"), j), host)
    return errs


def _peer(peer: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    chosen = [k for k in ("podSelector", "namespaceSelector", "ipBlock")
              if peer.get(k) is not None]
    if not chosen:
        errs.append(errors.required(path, "must specify a peer"))
    elif "ipBlock" in chosen and len(chosen) > 1:
        errs.append(errors.forbidden(path, "may not specify both ipBlock and another peer"))
    for sel in ("podSelector", "namespaceSelector"):
        errs += validate_label_selector(peer.get(sel), child(path, sel))
    block = obj(peer.get("ipBlock"))
    if peer.get("ipBlock") is not None:
        cidr = block.get("cidr")
        if not cidr:
            errs.append(errors.required(child(child(path, "ipBlock"), "cidr")))
        elif isinstance(cidr, str):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                errs.append(invalid(child(child(path, "ipBlock"), "cidr"), cidr,
                                    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                    "2001:db8::/64)"))
    return errs


def _np_port(p: dict[str, Any], path: str) -> Errs:
    errs = one_of(child(path, "protocol"), p.get("protocol"), PROTOCOLS)
    if p.get("port") is not None:
        errs += port_or_name(child(path, "port"), p.get("port"))
    end = as_int(p.get("endPort"))
    if end is not None:
        port = as_int(p.get("port"))
        if port is None:
            errs.append(errors.required(child(path, "port"),
                                        "must be specified when endPort is specified"))
        elif end < port:
            errs.append(invalid(child(path, "endPort"), end,
                                "must be greater than or equal to `port`"))
    return errs


def validate_network_policy(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(arr(spec.get(direction))):
            rule, rp = obj(rule), index(f"spec.{direction}", i)
            for j, port in enumerate(arr(rule.get("ports"))):
                errs += _np_port(obj(port), index(child(rp, "ports"), j))
            for j, peer in enumerate(arr(rule.get(peers))):
                errs += _peer(obj(peer), index(child(rp, peers), j))
    types = arr(spec.get("policyTypes"))
    for i, t in enumerate(types):
        errs += one_of(index("spec.policyTypes", i), t, ["Egress", "Ingress"])
    if len(types) > 2:
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two "
                                                       "policyTypes"))
    return errs

"""The networking kinds' columns (Service, Endpoints, EndpointSlice, Ingress, ...).

Split from columns.py; the strings (`80:30080/TCP`, `<pending>`, `+ 1 more...`)
are kubectl's, and describe reuses format_endpoints and service_ports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jota.api.meta import Obj, name_of
from jota.cli.printers.age import human_age
from jota.cli.printers.fields import (
    NONE,
    as_dict,
    as_list,
    dig,
    format_labels,
    format_selector,
    go_value,
)

Row = Callable[[Obj, datetime], list[str]]


def _age(obj: Obj, now: datetime) -> str:
    return human_age(dig(obj, "metadata", "creationTimestamp"), now)


def _s(obj: Any, *path: str | int) -> str:
    return go_value(dig(obj, *path, default=""))


def _lb_ingress(ingress: list[Any], wide: bool) -> str:
    found = sorted({str(i.get("ip") or i.get("hostname")) for i in ingress
                    if isinstance(i, dict) and (i.get("ip") or i.get("hostname"))})
    text = ",".join(found)
    if not wide and len(text) > 16:
        text = text[:13] + "..."
    return text


def _external_ip(svc: Obj, wide: bool) -> str:
    spec = as_dict(svc.get("spec"))
    stype = spec.get("type") or "ClusterIP"
    external = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    if stype in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if stype == "LoadBalancer":
        lb = _lb_ingress(as_list(dig(svc, "status", "loadBalancer", "ingress")), wide)
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + external)
        return lb or "<pending>"
    if stype == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def service_ports(ports: list[Any]) -> str:
    pieces = []
    for p in ports:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            pieces.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port')}/{proto}")
    return ",".join(pieces)


def service_row(wide: bool) -> Row:
    def row(svc: Obj, now: datetime) -> list[str]:
        spec = as_dict(svc.get("spec"))
        ips = as_list(spec.get("clusterIPs"))
        cluster_ip = str(ips[0]) if ips else str(spec.get("clusterIP") or NONE)
        return [name_of(svc), str(spec.get("type") or "ClusterIP"), cluster_ip,
                _external_ip(svc, wide), service_ports(as_list(spec.get("ports"))) or NONE,
                _age(svc, now), format_labels(spec.get("selector"))]
    return row


def format_endpoints(ep: Obj, port_names: set[str] | None = None) -> str:
    """formatEndpoints: up to three `ip:port`, then `+ N more...`; `<none>` without subsets."""
    subsets = as_list(ep.get("subsets"))
    if not subsets:
        return NONE
    shown: list[str] = []
    more, count = False, 0
    for ss in subsets:
        addresses = [str(a.get("ip", "")) for a in as_list(ss.get("addresses"))]
        ports = as_list(ss.get("ports"))
        targets: list[tuple[list[str], str | None]] = (
            [(addresses, None)] if not ports else
            [(addresses, str(p.get("port"))) for p in ports
             if port_names is None or str(p.get("name") or "") in port_names])
        for addrs, port in targets:
            count += len(addrs)
            for ip in addrs:
                if len(shown) == 3:
                    more = True
                    break
                shown.append(ip if port is None else _host_port(ip, port))
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if more else text


def _host_port(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoints_row(ep: Obj, now: datetime) -> list[str]:
    return [name_of(ep), format_endpoints(ep), _age(ep, now)]


def _list_more(items: list[str], count: int) -> str:
    if count > 3:
        return f"{','.join(items[:3])} + {count - 3} more..."
    return ",".join(items) or "<unset>"


def endpointslice_row(es: Obj, now: datetime) -> list[str]:
    ports = []
    for p in as_list(es.get("ports")):
        if p.get("port") is not None:
            ports.append(str(p["port"]))
        elif p.get("name") is not None:
            ports.append(str(p["name"]))
        else:
            ports.append("*")
    addrs = [str(a) for e in as_list(es.get("endpoints")) for a in as_list(e.get("addresses"))]
    return [name_of(es), str(es.get("addressType", "")), _list_more(ports, len(ports)),
            _list_more(addrs, len(addrs)), _age(es, now)]


def ingress_row(wide: bool) -> Row:
    def row(ing: Obj, now: datetime) -> list[str]:
        spec = as_dict(ing.get("spec"))
        rules = as_list(spec.get("rules"))
        hosts = [str(r["host"]) for r in rules[:3] if r.get("host")]
        host_text = ",".join(hosts) or "*"
        if len(rules) > 3 and hosts:
            host_text = f"{host_text} + {len(rules) - 3} more..."
        address = _lb_ingress(as_list(dig(ing, "status", "loadBalancer", "ingress")), wide)
        return [name_of(ing), str(spec.get("ingressClassName") or NONE), host_text, address,
                "80, 443" if spec.get("tls") else "80", _age(ing, now)]
    return row


def ingressclass_row(ic: Obj, now: datetime) -> list[str]:
    params = dig(ic, "spec", "parameters")
    text = NONE
    if isinstance(params, dict):
        text = str(params.get("kind", ""))
        if params.get("apiGroup"):
            text += "." + str(params["apiGroup"])
        text += "/" + str(params.get("name", ""))
    return [name_of(ic), _s(ic, "spec", "controller"), text, _age(ic, now)]


def networkpolicy_row(np: Obj, now: datetime) -> list[str]:
    return [name_of(np), format_selector(dig(np, "spec", "podSelector")), _age(np, now)]



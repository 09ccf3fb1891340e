"""Prometheus HTTP service discovery, served by the controller-manager.

`/sd/nodes` lists every Node's InternalIP at the agent's metrics port with the
meta labels Prometheus' own `kubernetes_sd_configs` (role node) sets, so relabel
rules written for Kubernetes apply unchanged; `/sd/control-plane` lists the
control-plane daemons' metrics endpoints with `__meta_jota_component`. Both are
pure functions of the objects and flags: Prometheus' HTTP SD format is a JSON
list of `{"targets": [...], "labels": {...}}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jota.api.meta import Obj

NODE_METRICS_PORT = 10255  # the agent's --metrics-port (kubelet's read-only port)
COMPONENTS = ("apiserver", "scheduler", "controller-manager")

TargetGroup = dict[str, Any]


def _label_name(text: str) -> str:
    """A Kubernetes label key as Prometheus' kubernetes_sd writes it in a meta label."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", text)


def internal_ip(node: Obj) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address", ""))
    return ""


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def node_targets(nodes: Iterable[Obj], port: int = NODE_METRICS_PORT) -> list[TargetGroup]:
    """One group per Node that has an InternalIP, sorted by name."""
    groups = []
    for node in sorted(nodes, key=lambda n: (n.get("metadata") or {}).get("name", "")):
        md = node.get("metadata") or {}
        ip = internal_ip(node)
        if not ip:
            continue
        labels = {"__meta_kubernetes_node_name": md.get("name", ""),
                  "__meta_kubernetes_node_address_InternalIP": ip}
        for key, value in sorted((md.get("labels") or {}).items()):
            labels[f"__meta_kubernetes_node_label_{_label_name(key)}"] = str(value)
            labels[f"__meta_kubernetes_node_labelpresent_{_label_name(key)}"] = "true"
        groups.append({"targets": [_host_port(ip, port)], "labels": labels})
    return groups


def control_plane_targets(components: Mapping[str, str | Sequence[str]]
                          ) -> list[TargetGroup]:
    """`{"apiserver": "127.0.0.1:8080", ...}` -> one group per component, with every
    replica's address (`{"apiserver": ["127.0.0.1:8080", "127.0.0.1:8081"]}`) as its
    targets."""
    groups = []
    for name, addresses in sorted(components.items()):
        targets = [addresses] if isinstance(addresses, str) else list(addresses)
        if any(targets):
            groups.append({"targets": [t for t in targets if t],
                           "labels": {"__meta_jota_component": name}})
    return groups


def parse_components(text: str) -> dict[str, list[str]]:
    """`apiserver=127.0.0.1:8080,scheduler=127.0.0.1:10259` -> a dict of each component's
    addresses (a component named again is another replica: `apiserver=h:8080,apiserver=
    h:8081`); ValueError names the bad entry."""
    out: dict[str, list[str]] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, address = item.partition("=")
        host, colon, port = address.rpartition(":")
        if not sep or name not in COMPONENTS or not colon or not host or not port.isdigit():
            raise ValueError(f"invalid entry {item!r}: use COMPONENT=HOST:PORT with COMPONENT "
                             f"one of {', '.join(COMPONENTS)}")
        out.setdefault(name, []).append(address)
    return out

"""A pod's QoS class, as Kubernetes computes it (v1qos.ComputePodQOS).

Shared by the node agent (status.qosClass, cgroup settings) and the CLI
(describe), so both always agree.
"""

from __future__ import annotations

from typing import Any

from jota.api.meta import Obj
from jota.api.quantity import cpu_millis, memory_bytes


def _amount(name: str, q: Any) -> int:
    try:
        return cpu_millis(q) if name == "cpu" else memory_bytes(q)
    except (ValueError, TypeError):
        return 0  # a quantity validation would have refused: counts as unset


def qos_class(pod: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, over containers and init containers
    (cpu and memory only; requests default to limits, as the apiserver defaults them)."""
    spec = pod.get("spec") or {}
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        res = (c.get("resources") or {}) if isinstance(c, dict) else {}
        for name, q in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
            if name in ("cpu", "memory") and (v := _amount(name, q)) > 0:
                requests[name] = requests.get(name, 0) + v
        found = set()
        for name, q in (res.get("limits") or {}).items():
            if name in ("cpu", "memory") and (v := _amount(name, q)) > 0:
                found.add(name)
                limits[name] = limits.get(name, 0) + v
        if found != {"cpu", "memory"}:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and all(limits.get(k) == v for k, v in requests.items()) \
            and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"

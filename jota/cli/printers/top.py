"""`jota top`'s tables, as kubectl's top printer (pure).

CPU is printed in millicores (`215m`), memory in MiB (`12Mi`), node percentages
against the node's allocatable; `--sort-by cpu|memory` puts the largest first.
"""

from __future__ import annotations

from collections.abc import Sequence

from jota.api.meta import Obj
from jota.cli.printers.table import render
from jota.cli.printers.usage import milli

UNKNOWN = "<unknown>"
NODE_HEADERS = ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]


def _cpu(m: int) -> str:
    return f"{m}m"


def _memory(m: int) -> str:
    return f"{m // 1000 // (1024 * 1024)}Mi"


def _usage(obj: Obj) -> tuple[int, int]:
    """(cpu, memory) in milli-units of a NodeMetrics, or the sum of a PodMetrics'."""
    if "usage" in obj:
        u = obj.get("usage") or {}
        return milli(u.get("cpu", 0)), milli(u.get("memory", 0))
    cpu = mem = 0
    for c in obj.get("containers") or []:
        u = (c or {}).get("usage") or {}
        cpu += milli(u.get("cpu", 0))
        mem += milli(u.get("memory", 0))
    return cpu, mem


def _sorted(items: Sequence[Obj], sort_by: str) -> list[Obj]:
    if sort_by == "cpu":
        return sorted(items, key=lambda o: -_usage(o)[0])
    if sort_by == "memory":
        return sorted(items, key=lambda o: -_usage(o)[1])
    return list(items)


def _name(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def node_table(metrics: Sequence[Obj], nodes: Sequence[Obj], *, sort_by: str = "",
               headers: bool = True) -> str:
    """Nodes with metrics (sorted as asked), then those without, as `<unknown>`."""
    allocatable = {_name(n): (n.get("status") or {}).get("allocatable") or {} for n in nodes}
    rows: list[list[str]] = [list(NODE_HEADERS)] if headers else []
    seen = set()
    for m in _sorted(metrics, sort_by):
        name = _name(m)
        seen.add(name)
        cpu, mem = _usage(m)
        alloc = allocatable.get(name, {})
        cpu_total, mem_total = milli(alloc.get("cpu", 0)), milli(alloc.get("memory", 0))
        rows.append([name, _cpu(cpu), f"{cpu * 100 // cpu_total}%" if cpu_total else UNKNOWN,
                     _memory(mem), f"{mem * 100 // mem_total}%" if mem_total else UNKNOWN])
    for n in nodes:
        if _name(n) not in seen:
            rows.append([_name(n), UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN])
    return render(rows)


def pod_table(metrics: Sequence[Obj], *, all_namespaces: bool = False,
              containers: bool = False, sort_by: str = "", headers: bool = True,
              total: bool = False) -> str:
    head = (["NAMESPACE"] if all_namespaces else []) + (
        ["POD", "NAME"] if containers else ["NAME"]) + ["CPU(cores)", "MEMORY(bytes)"]
    rows: list[list[str]] = [head] if headers else []
    cpu_sum = mem_sum = 0
    for m in _sorted(metrics, sort_by):
        ns = [str((m.get("metadata") or {}).get("namespace", ""))] if all_namespaces else []
        if containers:
            for c in m.get("containers") or []:
                u = (c or {}).get("usage") or {}
                cpu, mem = milli(u.get("cpu", 0)), milli(u.get("memory", 0))
                rows.append([*ns, _name(m), str(c.get("name", "")), _cpu(cpu), _memory(mem)])
        else:
            cpu, mem = _usage(m)
            rows.append([*ns, _name(m), _cpu(cpu), _memory(mem)])
        pod_cpu, pod_mem = _usage(m)
        cpu_sum += pod_cpu
        mem_sum += pod_mem
    if total:
        pad = [""] * (len(head) - 2)
        rows.append([*pad, "________", "________"])
        rows.append([*pad, _cpu(cpu_sum), _memory(mem_sum)])
    return render(rows)


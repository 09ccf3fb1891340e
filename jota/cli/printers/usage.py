"""Resource usage quantities as kubectl and metrics-server print them (shared by
`jota top` and the NodeMetrics/PodMetrics columns of `jota get`)."""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from decimal import Decimal

from jota.api.meta import Obj
from jota.api.quantity import format_quantity, parse_quantity


def milli(q: object) -> int:
    """Quantity.MilliValue: rounded up."""
    try:
        return math.ceil(parse_quantity(q).scaleb(3))  # type: ignore[arg-type]
    except ValueError:
        return 0


def metrics_row(m: Obj, now: datetime) -> list[str]:
    """`jota get nodemetrics/podmetrics`: metrics-server's table (NAME CPU MEMORY WINDOW),
    a NodeMetrics' usage or the sum of a PodMetrics' containers', as quantities."""
    usages = ([c.get("usage") or {} for c in m.get("containers") or []]
              if "containers" in m else [m.get("usage") or {}])
    totals = []
    for name, style in (("cpu", "decimal"), ("memory", "binary")):
        total = Decimal(0)
        for u in usages:
            with contextlib.suppress(ValueError):
                total += parse_quantity(u.get(name, 0))
        totals.append(format_quantity(total, style))
    return [str((m.get("metadata") or {}).get("name", "")), *totals, str(m.get("window", ""))]

"""`jota describe hpa`: kubectl's HorizontalPodAutoscaler (autoscaling/v2) describer."""

from __future__ import annotations

from datetime import datetime

from jota.api.meta import Obj
from jota.cli.printers.age import rfc1123z
from jota.cli.printers.describe_common import (
    Writer,
    annotations_multiline,
    describe_events,
    labels_multiline,
)
from jota.cli.printers.fields import as_dict, as_list

UNKNOWN = "<unknown>"


def _resource_line(w: Writer, metric: Obj, current: Obj | None) -> None:
    res = as_dict(metric.get("resource"))
    target = as_dict(res.get("target"))
    now = as_dict(as_dict((current or {}).get("resource")).get("current"))
    name = res.get("name", "")
    if target.get("averageValue") is not None:
        value = str(now["averageValue"]) if current and "averageValue" in now else UNKNOWN
        w.write(1, f"resource {name} on pods:\t{value} / {target['averageValue']}\n")
        return
    shown = UNKNOWN
    if current and now.get("averageUtilization") is not None:
        shown = f"{now['averageUtilization']}% ({now.get('averageValue', '0')})"
    goal = (f"{target['averageUtilization']}%" if target.get("averageUtilization") is not None
            else "<auto>")
    w.write(1, f"resource {name} on pods  (as a percentage of request):\t{shown} / {goal}\n")


def _direction(w: Writer, title: str, rules: object) -> None:
    if not isinstance(rules, dict):
        return
    w.write(1, f"{title}:\n")
    if rules.get("stabilizationWindowSeconds") is not None:
        w.write(2, f"Stabilization Window: {rules['stabilizationWindowSeconds']} seconds\n")
    policies = as_list(rules.get("policies"))
    if policies:
        w.write(2, f"Select Policy: {rules.get('selectPolicy') or '<unset>'}\n")
        w.write(2, "Policies:\n")
        for p in policies:
            w.write(3, f"  - Type={p.get('type')}  Value={p.get('value')}  "
                       f"Period={p.get('periodSeconds')} seconds\n")


def describe_hpa(hpa: Obj, events: list[Obj] | None, now: datetime) -> str:
    w = Writer()
    md, spec, status = (as_dict(hpa.get(k)) for k in ("metadata", "spec", "status"))
    ref = as_dict(spec.get("scaleTargetRef"))
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Namespace:\t{md.get('namespace', '')}\n")
    labels_multiline(w, "Labels", md.get("labels"))
    annotations_multiline(w, "Annotations", md.get("annotations"))
    w.write(0, f"CreationTimestamp:\t{rfc1123z(md.get('creationTimestamp'), now)}\n")
    w.write(0, f"Reference:\t{ref.get('kind', '')}/{ref.get('name', '')}\n")
    w.write(0, "Metrics:\t( current / target )\n")
    current = as_list(status.get("currentMetrics"))
    for i, metric in enumerate(as_list(spec.get("metrics"))):
        if metric.get("type") == "Resource":
            _resource_line(w, metric, current[i] if i < len(current) else None)
    minimum = spec.get("minReplicas")
    w.write(0, f"Min replicas:\t{minimum if minimum is not None else '<unset>'}\n")
    w.write(0, f"Max replicas:\t{spec.get('maxReplicas', 0)}\n")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        w.write(0, "Behavior:\n")
        _direction(w, "Scale Up", behavior.get("scaleUp"))
        _direction(w, "Scale Down", behavior.get("scaleDown"))
    w.write(0, f"{ref.get('kind', '')} pods:\t{status.get('currentReplicas', 0)} current / "
               f"{status.get('desiredReplicas', 0)} desired\n")
    conditions = as_list(status.get("conditions"))
    if conditions:
        w.write(0, "Conditions:\n")
        w.write(1, "Type\tStatus\tReason\tMessage\n")
        w.write(1, "----\t------\t------\t-------\n")
        for c in conditions:
            w.write(1, f"{c.get('type', '')}\t{c.get('status', '')}\t{c.get('reason', '')}\t"
                       f"{c.get('message', '')}\n")
    describe_events(w, events, now)
    return w.text()

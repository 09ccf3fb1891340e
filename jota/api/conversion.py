"""Objects sent in an older apiVersion, converted to the one Jota stores.

Kubernetes stores each kind in one version and converts on the way in and out;
Jota serves one version per kind, so a document in an accepted older version
(`ResourceType.also_versions`) is converted once, on the way in, and every
reader (the CLI, the HPA controller) sees one shape. Today that is
autoscaling/v1 HorizontalPodAutoscalers, stored as autoscaling/v2 (as
kube-apiserver stores them): `targetCPUUtilizationPercentage` becomes a cpu
Resource metric of type Utilization, `currentCPUUtilizationPercentage` its
current value.
"""

from __future__ import annotations

from typing import Any

from jota.api.meta import Obj


def _cpu_metric(key: str, value: Any) -> Obj:
    return {"type": "Resource", "resource": {"name": "cpu", key: value}}


def hpa_v1_to_v2(obj: Obj) -> Obj:
    """An autoscaling/v1 HorizontalPodAutoscaler as autoscaling/v2 (a new document)."""
    out: Obj = {k: v for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = "autoscaling/v2"
    spec = obj.get("spec")
    if isinstance(spec, dict):
        new_spec = {k: v for k, v in spec.items() if k != "targetCPUUtilizationPercentage"}
        target = spec.get("targetCPUUtilizationPercentage")
        if target is not None:
            new_spec["metrics"] = [_cpu_metric("target", {"type": "Utilization",
                                                          "averageUtilization": target})]
        out["spec"] = new_spec
    elif "spec" in obj:
        out["spec"] = spec
    status = obj.get("status")
    if isinstance(status, dict):
        new_status = {k: v for k, v in status.items()
                      if k != "currentCPUUtilizationPercentage"}
        current = status.get("currentCPUUtilizationPercentage")
        if current is not None:
            new_status["currentMetrics"] = [_cpu_metric("current",
                                                        {"averageUtilization": current})]
        new_status.setdefault("desiredReplicas", status.get("currentReplicas", 0))
        out["status"] = new_status
    elif "status" in obj:
        out["status"] = status
    return out


def to_stored_version(obj: Obj) -> Obj:
    """`obj` in the version Jota stores its kind in (itself when it already is)."""
    if obj.get("kind") == "HorizontalPodAutoscaler" and \
            obj.get("apiVersion") == "autoscaling/v1":
        return hpa_v1_to_v2(obj)
    return obj

"""Defaults of the smaller kinds."""

from __future__ import annotations

import copy

from jota.api.defaults.common import fill, items, sub
from jota.api.meta import Obj

_SCALE_UP = {
    "stabilizationWindowSeconds": 0, "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                 {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_SCALE_DOWN = {
    "stabilizationWindowSeconds": 300, "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_RBAC_GROUP = "rbac.authorization.k8s.io"


def hpa(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    fill(spec, minReplicas=1)
    if o.get("apiVersion") == "autoscaling/v1":
        return
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    behavior = sub(spec, "behavior", create=False)
    if behavior is not None:
        # Only a behavior that is stated gets its gaps filled (SetDefaults_HPABehavior).
        for direction, rules in (("scaleUp", _SCALE_UP), ("scaleDown", _SCALE_DOWN)):
            fill(sub(behavior, direction), **copy.deepcopy(rules))


def pvc(o: Obj) -> None:
    fill(sub(o, "spec"), volumeMode="Filesystem")


def pv(o: Obj) -> None:
    fill(sub(o, "spec"), persistentVolumeReclaimPolicy="Retain", volumeMode="Filesystem")


def secret(o: Obj) -> None:
    fill(o, type="Opaque")


def namespace(o: Obj) -> None:
    fill(sub(o, "spec"), finalizers=["kubernetes"])
    md = sub(o, "metadata")
    name = md.get("name") if md is not None else None
    if isinstance(name, str) and name:
        labels = sub(md, "labels")
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = name


def network_policy(o: Obj) -> None:
    spec = sub(o, "spec")
    if spec is None:
        return
    for direction in ("ingress", "egress"):
        for rule in items(spec, direction):
            for port in items(rule, "ports"):
                fill(port, protocol="TCP")
    if spec.get("policyTypes") is None:
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def endpoints(o: Obj) -> None:
    for subset in items(o, "subsets"):
        for port in items(subset, "ports"):
            fill(port, protocol="TCP")


def storage_class(o: Obj) -> None:
    fill(o, reclaimPolicy="Delete", volumeBindingMode="Immediate")


def priority_class(o: Obj) -> None:
    fill(o, preemptionPolicy="PreemptLowerPriority")


def role_binding(o: Obj) -> None:
    for subject in items(o, "subjects"):
        if subject.get("apiGroup") is None:
            kind = subject.get("kind")
            subject["apiGroup"] = _RBAC_GROUP if kind in ("User", "Group") else ""

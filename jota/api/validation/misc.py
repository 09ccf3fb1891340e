"""Rules for the smaller kinds: HorizontalPodAutoscaler, Namespace, PodDisruptionBudget,
CustomResourceDefinition."""

from __future__ import annotations

from typing import Any

from jota.api import errors, names
from jota.api.meta import Obj
from jota.api.validation.common import (
    Errs,
    arr,
    as_int,
    check_name,
    child,
    index,
    int_or_percent,
    invalid,
    nonnegative,
    not_more_than_100_percent,
    obj,
    one_of,
    positive,
)
from jota.api.validation.meta import validate_label_selector

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
# The system PriorityClasses (name -> value); the apiserver creates them at start.
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000,
                           "system-cluster-critical": 2_000_000_000}
METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
TARGET_TYPES = ["AverageValue", "Utilization", "Value"]
_SOURCE_FIELD = {"ContainerResource": "containerResource", "External": "external",
                 "Object": "object", "Pods": "pods", "Resource": "resource"}


def validate_hpa(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs: Errs = []
    ref = obj(spec.get("scaleTargetRef"))
    for field in ("kind", "name"):
        if not ref.get(field):
            errs.append(errors.required(f"spec.scaleTargetRef.{field}"))
    min_r, max_r = as_int(spec.get("minReplicas")), as_int(spec.get("maxReplicas"))
    if min_r is not None and min_r < 1:
        errs.append(invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if max_r is not None and max_r < 1:
        errs.append(invalid("spec.maxReplicas", max_r, "must be greater than 0"))
    if min_r is not None and max_r is not None and max_r < min_r:
        errs.append(invalid("spec.maxReplicas", max_r,
                            "must be greater than or equal to `minReplicas`"))
    cpu = as_int(spec.get("targetCPUUtilizationPercentage"))  # autoscaling/v1
    if cpu is not None and cpu < 1:
        errs.append(invalid("spec.targetCPUUtilizationPercentage", cpu,
                            "must be greater than or equal to 1"))
    for i, metric in enumerate(arr(spec.get("metrics"))):
        errs += _metric(obj(metric), index("spec.metrics", i))
    behavior = obj(spec.get("behavior"))
    for direction in ("scaleUp", "scaleDown"):
        if isinstance(behavior.get(direction), dict):
            errs += _rules(behavior[direction], f"spec.behavior.{direction}")
    return errs


def _metric(m: dict[str, Any], path: str) -> Errs:
    mtype = m.get("type")
    if not mtype:
        return [errors.required(child(path, "type"))]
    errs = one_of(child(path, "type"), mtype, METRIC_TYPES)
    field = _SOURCE_FIELD.get(mtype) if isinstance(mtype, str) else None
    if field is None:
        return errs
    source = m.get(field)
    if source is None:
        errs.append(errors.required(child(path, field),
                                    "must populate information for the given metric source"))
        return errs
    for other in _SOURCE_FIELD.values():
        if other != field and m.get(other) is not None:
            errs.append(errors.forbidden(child(path, other),
                                         "must populate the given metric source only"))
    target = obj(obj(source).get("target"))
    tpath = child(child(path, field), "target")
    errs += one_of(child(tpath, "type"), target.get("type"), TARGET_TYPES, required=True)
    if target.get("type") == "Utilization" and target.get("averageUtilization") is None:
        errs.append(errors.required(child(tpath, "averageUtilization"),
                                    "must set either a target raw value or a target utilization"))
    errs += positive(child(tpath, "averageUtilization"), target.get("averageUtilization"))
    return errs


def _rules(rules: dict[str, Any], path: str) -> Errs:
    errs: Errs = []
    window = as_int(rules.get("stabilizationWindowSeconds"))
    if window is not None and not 0 <= window <= 3600:
        errs.append(invalid(child(path, "stabilizationWindowSeconds"), window,
                            "must be less than or equal to 3600" if window > 0 else
                            "must be greater than or equal to zero"))
    errs += one_of(child(path, "selectPolicy"), rules.get("selectPolicy"),
                   ["Disabled", "Max", "Min"])
    for i, policy in enumerate(arr(rules.get("policies"))):
        p, pp = obj(policy), index(child(path, "policies"), i)
        errs += one_of(child(pp, "type"), p.get("type"), ["Percent", "Pods"])
        errs += positive(child(pp, "value"), p.get("value"))
        period = as_int(p.get("periodSeconds"))
        if period is not None and not 0 < period <= 1800:
            errs.append(invalid(child(pp, "periodSeconds"), period,
                                "must be greater than zero and less than or equal to 1800"))
    return errs


def validate_namespace(o: Obj, old: Obj | None) -> Errs:
    errs: Errs = []
    for i, fin in enumerate(arr(obj(o.get("spec")).get("finalizers"))):
        errs += check_name(index("spec.finalizers", i), fin, names.is_qualified_name)
    return errs


def validate_pdb(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs: Errs = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", "<spec>", "minAvailable and maxUnavailable cannot be both set"))
    for field in ("minAvailable", "maxUnavailable"):
        if spec.get(field) is not None:
            errs += int_or_percent(f"spec.{field}", spec.get(field))
            errs += not_more_than_100_percent(f"spec.{field}", spec.get(field))
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    errs += one_of("spec.unhealthyPodEvictionPolicy", spec.get("unhealthyPodEvictionPolicy"),
                   ["AlwaysAllow", "IfHealthyBudget"])
    return errs


def validate_crd(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    plural, group = obj(spec.get("names")).get("plural"), spec.get("group")
    name = obj(o.get("metadata")).get("name")
    errs: Errs = []
    if isinstance(plural, str) and isinstance(group, str) and name != f"{plural}.{group}":
        errs.append(invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"))
    old_group = obj(old.get("spec")).get("group") if old is not None else None
    if old_group is not None and group != old_group:
        errs.append(invalid("spec.group", group, "field is immutable"))
    return errs


def validate_priority_class(o: Obj, old: Obj | None) -> Errs:
    errs = one_of("preemptionPolicy", o.get("preemptionPolicy"),
                  ["Never", "PreemptLowerPriority"])
    name, value = obj(o.get("metadata")).get("name"), as_int(o.get("value"))
    if isinstance(name, str) and name.startswith("system-"):
        why = _unknown_system_class(name, value, bool(o.get("globalDefault")))
        if why:
            errs.append(errors.forbidden("metadata.name", "priority class names with "
                                         "'system-' prefix are reserved for system use only. "
                                         f"error: {why}"))
    elif value is not None and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(errors.forbidden("value", "maximum allowed value of a user defined "
                                     f"priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"))
    if old is not None and o.get("value") != old.get("value"):
        errs.append(errors.forbidden("value", "may not be changed in an update."))
    return errs


def _unknown_system_class(name: str, value: int | None, global_default: bool) -> str:
    """Why `name` is not one of the system classes as they are (IsKnownSystemPriorityClass)."""
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def validate_lease(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = positive("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"))
    errs += nonnegative("spec.leaseTransitions", spec.get("leaseTransitions"))
    return errs

"""Validation the apiserver runs on every write: the schema, then Kubernetes' semantic
rules, all errors reported at once (`Deployment "web" is invalid: [a, b]`).

Per-kind rules live in small modules; `RULES` maps a kind to its rule, so adding
a kind is one entry. A rule reads the document defensively (any field may have
the wrong type; the schema check reports that) and returns its errors.
"""

from __future__ import annotations

from collections.abc import Callable

from jota.api import errors
from jota.api.errors import FieldError
from jota.api.meta import Obj
from jota.api.registry import ResourceType
from jota.api.schema import check_schema
from jota.api.validation import (
    certificates,
    config,
    meta,
    misc,
    networking,
    service,
    storage,
    workloads,
)
from jota.api.validation.common import obj as as_dict
from jota.api.validation.pod import validate_pod_spec

Rule = Callable[[Obj, Obj | None], list[FieldError]]


def _pod(o: Obj, old: Obj | None) -> list[FieldError]:
    return validate_pod_spec(o.get("spec"), "spec")


RULES: dict[str, Rule] = {
    "Pod": _pod,
    "Deployment": workloads.validate_deployment,
    "ReplicaSet": workloads.validate_replica_set,
    "DaemonSet": workloads.validate_daemon_set,
    "StatefulSet": workloads.validate_stateful_set,
    "Job": workloads.validate_job,
    "CronJob": workloads.validate_cron_job,
    "Service": service.validate_service,
    "ConfigMap": config.validate_config_map,
    "Secret": config.validate_secret,
    "PersistentVolumeClaim": storage.validate_pvc,
    "HorizontalPodAutoscaler": misc.validate_hpa,
    "Namespace": misc.validate_namespace,
    "PodDisruptionBudget": misc.validate_pdb,
    "CustomResourceDefinition": misc.validate_crd,
    "PriorityClass": misc.validate_priority_class,
    "Lease": misc.validate_lease,
    "Ingress": networking.validate_ingress,
    "NetworkPolicy": networking.validate_network_policy,
    "CertificateSigningRequest": certificates.validate_csr,
}


def validate(rt: ResourceType, obj: Obj, old: Obj | None = None) -> None:
    """Raise `errors.Invalid` listing every problem with `obj` (and with the change from
    `old`, on update); return None when it may be stored."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the object provided is not a JSON object: a {rt.kind} "
                                "must be a mapping of fields")
    old_obj = old if isinstance(old, dict) else None
    structural = check_schema(rt, obj)
    semantic: list[FieldError] = []
    try:
        semantic = semantic_errors(rt, obj, old_obj)
    except Exception as exc:  # a rule met a shape it did not expect
        if not structural:
            raise errors.InternalError(f"validating {rt.kind}: {exc!r}") from exc
    if structural or semantic:
        raise errors.Invalid.of(rt.kind, _name(obj), _merge(structural, semantic))


def semantic_errors(rt: ResourceType, obj: Obj, old: Obj | None = None) -> list[FieldError]:
    """The rules the schema cannot express, without the schema check."""
    causes = meta.validate_object_meta(rt.kind, obj.get("metadata"), namespaced=rt.namespaced)
    if old is not None:
        causes += meta.validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    rule = RULES.get(rt.kind)
    if rule is not None:
        causes += rule(obj, old)
    return causes


def _name(o: Obj) -> str:
    md = as_dict(o.get("metadata"))
    name = md.get("name") or md.get("generateName") or ""
    return name if isinstance(name, str) else str(name)


def _merge(structural: list[FieldError], semantic: list[FieldError]) -> list[FieldError]:
    """Both lists, each problem once: a rule's `Required value` says more than the schema's."""
    explained = {c.path for c in semantic if c.type == "Required value"}
    kept = [c for c in structural if c.type != "Required value" or c.path not in explained]
    seen: set[str] = set()
    out = []
    for c in kept + semantic:
        rendered = str(c)
        if rendered not in seen:
            seen.add(rendered)
            out.append(c)
    return out


__all__ = ["RULES", "check_schema", "semantic_errors", "validate"]

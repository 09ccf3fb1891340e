"""Rules for PersistentVolumeClaims (and StatefulSet claim templates)."""

from __future__ import annotations

from typing import Any

from jota.api import errors
from jota.api.meta import Obj
from jota.api.validation.common import Errs, arr, child, obj, one_of
from jota.api.validation.meta import validate_label_selector
from jota.api.validation.pod import validate_resources

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
VOLUME_MODES = ["Block", "Filesystem"]
_PVC_IMMUTABLE_DETAIL = (
    "spec is immutable after creation except resources.requests and "
    "volumeAttributesClassName for bound claims"
)


def validate_claim_spec(spec: Any, path: str) -> Errs:
    s = obj(spec)
    errs: Errs = []
    modes = arr(s.get("accessModes"))
    if not modes:
        errs.append(errors.required(child(path, "accessModes"),
                                    "at least 1 access mode is required"))
    for mode in modes:
        errs += one_of(child(path, "accessModes"), mode, ACCESS_MODES)
    errs += one_of(child(path, "volumeMode"), s.get("volumeMode"), VOLUME_MODES)
    errs += validate_label_selector(s.get("selector"), child(path, "selector"))
    resources = obj(s.get("resources"))
    if s.get("dataSource") is None and s.get("dataSourceRef") is None and \
            obj(resources.get("requests")).get("storage") is None:
        errs.append(errors.required(f"{child(path, 'resources')}[storage]"))
    errs += validate_resources(resources, child(path, "resources"), container=False)
    return errs


def validate_pvc(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = validate_claim_spec(spec, "spec")
    if old is not None:
        old_spec = obj(old.get("spec"))
        mutable = ("resources", "volumeAttributesClassName")
        new_rest = {k: v for k, v in spec.items() if k not in mutable}
        old_rest = {k: v for k, v in old_spec.items() if k not in mutable}
        if not old_rest.get("volumeName"):
            # Binding sets volumeName on a claim that had none.
            new_rest.pop("volumeName", None)
            old_rest.pop("volumeName", None)
        if new_rest != old_rest:
            errs.append(errors.forbidden("spec", _PVC_IMMUTABLE_DETAIL))
    return errs

"""Admission of PersistentVolumeClaims: kube-apiserver's DefaultStorageClass and
StorageObjectInUseProtection plugins.

On create, a claim that does not name a class (`storageClassName` absent; an
explicit "" means "no class" and stays) gets the default StorageClass, the one
annotated `storageclass.kubernetes.io/is-default-class: "true"` (the newest when
several are, as Kubernetes since 1.28). Every new claim gets the
`kubernetes.io/pvc-protection` finalizer, which the PV binder removes once no
pod uses the claim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jota.api.meta import Obj, annotations_of, name_of

if TYPE_CHECKING:
    from controlplane.apiserver.rest import API

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"


def default_class(classes: list[Obj]) -> str | None:
    defaults = [c for c in classes if "true" in (annotations_of(c).get(DEFAULT_CLASS),
                                                 annotations_of(c).get(BETA_DEFAULT_CLASS))]
    if not defaults:
        return None
    newest = max(defaults, key=lambda c: (str((c.get("metadata") or {})
                                              .get("creationTimestamp") or ""), name_of(c)))
    return name_of(newest)


def admit_claim(claim: Obj, classes: list[Obj]) -> None:
    spec = claim.get("spec")
    md = claim.get("metadata")
    if not isinstance(spec, dict) or not isinstance(md, dict):
        return  # validation names what is wrong
    if "storageClassName" not in spec and BETA_CLASS not in annotations_of(claim):
        name = default_class(classes)
        if name is not None:
            spec["storageClassName"] = name
    finalizers = md.get("finalizers")
    if finalizers is None:
        md["finalizers"] = [PVC_PROTECTION]
    elif isinstance(finalizers, list) and PVC_PROTECTION not in finalizers:
        finalizers.append(PVC_PROTECTION)


async def admit(api: API, plural: str, obj: Obj, old: Obj | None) -> None:
    if plural != "persistentvolumeclaims" or old is not None:
        return
    items, _ = api.caches["storageclasses"].list("", lambda _obj: True)
    admit_claim(obj, [c.obj for c in items])

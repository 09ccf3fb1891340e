"""What every write passes before it is stored: shape checks, namespace lifecycle,
defaults, validation. Kubernetes' admission chain, reduced to what Jota needs.
"""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING, Any

from controlplane.apiserver import priority, storageadmission
from controlplane.storage import keys
from jota.api import errors
from jota.api.conversion import to_stored_version
from jota.api.defaults import apply_defaults
from jota.api.meta import Obj
from jota.api.registry import ResourceType, by_plural
from jota.api.validation import validate

if TYPE_CHECKING:
    from controlplane.apiserver.rest import API

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
UNDELETABLE_NAMESPACES = ("default", "kube-system", "kube-public")
# DefaultTolerationSeconds (kube-apiserver's --default-*-toleration-seconds).
DEFAULT_TOLERATION_SECONDS = 300
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"


def check_document(rt: ResourceType, obj: Any) -> Obj:
    """The document is an object of this resource's kind, with a metadata object."""
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the body of the request must be a {rt.kind} object, "
                                f"not {type(obj).__name__}")
    kind = obj.get("kind")
    if kind is not None and kind != rt.kind:
        raise errors.BadRequest(f'the kind of the object ("{kind}") does not match the '
                                f'resource "{rt.qualified}" ({rt.kind})')
    api_version = obj.get("apiVersion")
    if api_version is not None and not (isinstance(api_version, str)
                                        and rt.accepts(api_version)):
        raise errors.BadRequest(f'no matches for kind "{rt.kind}" in version '
                                f'"{api_version}"')
    obj.setdefault("kind", rt.kind)
    obj.setdefault("apiVersion", rt.api_version)
    md = obj.get("metadata")
    if md is None:
        md = obj["metadata"] = {}
    if not isinstance(md, dict):
        raise errors.Invalid.of(rt.kind, "", [errors.invalid(
            "metadata", md, "must be of type object")])
    return to_stored_version(obj)


def prepare_for_create(rt: ResourceType, obj: Obj) -> None:
    """Status is the system's to write: reset it, as Kubernetes' PrepareForCreate."""
    if rt.plural == "jobs":
        _generate_job_selector(obj)
    if rt.plural == "pods":
        obj["status"] = {"phase": "Pending"}
        # DefaultTolerationSeconds admission: a pod rides out a not-ready or unreachable
        # node for five minutes before it is evicted, unless it says otherwise.
        spec = obj.get("spec")
        tolerations = spec.get("tolerations") or [] if isinstance(spec, dict) else None
        if isinstance(spec, dict) and isinstance(tolerations, list):
            for key in (TAINT_NOT_READY, TAINT_UNREACHABLE):
                if not any(isinstance(t, dict) and t.get("key", "") in (key, "")
                           and t.get("effect", "") in ("NoExecute", "") for t in tolerations):
                    tolerations = [*tolerations, {
                        "key": key, "operator": "Exists", "effect": "NoExecute",
                        "tolerationSeconds": DEFAULT_TOLERATION_SECONDS}]
            if tolerations:
                spec["tolerations"] = tolerations
    elif rt.plural == "namespaces":
        obj["status"] = {"phase": "Active"}
    elif rt.has_status and rt.plural not in ("nodes", "events", "persistentvolumes"):
        obj.pop("status", None)


def _generate_job_selector(job: Obj) -> None:
    """A Job without a selector selects its own pods by uid, as Kubernetes generates it."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") or spec.get("selector"):
        return
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    md = template.setdefault("metadata", {})
    if not isinstance(md, dict):
        return
    uid, name = job["metadata"]["uid"], job["metadata"].get("name", "")
    labels = md.setdefault("labels", {})
    if isinstance(labels, dict):
        labels.update({"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
                       "batch.kubernetes.io/job-name": name, "job-name": name})
    spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def prepare_for_update(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Fields the system assigned stay when an update leaves them out (a Service's
    clusterIP and nodePorts, a Job's generated selector), as Kubernetes keeps them."""
    if not rt.namespaced:
        new["metadata"].pop("namespace", None)
    new_spec, old_spec = new.get("spec"), old.get("spec")
    if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
        return
    if rt.plural == "services":
        for field in ("clusterIP", "clusterIPs"):
            if field in old_spec and not new_spec.get(field):
                new_spec[field] = old_spec[field]
        old_ports = {(p.get("port"), p.get("protocol", "TCP")): p
                     for p in old_spec.get("ports") or [] if isinstance(p, dict)}
        for port in new_spec.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                before = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if before and before.get("nodePort"):
                    port["nodePort"] = before["nodePort"]
    if rt.plural == "jobs" and "selector" not in new_spec and "selector" in old_spec:
        new_spec["selector"] = old_spec["selector"]


def _fold_string_data(secret: Obj) -> None:
    """A Secret's write-only `stringData` is merged into `data`, base64-encoded."""
    string_data = secret.get("stringData")
    if not isinstance(string_data, dict):
        return
    data = secret.get("data")
    if data is None:
        data = secret["data"] = {}
    if not isinstance(data, dict):
        return
    for key, value in string_data.items():
        if isinstance(value, str):
            data[key] = base64.b64encode(value.encode()).decode()
    del secret["stringData"]


async def admit(api: API, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """The admission plugins that read other objects (old is None on create): Priority,
    DefaultStorageClass and StorageObjectInUseProtection."""
    await priority.admit(api, rt.plural, obj, old)
    await storageadmission.admit(api, rt.plural, obj, old)


def default_and_validate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    if rt.plural == "secrets":
        _fold_string_data(obj)
    try:
        apply_defaults(rt, obj)
    except errors.APIError:
        raise
    except Exception:  # malformed input that defaulting tripped on: validation explains
        pass
    validate(rt, obj, old)


async def check_namespace_open(api: API, namespace: str) -> None:
    """As Kubernetes' NamespaceLifecycle admission: read from the watch cache (no etcd
    round trip per write), and from etcd only for a namespace the cache lacks, which
    may have been created a moment ago."""
    rt = by_plural("namespaces")
    cached = api.caches[rt.plural].objects.get(keys.object_key(rt, "", namespace))
    if cached is not None:
        ns = cached.obj
    else:
        try:
            ns = await api.store.get(rt, "", namespace)
        except errors.NotFound:
            raise errors.NotFound(f'namespaces "{namespace}" not found') from None
    if ns["metadata"].get("deletionTimestamp"):
        raise errors.Forbidden(
            f"unable to create new content in namespace {namespace} because it is being "
            f"terminated")


def check_deletable(rt: ResourceType, name: str) -> None:
    if rt.plural == "namespaces" and name in UNDELETABLE_NAMESPACES:
        raise errors.Forbidden(f'namespaces "{name}" is forbidden: this namespace may not '
                               f"be deleted")


async def ensure_system_namespaces(api: API) -> None:
    rt = by_plural("namespaces")
    for name in SYSTEM_NAMESPACES:
        with contextlib.suppress(errors.AlreadyExists):
            await api.create(rt, "", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name}})
    await priority.ensure_system_priority_classes(api)

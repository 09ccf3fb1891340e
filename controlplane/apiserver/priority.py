"""Pod priority, as kube-apiserver's Priority admission plugin.

On pod create, `spec.priorityClassName` resolves to `spec.priority` and
`spec.preemptionPolicy` from its PriorityClass; a pod without a class gets the
globalDefault class (its name, value and policy), or priority 0 when there is none.
A pod may not bring its own priority or policy that differs from its class's. On
update the admitted values stay (validation forbids changing them). At most one
PriorityClass is the globalDefault.

The system classes `system-cluster-critical` and `system-node-critical` are
created at apiserver start when missing (the plugin's post-start hook).

`admit_pod` and `check_global_default` are pure over the classes that exist;
`PriorityClasses` reads them from the watch cache (etcd for a class the cache
has not seen yet, which may have been created a moment ago).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from controlplane.storage import keys
from jota.api import errors
from jota.api.meta import Obj, name_of
from jota.api.registry import by_plural
from jota.api.validation.misc import SYSTEM_PRIORITY_CLASSES

if TYPE_CHECKING:
    from controlplane.apiserver.rest import API

PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
DEFAULT_PRIORITY = 0  # DefaultPriorityWhenNoDefaultClassExists
_SYSTEM_DESCRIPTIONS = {
    "system-node-critical": "Used for system critical pods that must not be moved from "
                            "their current node.",
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, "
                               "but can be moved to another node if necessary.",
}


def system_priority_classes() -> list[Obj]:
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": name}, "value": value,
             "description": _SYSTEM_DESCRIPTIONS[name]}
            for name, value in SYSTEM_PRIORITY_CLASSES.items()]


def _forbidden(resource: str, name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(f'{resource} "{name}" is forbidden: {why}')


def default_class(classes: list[Obj]) -> Obj | None:
    """The globalDefault class; the lowest value wins if a race left several."""
    defaults = [c for c in classes if c.get("globalDefault")]
    return min(defaults, key=lambda c: int(c.get("value") or 0)) if defaults else None


def admit_pod(pod: Obj, find: dict[str, Obj], classes: list[Obj]) -> None:
    """Fill a new pod's priority from its class (`find`: name -> class), or refuse it."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return  # validation explains
    name = str((pod.get("metadata") or {}).get("name") or "")
    class_name = spec.get("priorityClassName") or ""
    if not class_name:
        pc = default_class(classes)
        if pc is not None:
            spec["priorityClassName"] = name_of(pc)
        priority = int(pc.get("value") or 0) if pc is not None else DEFAULT_PRIORITY
        policy = str(pc.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY) if pc is not None \
            else PREEMPT_LOWER_PRIORITY
    else:
        pc = find.get(str(class_name))
        if pc is None:
            raise _forbidden("pods", name, f"no PriorityClass with name {class_name} was found")
        priority = int(pc.get("value") or 0)
        policy = str(pc.get("preemptionPolicy") or PREEMPT_LOWER_PRIORITY)
    given, given_policy = spec.get("priority"), spec.get("preemptionPolicy")
    if (given is not None and (not isinstance(given, int) or isinstance(given, bool))) or \
            (given_policy is not None and not isinstance(given_policy, str)):
        return  # a value of the wrong type: validation names the field
    if given is not None and given != priority:
        raise _forbidden("pods", name, f"the integer value of priority ({given}) must not be "
                         f"provided in pod spec; priority admission controller computed "
                         f"{priority} from the given PriorityClass name")
    spec["priority"] = priority
    if given_policy is not None and given_policy != policy:
        raise _forbidden("pods", name, f"the string value of PreemptionPolicy ({given_policy}) "
                         f"must not be provided in pod spec; priority admission controller "
                         f"computed {policy} from the given PriorityClass name")
    spec["preemptionPolicy"] = policy


def keep_on_update(new: Obj, old: Obj) -> None:
    """An update that leaves priority out keeps the admitted one (then validation rejects
    any real change)."""
    new_spec, old_spec = new.get("spec"), old.get("spec")
    if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
        return
    for field in ("priority", "preemptionPolicy"):
        if new_spec.get(field) is None and old_spec.get(field) is not None:
            new_spec[field] = old_spec[field]


def check_global_default(pc: Obj, classes: list[Obj], creating: bool) -> None:
    """Only one PriorityClass may be the globalDefault."""
    if not pc.get("globalDefault"):
        return
    current = default_class(classes)
    if current is not None and (creating or name_of(current) != name_of(pc)):
        raise _forbidden("priorityclasses.scheduling.k8s.io", name_of(pc),
                         f"PriorityClass {name_of(current)} is already marked as default. "
                         f"Only one default can exist")


# ---- reading the classes -----------------------------------------------------------------------


def _cached_classes(api: API) -> list[Obj]:
    items, _ = api.caches["priorityclasses"].list("", lambda _obj: True)
    return [c.obj for c in items]


async def _find(api: API, name: str) -> Obj | None:
    rt = by_plural("priorityclasses")
    cached = api.caches[rt.plural].objects.get(keys.object_key(rt, "", name))
    if cached is not None:
        return cached.obj
    try:
        return await api.store.get(rt, "", name)
    except errors.NotFound:
        return None


async def admit(api: API, plural: str, obj: Obj, old: Obj | None) -> None:
    """The plugin's hook into create (old None) and update of pods and PriorityClasses."""
    if plural == "pods":
        if old is not None:
            keep_on_update(obj, old)
            return
        class_name = str((obj.get("spec") or {}).get("priorityClassName") or "") \
            if isinstance(obj.get("spec"), dict) else ""
        find: dict[str, Obj] = {}
        if class_name and (pc := await _find(api, class_name)) is not None:
            find[class_name] = pc
        admit_pod(obj, find, _cached_classes(api) if not class_name else [])
    elif plural == "priorityclasses":
        check_global_default(obj, _cached_classes(api), creating=old is None)


async def ensure_system_priority_classes(api: API) -> None:
    rt = by_plural("priorityclasses")
    for pc in system_priority_classes():
        with contextlib.suppress(errors.AlreadyExists):
            await api.create(rt, "", pc)

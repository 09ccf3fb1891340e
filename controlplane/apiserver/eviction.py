"""The pods/eviction subresource (policy/v1 Eviction), as kube-apiserver's EvictionREST.

An eviction is a delete that respects the pod's PodDisruptionBudget: when the
budget has a disruption to spare, the eviction takes it (status.disruptionsAllowed
minus one, the pod noted in status.disruptedPods so the disruption controller does
not count it healthy meanwhile), then deletes the pod with the eviction's
deleteOptions; when it has none, 429 TooManyRequests "Cannot evict pod as it would
violate the pod's disruption budget." and the caller (`jota drain`) retries.

`decide` is pure: the pod and its namespace's budgets in, the budget to write (or
nothing to write) out, or the refusal raised. `evict` reads, decides, writes the
budget's status guarded by its resourceVersion (a conflict decides again), deletes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jota.api import errors
from jota.api.disruption import PDB_VIOLATION, is_pod_ready, selects, set_allowed_condition
from jota.api.meta import Obj, name_of
from jota.api.registry import by_plural

if TYPE_CHECKING:
    from controlplane.apiserver.rest import API

MANY_PDBS = ("This pod has more than one PodDisruptionBudget, which the eviction "
             "subresource does not support.")
MAX_DISRUPTED_PODS = 2000
SUCCESS: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "code": 201}


@dataclass(frozen=True)
class Decision:
    """What an allowed eviction writes before deleting: the budget's new status, or
    None when no budget is involved."""

    pdb: Obj | None = None


def can_ignore_pdb(pod: Obj) -> bool:
    """A pod that is finished, not yet running, or already going away disrupts nothing."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(
        (pod.get("metadata") or {}).get("deletionTimestamp"))


def _too_many_requests() -> errors.TooManyRequests:
    return errors.TooManyRequests(PDB_VIOLATION)


def decide(pod: Obj, pdbs: list[Obj], now: str) -> Decision:
    """May `pod` be evicted now, given its namespace's budgets? Raises the refusal."""
    if can_ignore_pdb(pod):
        return Decision()
    matching = [p for p in pdbs if selects(p, pod)]
    if not matching:
        return Decision()
    if len(matching) > 1:
        raise errors.InternalError(f"Internal error occurred: {MANY_PDBS}")
    pdb = matching[0]
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    current, desired = int(status.get("currentHealthy") or 0), \
        int(status.get("desiredHealthy") or 0)
    policy = spec.get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if not is_pod_ready(pod) and (policy == "AlwaysAllow"
                                  or (current >= desired and desired > 0)):
        return Decision()  # an unready pod adds nothing to the budget it could break
    if int(status.get("observedGeneration") or 0) < int(
            (pdb.get("metadata") or {}).get("generation") or 0):
        raise _too_many_requests()  # the controller has not processed this budget yet
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise errors.Forbidden(f'poddisruptionbudgets.policy "{name_of(pdb)}" is forbidden: '
                               f"pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise errors.Forbidden(f'poddisruptionbudgets.policy "{name_of(pdb)}" is forbidden: '
                               f"DisruptedPods map too big - too many evictions not "
                               f"confirmed by PDB controller")
    if allowed == 0:
        raise _too_many_requests()
    new = copy.deepcopy(pdb)
    new_status = new.setdefault("status", {})
    new_status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        set_allowed_condition(new_status, now)
    new_status.setdefault("disruptedPods", {})[name_of(pod)] = now
    return Decision(new)


def delete_options(eviction: Obj) -> dict[str, Any]:
    """The eviction's deleteOptions as `API.delete` takes them."""
    opts = eviction.get("deleteOptions") or {}
    if not isinstance(opts, dict):
        raise errors.BadRequest("deleteOptions must be an object")
    grace = opts.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.Invalid.of("Eviction", name_of(eviction), [errors.invalid(
            "deleteOptions.gracePeriodSeconds", grace, "must be an integer")])
    rv = (opts.get("preconditions") or {}).get("resourceVersion") or ""
    return {"grace_period": -1 if grace is None else grace,
            "propagation": str(opts.get("propagationPolicy") or ""),
            "precondition_rv": str(rv),
            "dry_run": (opts.get("dryRun") or []) == ["All"]}


def check_eviction(eviction: Any, namespace: str, name: str) -> Obj:
    if not isinstance(eviction, dict):
        raise errors.BadRequest("the body of the request must be an Eviction object")
    kind, version = eviction.get("kind"), eviction.get("apiVersion")
    if kind not in (None, "Eviction") or version not in (None, "policy/v1", "policy/v1beta1"):
        raise errors.BadRequest(f'no matches for kind "{kind}" in version "{version}"')
    md = eviction.get("metadata") or {}
    if md.get("name") not in (None, "", name):
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    if md.get("namespace") not in (None, "", namespace):
        raise errors.BadRequest("the namespace of the provided object does not match the "
                                "namespace sent on the request")
    return eviction


async def evict(api: API, namespace: str, name: str, eviction: Any, now: str) -> Obj:
    """Evict one pod, or raise why not (429 while its budget has no disruption to spare)."""
    eviction = check_eviction(eviction, namespace, name)
    options = delete_options(eviction)
    pods, pdbs = by_plural("pods"), by_plural("poddisruptionbudgets")
    for _ in range(16):
        pod = await api.get(pods, namespace, name)
        # From etcd, not the watch cache: the budget just decremented must be seen.
        budgets = (await api.store.list(pdbs, namespace)).items
        decision = decide(pod, budgets, now)
        if decision.pdb is not None and not options["dry_run"]:
            try:
                await api.update(pdbs, namespace, name_of(decision.pdb), decision.pdb,
                                 subresource="status")
            except errors.Conflict:
                continue
        await api.delete(pods, namespace, name, **options)
        return SUCCESS
    raise errors.Conflict.stale("poddisruptionbudgets.policy", name)

"""Facts about PodDisruptionBudgets that the eviction subresource (apiserver) and the
disruption controller (controller-manager) must agree on: which pods a budget
selects, what counts as healthy, how an int-or-percent scales, and the
DisruptionAllowed condition.
"""

from __future__ import annotations

import math
from typing import Any

from jota.api.meta import Obj, labels_of, namespace_of
from jota.api.selectors import from_label_selector_object

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
DELETION_TIMEOUT = 120.0  # seconds an eviction's disruptedPods entry waits for the delete
PDB_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def selects(pdb: Obj, pod: Obj) -> bool:
    """policy/v1: a null selector selects no pod, an empty one every pod of the namespace."""
    if namespace_of(pdb) != namespace_of(pod):
        return False
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return False
    return from_label_selector_object(selector).matches(labels_of(pod))


def is_pod_ready(pod: Obj) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString against `total`, as intstr.GetScaledValueFromIntOrPercent; raises
    ValueError for a string that is neither a number nor a percentage."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a "
                         "percentage")
    exact = int(text[:-1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def set_allowed_condition(status: Obj, now: str, *, failed: bool = False) -> None:
    """The DisruptionAllowed condition from status.disruptionsAllowed (its transition time
    moves only when its status does), as pdbhelper.UpdateDisruptionAllowedCondition."""
    allowed = int(status.get("disruptionsAllowed") or 0) > 0 and not failed
    reason = SYNC_FAILED if failed else SUFFICIENT_PODS if allowed else INSUFFICIENT_PODS
    wanted = {"type": DISRUPTION_ALLOWED, "status": "True" if allowed else "False",
              "reason": reason, "message": "",
              "observedGeneration": status.get("observedGeneration", 0)}
    conditions = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
    for c in conditions:
        if c.get("type") == DISRUPTION_ALLOWED:
            if c.get("status") != wanted["status"] or not c.get("lastTransitionTime"):
                c["lastTransitionTime"] = now
            c.update({k: v for k, v in wanted.items() if k != "type"})
            break
    else:
        conditions.append({**wanted, "lastTransitionTime": now})
    status["conditions"] = conditions

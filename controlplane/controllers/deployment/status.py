"""Deployment status and its two conditions, in Kubernetes' reasons and words.

- Available: True/MinimumReplicasAvailable "Deployment has minimum availability."
  while at least replicas - maxUnavailable pods are available, else
  False/MinimumReplicasUnavailable.
- Progressing: NewReplicaSetCreated / FoundNewReplicaSet / ReplicaSetUpdated while a
  rollout moves, NewReplicaSetAvailable when it is done, DeploymentPaused and
  DeploymentResumed (status Unknown) around a pause, and
  False/ProgressDeadlineExceeded once progressDeadlineSeconds passed without progress.

Everything here is pure; `now` is passed in as seconds since the epoch.
"""

from __future__ import annotations

import copy

from controlplane.controllers.deployment.sync import (
    deployment_complete,
    max_unavailable,
    status_of,
)
from controlplane.controllers.replicaset import format_time, parse_time, spec_replicas
from jota.api.meta import Obj

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"

NO_DEADLINE = 2**31 - 1


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> Obj:
    ts = format_time(now)
    return {"type": kind, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def get_condition(status: Obj, kind: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: same status and reason keeps the old one (and its
    times); same status keeps lastTransitionTime."""
    current = get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and \
            current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, kind: str) -> None:
    rest = [c for c in status.get("conditions") or [] if c.get("type") != kind]
    if rest:
        status["conditions"] = rest
    else:
        status.pop("conditions", None)


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return isinstance(pds, int) and pds != NO_DEADLINE


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    """Counts summed over the ReplicaSets, and the Available condition (calculateStatus).

    Zero counts are left out, as Kubernetes' `omitempty` leaves them out of the JSON.
    """
    old = d.get("status") or {}
    available = sum(status_of(rs, "availableReplicas") for rs in all_rss)
    total = sum(spec_replicas(rs) for rs in all_rss)
    counts = {
        "observedGeneration": int((d.get("metadata") or {}).get("generation") or 0),
        "replicas": sum(status_of(rs, "replicas") for rs in all_rss),
        "updatedReplicas": status_of(new_rs, "replicas") if new_rs is not None else 0,
        "readyReplicas": sum(status_of(rs, "readyReplicas") for rs in all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if available >= spec_replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.",
                                            now))
    return status


def _progressing(d: Obj, new: Obj) -> bool:
    """DeploymentProgressing: more updated, fewer old, more ready or more available."""
    old = d.get("status") or {}

    def n(s: Obj, k: str) -> int:
        return int(s.get(k) or 0)

    return (n(new, "updatedReplicas") > n(old, "updatedReplicas") or
            n(new, "replicas") - n(new, "updatedReplicas") <
            n(old, "replicas") - n(old, "updatedReplicas") or
            n(new, "readyReplicas") > n(old, "readyReplicas") or
            n(new, "availableReplicas") > n(old, "availableReplicas"))


def timed_out(d: Obj, status: Obj, now: float) -> bool:
    """DeploymentTimedOut: the Progressing condition was last updated over
    progressDeadlineSeconds ago."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return since is not None and since + deadline < now


def rollout_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, now: float) -> Obj:
    """The status a rolling or recreate sync writes, Progressing included
    (syncRolloutStatus)."""
    status = calculate_status(d, all_rss, new_rs, now)
    if not has_progress_deadline(d):
        remove_condition(status, PROGRESSING)
    current = get_condition(d.get("status") or {}, PROGRESSING)
    complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and
                current is not None and current.get("reason") == NEW_RS_AVAILABLE)
    if has_progress_deadline(d) and not complete:
        name = d["metadata"]["name"]
        rs_name = new_rs["metadata"]["name"] if new_rs is not None else ""
        if deployment_complete(d, status):
            msg = (f'ReplicaSet "{rs_name}" has successfully progressed.' if new_rs
                   else f'Deployment "{name}" has successfully progressed.')
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg,
                                                now))
        elif _progressing(d, status):
            msg = (f'ReplicaSet "{rs_name}" is progressing.' if new_rs
                   else f'Deployment "{name}" is progressing.')
            cond = new_condition(PROGRESSING, "True", RS_UPDATED, msg, now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif timed_out(d, status, now):
            msg = (f'ReplicaSet "{rs_name}" has timed out progressing.' if new_rs
                   else f'Deployment "{name}" has timed out progressing.')
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT, msg, now))
    failures = [c for rs in all_rss for c in (rs.get("status") or {}).get("conditions") or []
                if c.get("type") == REPLICA_FAILURE]
    if failures:
        f = failures[0]
        set_condition(status, {"type": REPLICA_FAILURE, "status": f.get("status", "True"),
                               "lastUpdateTime": f.get("lastTransitionTime"),
                               "lastTransitionTime": f.get("lastTransitionTime"),
                               "reason": f.get("reason", ""), "message": f.get("message", "")})
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def paused_condition(d: Obj, now: float) -> Obj | None:
    """The Progressing condition a pause or resume sets, or None (checkPausedConditions)."""
    if not has_progress_deadline(d):
        return None
    cond = get_condition(d.get("status") or {}, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return None
    paused_now = cond is not None and cond.get("reason") == PAUSED
    if (d.get("spec") or {}).get("paused") and not paused_now:
        return new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now)
    if not (d.get("spec") or {}).get("paused") and paused_now:
        return new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now)
    return None


def requeue_after(d: Obj, status: Obj, now: float) -> float | None:
    """When to look again so a stuck rollout is marked ProgressDeadlineExceeded in time
    (requeueStuckDeployment); None if there is no deadline to watch."""
    cond = get_condition(status, PROGRESSING)
    if not has_progress_deadline(d) or cond is None:
        return None
    if cond.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT, PAUSED):
        return None
    if deployment_complete(d, status):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)
    return max(since + deadline - now, 0.0) + 1.0

"""The rollout arithmetic of the Deployment controller, without any I/O.

Each function takes the Deployment and its ReplicaSets (plain documents, as read
from the cache) and returns the sizes to set, `{replicaset name: replicas}`, as
Kubernetes' `pkg/controller/deployment/{rolling,recreate,sync}.go` decide them:

- rolling update: `reconcile_new_replica_set` scales the new ReplicaSet up while
  all pods stay within `replicas + maxSurge`; `reconcile_old_replica_sets` first
  scales down old ReplicaSets' unhealthy pods (`cleanup_unhealthy_replicas`), then
  old healthy ones while at least `replicas - maxUnavailable` stay available.
- recreate: all old ReplicaSets to 0, and the new one up only once no old pod runs.
- scaling mid-rollout (`spec.replicas` changed): the difference is spread over the
  ReplicaSets in proportion to their size (`proportional_scale`).

Two counts are deliberately more careful than Kubernetes', which counts
`spec.replicas` only: the pods of a ReplicaSet are `max(spec, status.replicas)`
(a scaled-down ReplicaSet's pods exist until its controller has deleted them), and
its available pods are `min(status.availableReplicas, spec)` (pods above spec are
about to go). A watcher of pods therefore never sees more than replicas + maxSurge
pods, nor fewer than replicas - maxUnavailable available ones, even while one
controller's cache lags another's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from controlplane.controllers.deployment.revisions import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    annotation_map,
    by_creation,
)
from controlplane.controllers.replicaset import created_at, spec_replicas
from jota.api.meta import Obj

Sizes = dict[str, int]


# ---- counting ---------------------------------------------------------------------------


def name(rs: Obj) -> str:
    return str(rs["metadata"]["name"])


def status_of(rs: Obj, fld: str) -> int:
    return int((rs.get("status") or {}).get(fld) or 0)


def pods_of(rs: Obj) -> int:
    return max(spec_replicas(rs), status_of(rs, "replicas"))


def available_of(rs: Obj) -> int:
    return min(status_of(rs, "availableReplicas"), spec_replicas(rs))


def replica_count(rss: list[Obj]) -> int:
    """Sum of spec.replicas (GetReplicaCountForReplicaSets)."""
    return sum(spec_replicas(rs) for rs in rss)


def with_sizes(rss: list[Obj], sizes: Sizes) -> list[Obj]:
    """Shallow views of `rss` with `sizes` applied to spec.replicas."""
    out = []
    for rs in rss:
        if name(rs) in sizes:
            rs = {**rs, "spec": {**(rs.get("spec") or {}), "replicas": sizes[name(rs)]}}
        out.append(rs)
    return out


# ---- maxSurge / maxUnavailable ----------------------------------------------------------


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = int(value[:-1])
        except ValueError:
            return 0
        scaled = pct * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def is_rolling(d: Obj) -> bool:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def resolve_fenceposts(surge: Any, unavailable: Any, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; never both zero (ResolveFenceposts)."""
    s = int_or_percent(surge if surge is not None else "25%", desired, True)
    u = int_or_percent(unavailable if unavailable is not None else "25%", desired, False)
    if s == 0 and u == 0:
        u = 1  # else the rollout could not move
    return s, u


def _fenceposts(d: Obj) -> tuple[int, int]:
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(ru.get("maxSurge"), ru.get("maxUnavailable"), spec_replicas(d))


def max_surge(d: Obj) -> int:
    return _fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or spec_replicas(d) == 0:
        return 0
    return min(_fenceposts(d)[1], spec_replicas(d))


# ---- rolling update ---------------------------------------------------------------------


def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int:
    """How far the new ReplicaSet may grow now (NewRSNewReplicas)."""
    desired = spec_replicas(d)
    if not is_rolling(d):
        return desired
    current = sum(pods_of(rs) for rs in all_rss)
    max_total = desired + max_surge(d)
    if current >= max_total:
        return spec_replicas(new_rs)
    up = min(max_total - current, max(desired - spec_replicas(new_rs), 0))
    return spec_replicas(new_rs) + up


def reconcile_new_replica_set(d: Obj, all_rss: list[Obj], new_rs: Obj) -> Sizes:
    desired, current = spec_replicas(d), spec_replicas(new_rs)
    if current == desired:
        return {}
    if current > desired:
        return {name(new_rs): desired}
    size = new_rs_new_replicas(d, all_rss, new_rs)
    return {name(new_rs): size} if size != current else {}


def cleanup_unhealthy_replicas(old_rss: list[Obj], max_cleanup: int) -> Sizes:
    """Scale down old ReplicaSets' pods that are not available, oldest set first:
    they serve nobody, so removing them costs no availability."""
    sizes: Sizes = {}
    total = 0
    for rs in by_creation(old_rss):
        if total >= max_cleanup:
            break
        replicas = spec_replicas(rs)
        if replicas == 0 or replicas == available_of(rs):
            continue
        down = min(max_cleanup - total, replicas - available_of(rs))
        sizes[name(rs)] = replicas - down
        total += down
    return sizes


def scale_down_old_for_rolling(d: Obj, all_rss: list[Obj], old_rss: list[Obj]) -> Sizes:
    """Scale down old ReplicaSets while availability stays >= replicas - maxUnavailable."""
    min_available = spec_replicas(d) - max_unavailable(d)
    available = sum(available_of(rs) for rs in all_rss)
    if available <= min_available:
        return {}
    budget = available - min_available
    sizes: Sizes = {}
    done = 0
    for rs in by_creation(old_rss):
        if done >= budget:
            break
        replicas = spec_replicas(rs)
        if replicas == 0:
            continue
        down = min(replicas, budget - done)
        sizes[name(rs)] = replicas - down
        done += down
    return sizes


def reconcile_old_replica_sets(d: Obj, all_rss: list[Obj], old_rss: list[Obj],
                               new_rs: Obj) -> Sizes:
    old_rss = [rs for rs in old_rss if spec_replicas(rs) > 0]
    if replica_count(old_rss) == 0:
        return {}
    min_available = spec_replicas(d) - max_unavailable(d)
    new_unavailable = spec_replicas(new_rs) - available_of(new_rs)
    max_scaled_down = replica_count(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    sizes = cleanup_unhealthy_replicas(old_rss, max_scaled_down)
    old_after = with_sizes(old_rss, sizes)
    all_after = [*old_after, new_rs]
    sizes.update(scale_down_old_for_rolling(d, all_after, old_after))
    return sizes


@dataclass
class RollingStep:
    """One sync of a rolling update: scale the new set up, or old sets down, or neither."""

    phase: str = ""  # "new", "old" or "" (nothing to do)
    sizes: Sizes = field(default_factory=dict)


def rolling_step(d: Obj, new_rs: Obj, old_rss: list[Obj]) -> RollingStep:
    """What rolloutRolling does in one sync, before it syncs status."""
    all_rss = [*old_rss, new_rs]
    up = reconcile_new_replica_set(d, all_rss, new_rs)
    if up:
        return RollingStep("new", up)
    down = reconcile_old_replica_sets(d, all_rss, old_rss, new_rs)
    down = {k: v for k, v in down.items()
            if v != next(spec_replicas(rs) for rs in old_rss if name(rs) == k)}
    return RollingStep("old", down) if down else RollingStep()


# ---- recreate ---------------------------------------------------------------------------


def scale_down_old_for_recreate(old_rss: list[Obj]) -> Sizes:
    return {name(rs): 0 for rs in old_rss if spec_replicas(rs) != 0}


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pods_by_rs: dict[str, list[Obj]]
                     ) -> bool:
    """Recreate waits until no old pod is left running (oldPodsRunning)."""
    if sum(status_of(rs, "replicas") for rs in old_rss) > 0:
        return True
    new_uid = (new_rs or {}).get("metadata", {}).get("uid")
    for uid, pods in pods_by_rs.items():
        if uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False


# ---- scaling (spec.replicas changed mid-rollout) --------------------------------------------


def _annotation_int(rs: Obj, key: str) -> int | None:
    try:
        return int(annotation_map(rs)[key])
    except (KeyError, ValueError):
        return None


def is_scaling_event(d: Obj, rss: list[Obj]) -> bool:
    """An active ReplicaSet was sized for another spec.replicas (isScalingEvent)."""
    for rs in rss:
        if spec_replicas(rs) <= 0:
            continue
        desired = _annotation_int(rs, DESIRED_REPLICAS)
        if desired is not None and desired != spec_replicas(d):
            return True
    return False


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=created_at, reverse=True)
    active = [rs for rs in newest_first + ([new_rs] if new_rs else [])
              if spec_replicas(rs) > 0]
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    desired = _annotation_int(rs, DESIRED_REPLICAS)
    want = spec_replicas(d)
    return (desired == want and spec_replicas(rs) == want and
            status_of(rs, "availableReplicas") == want)


def _fraction(rs: Obj, d: Obj) -> int:
    """How much `rs` grows (or shrinks) for the Deployment's new size (getReplicaSetFraction)."""
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    d_max = spec_replicas(d) + max_surge(d)
    before = _annotation_int(rs, MAX_REPLICAS)
    if not before:
        return 0
    size = spec_replicas(rs) * d_max / before
    return math.floor(size + 0.5) - spec_replicas(rs)


def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


@dataclass
class ScalePlan:
    sizes: Sizes = field(default_factory=dict)
    refresh_annotations: bool = False  # write desired/max-replicas on every set


def proportional_scale(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> ScalePlan:
    """The sizes `scale()` sets when spec.replicas changed (or the rollout is paused)."""
    latest = find_active_or_latest(new_rs, old_rss)
    if latest is not None:
        if spec_replicas(latest) == spec_replicas(d):
            return ScalePlan()
        return ScalePlan({name(latest): spec_replicas(d)})
    if is_saturated(d, new_rs):
        return ScalePlan(scale_down_old_for_recreate(old_rss))
    if not is_rolling(d):
        return ScalePlan()
    active = [rs for rs in old_rss + ([new_rs] if new_rs else []) if spec_replicas(rs) > 0]
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - replica_count(active)
    if to_add > 0:  # bigger first, newer first among equals
        active.sort(key=lambda rs: (-spec_replicas(rs), -created_at(rs)))
    elif to_add < 0:  # bigger first, older first among equals
        active.sort(key=lambda rs: (-spec_replicas(rs), created_at(rs)))
    sizes: Sizes = {}
    added = 0
    for rs in active:
        p = _proportion(rs, d, to_add, added) if to_add else 0
        sizes[name(rs)] = spec_replicas(rs) + p
        added += p
    if active and to_add:
        first = name(active[0])
        sizes[first] = max(sizes[first] + to_add - added, 0)
    return ScalePlan(sizes, refresh_annotations=True)


def deployment_complete(d: Obj, status: Obj) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    want = spec_replicas(d)
    return (int(status.get("updatedReplicas") or 0) == want and
            int(status.get("replicas") or 0) == want and
            int(status.get("availableReplicas") or 0) == want and
            int(status.get("observedGeneration") or 0) >=
            int((d.get("metadata") or {}).get("generation") or 0))

"""The Job controller: runs pods until `completions` of them succeed, or gives up.

As Kubernetes' `pkg/controller/job`, `sync(key)` reads the caches, then:

- counts finished pods exactly once, with the pod finalizer
  `batch.kubernetes.io/job-tracking`: a finished pod's uid goes first into
  `status.uncountedTerminatedPods`, then its finalizer is removed, then it moves
  into `succeeded`/`failed`. A pod deleted (by anyone) before it succeeded is a
  failure; nothing is counted twice or lost when pods are garbage collected;
- creates pods up to `parallelism` (NonIndexed: `completions - succeeded`;
  Indexed: one pod per index not yet completed), but after a failure waits
  10 s, doubling per failure since the last success, capped at 6 minutes;
- fails the Job (`BackoffLimitExceeded`, `DeadlineExceeded`) or completes it,
  deleting what is still running; suspends and resumes it;
- deletes a finished Job `ttlSecondsAfterFinished` after it finished (the
  ttl-after-finished controller, folded in here).

The decisions are the pure `plan_job`; the class only reads caches and carries
the plan out.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controlplane.controllers.expectations import ControllerExpectations
from controlplane.controllers.podcontrol import PodControl
from controlplane.controllers.replicaset import (
    CONTROLLER_UID_INDEX,
    OWNED_INDEXERS,
    controller_ref,
    format_time,
    is_deleting,
    is_pod_ready,
    new_controller_ref,
    parse_time,
    pod_key,
    uid_of,
)
from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.client import (
    NORMAL,
    WARNING,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    meta_namespace_key,
    object_of,
)
from jota.client.informer import DeletedObj

logger = logging.getLogger(__name__)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
CONTROLLER_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
ORPHAN_PREFIX = "orphan-pod:"
Now = Callable[[], float]


# ---- small facts ------------------------------------------------------------------------------


def spec_of(job: Obj) -> Obj:
    return job.get("spec") or {}


def is_indexed(job: Obj) -> bool:
    return spec_of(job).get("completionMode") == "Indexed"


def condition(obj: Obj, ctype: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def is_finished(job: Obj) -> bool:
    """Complete or Failed: a finished Job never runs a pod again."""
    return any((condition(job, t) or {}).get("status") == "True" for t in ("Complete", "Failed"))


def finish_time(job: Obj) -> float | None:
    for ctype in ("Complete", "Failed"):
        cond = condition(job, ctype)
        if cond is not None and cond.get("status") == "True":
            return parse_time(cond.get("lastTransitionTime"))
    return None


def phase_of(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_index(pod: Obj) -> int | None:
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(COMPLETION_INDEX) or \
        (md.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def has_tracking(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


def pod_finished_at(pod: Obj) -> float:
    """When a pod stopped: its containers' finishedAt, else its last condition change,
    else its creation (a status patched by hand carries no times)."""
    st = pod.get("status") or {}
    times = [parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for c in st.get("containerStatuses") or [] if isinstance(c, dict)]
    times += [parse_time(c.get("lastTransitionTime"))
              for c in st.get("conditions") or [] if isinstance(c, dict)]
    found = [t for t in times if t is not None]
    if found:
        return max(found)
    return parse_time((pod.get("metadata") or {}).get("creationTimestamp")) or 0.0


def restarts(pod: Obj) -> int:
    return sum(int(c.get("restartCount") or 0)
               for c in (pod.get("status") or {}).get("containerStatuses") or []
               if isinstance(c, dict))


def parse_indexes(text: str) -> set[int]:
    """"0-2,5" -> {0, 1, 2, 5} (status.completedIndexes)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def format_indexes(indexes: set[int]) -> str:
    """{0, 1, 2, 5} -> "0-2,5", ranges merged as Kubernetes writes them."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _int_or(value: Any, default: int) -> int:
    return int(value) if isinstance(value, int) else default


def backoff_delay(failures: int) -> float:
    """10 s after the first failure, doubling, capped at 6 minutes; 0 with none."""
    if failures <= 0:
        return 0.0
    return float(min(DEFAULT_BACKOFF * 2.0 ** (failures - 1), MAX_BACKOFF))


def new_condition(ctype: str, status: str, reason: str, message: str, now: float) -> Obj:
    stamp = format_time(now)
    return {"type": ctype, "status": status, "lastProbeTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(conditions: list[Obj], cond: Obj) -> list[Obj]:
    """Replace a condition of the same type, keeping its transition time if unchanged."""
    out, found = [], False
    for c in conditions:
        if c.get("type") == cond.get("type"):
            found = True
            if c.get("status") == cond.get("status"):
                cond = {**cond, "lastTransitionTime": c.get("lastTransitionTime")}
            out.append(cond)
        else:
            out.append(c)
    return out if found else [*out, cond]


def pod_from_job(job: Obj, index: int | None = None) -> Obj:
    """A new pod of `job`: template labels, tracking finalizer, owner ref; in Indexed
    mode the completion index (annotation, label, env) and hostname `<job>-<index>`."""
    template = spec_of(job).get("template") or {}
    tmeta = template.get("metadata") or {}
    name = name_of(job)
    labels = dict(tmeta.get("labels") or {})
    annotations = dict(tmeta.get("annotations") or {})
    spec = copy.deepcopy(template.get("spec") or {})
    md: Obj = {"generateName": f"{name}-", "namespace": namespace_of(job),
               "ownerReferences": [new_controller_ref(job)],
               "finalizers": [*(tmeta.get("finalizers") or []), TRACKING_FINALIZER]}
    if index is not None:
        md["generateName"] = f"{name}-{index}-"
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
        spec.setdefault("hostname", f"{name}-{index}")
        env = {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
        for group in ("initContainers", "containers"):
            for c in spec.get(group) or []:
                if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in c.get("env") or []):
                    c["env"] = [*(c.get("env") or []), env]
    if labels:
        md["labels"] = labels
    if annotations:
        md["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


# ---- the pure decision -------------------------------------------------------------------------


@dataclass
class JobPlan:
    status: Obj
    create: list[int | None] = field(default_factory=list)  # an index per pod (None: NonIndexed)
    delete: list[Obj] = field(default_factory=list)
    untrack: list[Obj] = field(default_factory=list)  # pods whose finalizer goes
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)  # type, reason, message


def _count_terminal(job: Obj, pods: list[Obj], status: Obj) -> tuple[list[Obj], list[Obj]]:
    """Move finished pods through uncountedTerminatedPods; returns (untrack, active)."""
    uncounted = status.get("uncountedTerminatedPods") or {}
    ok, bad = list(uncounted.get("succeeded") or []), list(uncounted.get("failed") or [])
    finished = is_finished(job)
    completed = parse_indexes(str(status.get("completedIndexes") or ""))
    untrack, active, tracked = [], [], set()
    for pod in pods:
        uid, phase = uid_of(pod), phase_of(pod)
        done = phase in ("Succeeded", "Failed") or is_deleting(pod)
        if not done:
            active.append(pod)
        if done and has_tracking(pod):
            tracked.add(uid)
            untrack.append(pod)
            # pods deleted for a suspension are not failures
            stopped = phase not in ("Succeeded", "Failed") and spec_of(job).get("suspend")
            if finished or stopped or uid in ok or uid in bad:
                continue
            (ok if phase == "Succeeded" else bad).append(uid)
    # uids whose pod no longer carries the finalizer (or is gone) are counted now
    for uid in [u for u in ok if u not in tracked]:
        ok.remove(uid)
        found = [p for p in pods if uid_of(p) == uid]
        index = pod_index(found[0]) if found else None
        if is_indexed(job) and index is not None:
            completed.add(index)
        elif not is_indexed(job):
            status["succeeded"] = int(status.get("succeeded") or 0) + 1
    for uid in [u for u in bad if u not in tracked]:
        bad.remove(uid)
        status["failed"] = int(status.get("failed") or 0) + 1
    if is_indexed(job):
        status["completedIndexes"] = format_indexes(completed)
        status["succeeded"] = len(completed)
    status["uncountedTerminatedPods"] = {k: v for k, v in (("succeeded", ok), ("failed", bad))
                                         if v}
    return untrack, active


def plan_job(job: Obj, pods: list[Obj], now: float, *, may_manage: bool = True) -> JobPlan:
    """What to do for `job` given its pods (all owned, terminal or not) at `now`.

    `may_manage` is False while expectations are unmet: count and write status, but
    create and delete nothing.
    """
    spec = spec_of(job)
    status: Obj = copy.deepcopy(job.get("status") or {})
    plan = JobPlan(status)
    untrack, active = _count_terminal(job, pods, status)
    plan.untrack = untrack
    conditions = list(status.get("conditions") or [])
    succeeded, failed = int(status.get("succeeded") or 0), int(status.get("failed") or 0)
    pending_ok = len((status.get("uncountedTerminatedPods") or {}).get("succeeded") or [])
    pending_bad = len((status.get("uncountedTerminatedPods") or {}).get("failed") or [])
    if is_finished(job):
        plan.delete = active if may_manage else []
        _fill_counts(status, active)
        return plan

    suspended = bool(spec.get("suspend"))
    was_suspended = (condition(job, "Suspended") or {}).get("status") == "True"
    if suspended:
        if not was_suspended:
            conditions = set_condition(conditions, new_condition(
                "Suspended", "True", "JobSuspended", "Job suspended", now))
            plan.events.append((NORMAL, "Suspended", "Job suspended"))
        plan.delete = active if may_manage else []
        status["conditions"] = conditions
        _fill_counts(status, active)
        return plan
    if was_suspended:
        conditions = set_condition(conditions, new_condition(
            "Suspended", "False", "JobResumed", "Job resumed", now))
        plan.events.append((NORMAL, "Resumed", "Job resumed"))
        status["startTime"] = format_time(now)
    status.setdefault("startTime", format_time(now))
    start = parse_time(status["startTime"]) or now

    completions = spec.get("completions")
    parallelism = _int_or(spec.get("parallelism"), 1)
    limit = _int_or(spec.get("backoffLimit"), 6)
    on_failure = (spec.get("template") or {}).get("spec", {}).get("restartPolicy") == "OnFailure"
    total_failed = failed + pending_bad + (sum(restarts(p) for p in active) if on_failure else 0)
    deadline = spec.get("activeDeadlineSeconds")

    failure: tuple[str, str] | None = None
    if total_failed > limit:
        failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    elif deadline is not None and now >= start + int(deadline):
        failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
    if failure is not None:
        plan.delete = active if may_manage else []
        status["conditions"] = set_condition(conditions, new_condition(
            "Failed", "True", failure[0], failure[1], now))
        plan.events.append((WARNING, failure[0], failure[1]))
        _fill_counts(status, active)
        return plan

    done_ok = succeeded + pending_ok
    if is_indexed(job):
        completed = parse_indexes(str(status.get("completedIndexes") or ""))
        completed |= {i for p in pods if uid_of(p) in
                      ((status.get("uncountedTerminatedPods") or {}).get("succeeded") or [])
                      and (i := pod_index(p)) is not None}
        complete = completions is not None and len(completed) >= int(completions)
    elif completions is not None:
        complete = done_ok >= int(completions)
    else:
        complete = done_ok > 0 and not active
    if complete:
        plan.delete = active if may_manage else []
        if not active and not pending_ok and not pending_bad:
            status["conditions"] = set_condition(conditions, new_condition(
                "Complete", "True", "CompletionsReached",
                "Reached expected number of succeeded pods", now))
            status["completionTime"] = format_time(now)
            plan.events.append((NORMAL, "Completed", "Job completed"))
        else:
            status["conditions"] = conditions
        _fill_counts(status, active)
        return plan

    status["conditions"] = conditions
    if deadline is not None:
        plan.requeue_after = start + int(deadline) - now
    if may_manage:
        _manage(job, pods, active, plan, now, parallelism, completions, done_ok)
    _fill_counts(status, active)
    return plan


def _manage(job: Obj, pods: list[Obj], active: list[Obj], plan: JobPlan, now: float,
            parallelism: int, completions: Any, done_ok: int) -> None:
    """Pods to create or delete so that the right number run."""
    if is_indexed(job):
        completed = parse_indexes(str(plan.status.get("completedIndexes") or ""))
        running = {pod_index(p) for p in active}
        missing = [i for i in range(int(completions or 0))
                   if i not in completed and i not in running]
        want_new = max(0, min(parallelism - len(active), len(missing)))
        to_create: list[int | None] = list(missing[:want_new])
    else:
        if completions is None:
            want = 0 if done_ok > 0 else parallelism
        else:
            want = min(parallelism, int(completions) - done_ok)
        want = max(0, want)
        if len(active) > want:
            newest_first = sorted(active, key=lambda p: (phase_of(p) != "Pending",
                                                         not is_pod_ready(p),
                                                         str(p["metadata"].get(
                                                             "creationTimestamp") or "")))
            plan.delete = newest_first[:len(active) - want]
            return
        to_create = [None] * (want - len(active))
    if not to_create:
        return
    wait = _backoff_remaining(pods, now)
    if wait > 0:
        plan.requeue_after = min(wait, plan.requeue_after or wait)
        return
    plan.create = to_create


def _backoff_remaining(pods: list[Obj], now: float) -> float:
    """Seconds still to wait after the failures since the last success (backoffRecord)."""
    finished = sorted((pod_finished_at(p), phase_of(p)) for p in pods
                       if phase_of(p) in ("Succeeded", "Failed"))
    failures, last = 0, 0.0
    for at, phase in finished:
        if phase == "Succeeded":
            failures = 0
        else:
            failures, last = failures + 1, at
    if failures == 0:
        return 0.0
    return max(0.0, last + backoff_delay(failures) - now)


def _fill_counts(status: Obj, active: list[Obj]) -> None:
    running = [p for p in active if not is_deleting(p)]
    status["active"] = len(running)
    status["ready"] = sum(1 for p in running if is_pod_ready(p))
    for name in ("active", "succeeded", "failed"):
        if not status.get(name):
            status.pop(name, None)
    if not status.get("conditions"):
        status.pop("conditions", None)
    if status.get("completedIndexes") == "":
        status.pop("completedIndexes", None)


def ttl_remaining(job: Obj, now: float) -> float | None:
    """Seconds until a finished Job with ttlSecondsAfterFinished is due; None if never."""
    ttl = spec_of(job).get("ttlSecondsAfterFinished")
    done = finish_time(job)
    if ttl is None or done is None:
        return None
    return done + int(ttl) - now


# ---- the controller ---------------------------------------------------------------------------


class JobController:
    name = "job"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("job")
        self.expectations = ControllerExpectations()
        self.recorder = EventRecorder(client, "job-controller")
        self.pods = PodControl(client, self.recorder, self.expectations)
        indexers = OWNED_INDEXERS
        self.job_informer = factory.informer_for("jobs", indexers=indexers)
        self.pod_informer = factory.informer_for("pods", indexers=indexers)
        self.job_informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.pod_informer.add_event_handler(on_add=self._add_pod, on_update=self._update_pod,
                                            on_delete=self._delete_pod)

    def _enqueue(self, job: Obj) -> None:
        self.queue.add(pod_key(job))

    def _owner_of(self, pod: Obj) -> Obj | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        job = self.job_informer.store.get_by_key(f"{namespace_of(pod)}/{ref.get('name', '')}")
        if job is None or uid_of(job) != ref.get("uid"):
            return None
        return job

    def _pod_changed(self, pod: Obj) -> None:
        job = self._owner_of(pod)
        if job is not None:
            self._enqueue(job)
        elif has_tracking(pod) and (is_deleting(pod) or phase_of(pod) in ("Succeeded",
                                                                           "Failed")):
            self.queue.add(ORPHAN_PREFIX + pod_key(pod))

    def _add_pod(self, pod: Obj) -> None:
        job = self._owner_of(pod)
        if job is not None:
            self.expectations.creation_observed(pod_key(job))
        self._pod_changed(pod)

    def _update_pod(self, old: Obj, new: Obj) -> None:
        if is_deleting(new) and not is_deleting(old):
            job = self._owner_of(new)
            if job is not None:
                self.expectations.deletion_observed(pod_key(job), pod_key(new))
        self._pod_changed(new)

    def _delete_pod(self, obj: DeletedObj) -> None:
        pod = object_of(obj)
        job = self._owner_of(pod)
        if job is None:
            return
        self.expectations.deletion_observed(pod_key(job), meta_namespace_key(obj))
        self._enqueue(job)

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            await self._release_orphan(key[len(ORPHAN_PREFIX):])
            return
        job = self.job_informer.store.get_by_key(key)
        if job is None:
            self.expectations.delete_expectations(key)
            return
        now = self.clock()
        if is_finished(job):
            remaining = ttl_remaining(job, now)
            if remaining is not None and remaining <= 0 and not is_deleting(job):
                await self._delete_finished(job)
                return
            if remaining is not None:
                self.queue.add_after(key, remaining)
        pods = [p for p in self.pod_informer.store.by_index(CONTROLLER_UID_INDEX, uid_of(job))
                if namespace_of(p) == namespace_of(job)]
        may_manage = self.expectations.satisfied_expectations(key) and not is_deleting(job)
        plan = plan_job(job, pods, now, may_manage=may_manage)
        # 1. record finished pods as uncounted before their finalizers go
        job = await self._write_status(job, plan.status, only_uncounted=True)
        await self._manage(key, job, plan)
        for pod in plan.untrack:
            await self._remove_finalizer(pod)
        if plan.untrack:
            self.queue.add_after(key, 0.2)  # count them once the cache sees them untracked
        job = await self._write_status(job, plan.status)
        for etype, reason, message in plan.events:
            self.recorder.event(job, etype, reason, message)
        if plan.requeue_after is not None:
            self.queue.add_after(key, max(plan.requeue_after, 0.0) + 0.1)
        if is_finished(job) and (remaining := ttl_remaining(job, self.clock())) is not None:
            self.queue.add_after(key, max(remaining, 0.0))

    async def _manage(self, key: str, job: Obj, plan: JobPlan) -> None:
        if plan.create:
            self.expectations.expect_creations(key, len(plan.create))
            results = await asyncio.gather(
                *(self.pods.create(key, job, pod_from_job(job, i)) for i in plan.create),
                return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
        if plan.delete:
            self.expectations.expect_deletions(key, [pod_key(p) for p in plan.delete])
            for pod in plan.delete:
                await self.pods.delete(key, job, pod)

    async def _remove_finalizer(self, pod: Obj) -> None:
        left = [f for f in pod["metadata"].get("finalizers") or [] if f != TRACKING_FINALIZER]
        patch = {"metadata": {"finalizers": left or None,
                              "resourceVersion": pod["metadata"].get("resourceVersion")}}
        with contextlib.suppress(errors.NotFound):
            await self.client.patch("pods", name_of(pod), patch, namespace_of(pod),
                                    patch_type="merge")

    async def _release_orphan(self, key: str) -> None:
        pod = self.pod_informer.store.get_by_key(key)
        if pod is None or not has_tracking(pod) or self._owner_of(pod) is not None:
            return
        try:
            await self._remove_finalizer(pod)
        except errors.Conflict:
            self.queue.add_after(ORPHAN_PREFIX + key, 0.5)

    async def _delete_finished(self, job: Obj) -> None:
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete("jobs", name_of(job), namespace_of(job),
                                     propagation_policy="Foreground",
                                     precondition_resource_version=str(
                                         job["metadata"].get("resourceVersion") or ""))

    async def _write_status(self, job: Obj, status: Obj, *, only_uncounted: bool = False) -> Obj:
        old = job.get("status") or {}
        if only_uncounted:
            new_uncounted = status.get("uncountedTerminatedPods") or {}
            old_uncounted = old.get("uncountedTerminatedPods") or {}
            grew = any(set(new_uncounted.get(k) or []) - set(old_uncounted.get(k) or [])
                       for k in ("succeeded", "failed"))
            if not grew:
                return job
            status = {**old, "uncountedTerminatedPods": {
                k: sorted(set(old_uncounted.get(k) or []) | set(new_uncounted.get(k) or []))
                for k in ("succeeded", "failed")
                if (old_uncounted.get(k) or new_uncounted.get(k))}}
        if old == status:
            return job
        fresh = copy.deepcopy(job)
        fresh["status"] = status
        try:
            return await self.client.update_status("jobs", fresh, namespace_of(job))
        except errors.NotFound:
            return job

"""The CronJob controller: creates a Job at each time the schedule names.

As Kubernetes' `cronjob_controllerv2`: `sync(key)` reads the caches, then

- reconciles `status.active` with the Jobs it owns (finished ones leave it and set
  `lastSuccessfulTime`; gone ones leave it), and deletes finished Jobs beyond
  `successfulJobsHistoryLimit` / `failedJobsHistoryLimit`, oldest first;
- finds the most recent scheduled time not yet run, between `lastScheduleTime`
  (or the CronJob's creation) and now, in `spec.timeZone`. Times missed while the
  controller was down are not all run: only the most recent, and with more than
  100 missed it says so (`TooManyMissedTimes`); one older than
  `startingDeadlineSeconds` is not run at all (`MissSchedule`);
- applies `concurrencyPolicy` (Forbid skips while a Job runs, Replace deletes it);
- creates Job `<cronjob>-<scheduled time in minutes since the epoch>`, so a
  restart never runs one time twice, and requeues itself for the next time.

The decisions are the pure `most_recent_schedule` and `plan_cronjob`.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field

from controlplane.controllers.job import condition as job_condition
from controlplane.controllers.job import is_finished
from controlplane.controllers.replicaset import (
    CONTROLLER_UID_INDEX,
    OWNED_INDEXERS,
    controller_ref,
    format_time,
    is_deleting,
    new_controller_ref,
    parse_time,
    pod_key,
    uid_of,
)
from controlplane.controllers.runloop import run_controller
from jota.api import errors
from jota.api.meta import Obj, name_of, namespace_of
from jota.api.validation.cron import Schedule, next_after, parse_schedule
from jota.client import (
    NORMAL,
    WARNING,
    Client,
    EventRecorder,
    RateLimitingQueue,
    SharedInformerFactory,
    object_of,
)

logger = logging.getLogger(__name__)

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100
NEXT_SCHEDULE_DELTA = 0.1
Now = Callable[[], float]


def location(tz: str | None) -> dt.tzinfo:
    """The zone of `spec.timeZone` (UTC when unset); ValueError for an unknown one."""
    if not tz:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {tz}") from e


def job_name_for(cronjob: str, scheduled: dt.datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def most_recent_schedule(s: Schedule, earliest: dt.datetime, now: dt.datetime
                         ) -> tuple[dt.datetime | None, int]:
    """The latest scheduled time in (earliest, now], and how many were missed.

    As Kubernetes' mostRecentScheduleTime: the count is estimated from the interval
    between the first two times (exact for regular schedules), then the most recent
    time is found by walking from a window just before now, never minute by minute
    over years.
    """
    t1 = next_after(s, earliest)
    if t1 is None or now < t1:
        return None, 0
    t2 = next_after(s, t1)
    if t2 is None or now < t2:
        return t1, 1
    interval = max((t2 - t1).total_seconds(), 60.0)
    missed = int((now - t1).total_seconds() // interval) + 1
    window = dt.timedelta(seconds=2 * interval)
    start = max(earliest, now - window)
    first = next_after(s, start)
    while (first is None or first > now) and start > earliest:
        window *= 8
        start = max(earliest, now - window)
        first = next_after(s, start)
    recent = first or t1
    while (following := next_after(s, recent)) is not None and following <= now:
        recent = following
    return recent, missed


def job_ref(job: Obj) -> Obj:
    md = job.get("metadata") or {}
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md.get("name", ""),
            "namespace": md.get("namespace", ""), "uid": md.get("uid", ""),
            "resourceVersion": md.get("resourceVersion", "")}


def job_from_template(cj: Obj, scheduled: dt.datetime) -> Obj:
    """The Job for `scheduled` (getJobFromTemplate2)."""
    template = (cj.get("spec") or {}).get("jobTemplate") or {}
    tmeta = template.get("metadata") or {}
    annotations = dict(tmeta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = scheduled.isoformat(timespec="seconds").replace(
        "+00:00", "Z")
    md: Obj = {"name": job_name_for(name_of(cj), scheduled), "namespace": namespace_of(cj),
               "annotations": annotations, "ownerReferences": [new_controller_ref(cj)]}
    if tmeta.get("labels"):
        md["labels"] = dict(tmeta["labels"])
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md,
            "spec": copy.deepcopy(template.get("spec") or {})}


def _succeeded(job: Obj) -> bool:
    return (job_condition(job, "Complete") or {}).get("status") == "True"


def _finished_condition(job: Obj) -> str:
    return "Complete" if _succeeded(job) else "Failed"


@dataclass
class CronPlan:
    status: Obj
    create_at: dt.datetime | None = None
    delete: list[Obj] = field(default_factory=list)  # jobs (Replace, history limits)
    requeue_after: float | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)


def _history_victims(jobs: list[Obj], limit: int | None) -> list[Obj]:
    if limit is None or len(jobs) <= limit:
        return []
    def started(j: Obj) -> float:
        return parse_time((j.get("status") or {}).get("startTime")) or 0.0
    return sorted(jobs, key=started)[:len(jobs) - limit]


def plan_cronjob(cj: Obj, jobs: list[Obj], now: float) -> CronPlan:
    """What to do for `cj`, given the Jobs it owns, at `now` (seconds since the epoch)."""
    spec = cj.get("spec") or {}
    status: Obj = copy.deepcopy(cj.get("status") or {})
    plan = CronPlan(status)
    by_uid = {uid_of(j): j for j in jobs}
    active = [r for r in status.get("active") or [] if r.get("uid") in by_uid]
    active_uids = {r.get("uid") for r in active}
    for job in jobs:
        uid = uid_of(job)
        if uid in active_uids and is_finished(job):
            active = [r for r in active if r.get("uid") != uid]
            plan.events.append((NORMAL, "SawCompletedJob", f"Saw completed job: {name_of(job)}"
                                f", condition: {_finished_condition(job)}"))
        elif uid not in active_uids and not is_finished(job) and not is_deleting(job):
            plan.events.append((WARNING, "UnexpectedJob", "Saw a job that the controller did "
                                f"not create or forgot: {name_of(job)}"))
        if _succeeded(job):
            done = (job.get("status") or {}).get("completionTime")
            last = status.get("lastSuccessfulTime")
            if done and (not last or (parse_time(done) or 0) > (parse_time(last) or 0)):
                status["lastSuccessfulTime"] = done
    status["active"] = active
    finished = [j for j in jobs if is_finished(j) and not is_deleting(j)]
    plan.delete += _history_victims([j for j in finished if _succeeded(j)],
                                    spec.get("successfulJobsHistoryLimit"))
    plan.delete += _history_victims([j for j in finished if not _succeeded(j)],
                                    spec.get("failedJobsHistoryLimit"))
    if is_deleting(cj):
        return _done(plan)
    try:
        tz = location(spec.get("timeZone"))
    except ValueError as e:
        plan.events.append((WARNING, "UnknownTimeZone", str(e)))
        return _done(plan)
    if spec.get("suspend"):
        return _done(plan)
    try:
        sched = parse_schedule(str(spec.get("schedule") or ""))
    except ValueError as e:
        plan.events.append((WARNING, "UnparseableSchedule",
                            f"unparseable schedule: {spec.get('schedule')!r} : {e}"))
        return _done(plan)
    now_tz = dt.datetime.fromtimestamp(now, dt.UTC).astimezone(tz)
    earliest_ts = parse_time(status.get("lastScheduleTime")) or parse_time(
        (cj.get("metadata") or {}).get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if isinstance(deadline, int):
        earliest_ts = max(earliest_ts, now - deadline)
    earliest = dt.datetime.fromtimestamp(earliest_ts, dt.UTC).astimezone(tz)
    scheduled, missed = most_recent_schedule(sched, earliest, now_tz)
    following = next_after(sched, now_tz)
    if following is not None:
        plan.requeue_after = (following - now_tz).total_seconds() + NEXT_SCHEDULE_DELTA
    if scheduled is None:
        return _done(plan)
    if missed > TOO_MANY_MISSED:
        plan.events.append((WARNING, "TooManyMissedTimes", f"too many missed start times: "
                            f"{missed}. Set or decrease .spec.startingDeadlineSeconds or "
                            "check clock skew"))
    if isinstance(deadline, int) and scheduled.timestamp() + deadline < now:
        plan.events.append((WARNING, "MissSchedule", "Missed scheduled time to start a job: "
                            + scheduled.astimezone(dt.UTC).strftime(
                                "%a, %d %b %Y %H:%M:%S +0000")))
        return _done(plan)
    name = job_name_for(name_of(cj), scheduled)
    if any(r.get("name") == name for r in active) or any(name_of(j) == name for j in jobs) or \
            parse_time(status.get("lastScheduleTime")) == scheduled.timestamp():
        return _done(plan)
    policy = spec.get("concurrencyPolicy") or "Allow"
    if policy == "Forbid" and active:
        logger.info("not starting job because prior execution is still running and "
                    "concurrency policy is Forbid", extra={"cronjob": pod_key(cj)})
        return _done(plan)
    if policy == "Replace":
        for ref in active:
            running = by_uid.get(ref.get("uid"))
            if running is not None and running not in plan.delete:
                plan.delete.append(running)
        status["active"] = []
    plan.create_at = scheduled
    return plan


def _done(plan: CronPlan) -> CronPlan:
    if not plan.status.get("active"):
        plan.status.pop("active", None)
    return plan


class CronJobController:
    name = "cronjob"

    def __init__(self, client: Client, factory: SharedInformerFactory, *,
                 clock: Now = time.time) -> None:
        self.client = client
        self.clock = clock
        self.queue = RateLimitingQueue("cronjob")
        self.recorder = EventRecorder(client, "cronjob-controller")
        indexers = OWNED_INDEXERS
        self.cj_informer = factory.informer_for("cronjobs", indexers=indexers)
        self.job_informer = factory.informer_for("jobs", indexers=indexers)
        self.cj_informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
            on_delete=lambda obj: self._enqueue(object_of(obj)))
        self.job_informer.add_event_handler(
            on_add=self._job_changed, on_update=lambda old, new: self._job_changed(new),
            on_delete=lambda obj: self._job_changed(object_of(obj)))

    def _enqueue(self, cj: Obj) -> None:
        self.queue.add(pod_key(cj))

    def _job_changed(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is not None and ref.get("kind") == "CronJob":
            self.queue.add(f"{namespace_of(job)}/{ref.get('name', '')}")

    async def run(self, workers: int = 2) -> None:
        await run_controller(self.queue, self.sync, workers, self.recorder)

    async def sync(self, key: str) -> None:
        cj = self.cj_informer.store.get_by_key(key)
        if cj is None:
            return
        jobs = [j for j in self.job_informer.store.by_index(CONTROLLER_UID_INDEX, uid_of(cj))
                if namespace_of(j) == namespace_of(cj)]
        plan = plan_cronjob(cj, jobs, self.clock())
        for etype, reason, message in plan.events:
            self.recorder.event(cj, etype, reason, message)
        for job in plan.delete:
            try:
                await self.client.delete("jobs", name_of(job), namespace_of(job),
                                         propagation_policy="Background")
            except errors.NotFound:
                continue
            self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {name_of(job)}")
        status = plan.status
        if plan.create_at is not None:
            status = await self._create(cj, plan.create_at, status)
        await self._write_status(cj, status)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _create(self, cj: Obj, at: dt.datetime, status: Obj) -> Obj:
        try:
            job = await self.client.create("jobs", job_from_template(cj, at), namespace_of(cj))
        except errors.AlreadyExists:
            return status  # made by an earlier sync or another actor: not ours to record
        except errors.APIError as e:
            self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {e.message}")
            raise
        self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {name_of(job)}")
        status = {**status, "active": [*(status.get("active") or []), job_ref(job)],
                  "lastScheduleTime": format_time(at.timestamp())}
        return status

    async def _write_status(self, cj: Obj, status: Obj) -> None:
        if (cj.get("status") or {}) == status:
            return
        fresh = copy.deepcopy(cj)
        fresh["status"] = status
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status("cronjobs", fresh, namespace_of(cj))


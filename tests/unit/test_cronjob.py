"""The CronJob controller's decisions: which time to run, missed runs, policies, history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from controlplane.controllers.cronjob import (
    SCHEDULED_TIMESTAMP,
    job_from_template,
    job_name_for,
    most_recent_schedule,
    plan_cronjob,
)
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj
from jota.api.validation.cron import parse_schedule

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def ts(text: str) -> float:
    return at(text).timestamp()


@pytest.mark.parametrize(("schedule", "earliest", "now", "recent", "missed"), [
    ("* * * * *", "2026-01-01T10:00:00", "2026-01-01T10:00:30", None, 0),
    ("* * * * *", "2026-01-01T10:00:00", "2026-01-01T10:01:05", "2026-01-01T10:01:00", 1),
    ("* * * * *", "2026-01-01T10:00:00", "2026-01-01T10:05:00", "2026-01-01T10:05:00", 5),
    ("@hourly", "2026-01-01T10:30:00", "2026-01-01T13:10:00", "2026-01-01T13:00:00", 3),
    ("@daily", "2026-01-01T10:30:00", "2026-01-01T23:59:00", None, 0),
    ("*/5 * * * *", "2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-02T00:00:00", 288),
    ("0 9 * * 1-5", "2026-01-02T10:00:00", "2026-01-05T08:00:00", None, 0),  # Fri -> Mon
    ("0 9 * * 1-5", "2026-01-02T10:00:00", "2026-01-06T12:00:00", "2026-01-06T09:00:00", 2),
    # a controller down for a year: the most recent time, found without walking the year
    ("* * * * *", "2025-01-01T00:00:00", "2026-01-01T00:00:30", "2026-01-01T00:00:00", 525600),
])
def test_most_recent_schedule(schedule: str, earliest: str, now: str, recent: str | None,
                              missed: int) -> None:
    got, n = most_recent_schedule(parse_schedule(schedule), at(earliest), at(now))
    assert (got, n) == (at(recent) if recent else None, missed)


def cronjob(schedule: str = "* * * * *", *, status: Obj | None = None,
            created: str = "2026-01-01T10:00:00", **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "hello", "namespace": "ns", "uid": "cj1",
                         "creationTimestamp": format_time(ts(created))},
            "spec": {"schedule": schedule, "concurrencyPolicy": "Allow", "suspend": False,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"metadata": {"labels": {"app": "hello"}},
                                     "spec": {"template": {"spec": {
                                         "restartPolicy": "OnFailure",
                                         "containers": [{"name": "c", "image": "busybox"}]}}}},
                     **spec},
            "status": status or {}}


def job(name: str, *, state: str = "", started: str = "2026-01-01T10:00:00") -> Obj:
    status: Obj = {"startTime": format_time(ts(started))}
    if state:
        status["conditions"] = [{"type": state, "status": "True"}]
        if state == "Complete":
            status["completionTime"] = format_time(ts(started) + 5)
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                         "ownerReferences": [{"kind": "CronJob", "name": "hello", "uid": "cj1",
                                              "controller": True}]},
            "status": status}


def ref(name: str) -> Obj:
    return {"kind": "Job", "name": name, "namespace": "ns", "uid": f"uid-{name}"}


def test_runs_the_scheduled_minute_and_waits_for_the_next() -> None:
    plan = plan_cronjob(cronjob(), [], ts("2026-01-01T10:01:02"))
    assert plan.create_at == at("2026-01-01T10:01:00")
    assert plan.requeue_after == pytest.approx(58.1)
    made = job_from_template(cronjob(), at("2026-01-01T10:01:00"))
    assert made["metadata"]["name"] == job_name_for("hello", at("2026-01-01T10:01:00")) \
        == f"hello-{int(ts('2026-01-01T10:01:00')) // 60}"
    assert made["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2026-01-01T10:01:00Z"
    assert made["metadata"]["labels"] == {"app": "hello"}
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"


def test_time_zone_shifts_the_schedule() -> None:
    cj = cronjob("0 9 * * *", timeZone="Europe/Paris", created="2026-01-01T00:00:00")
    plan = plan_cronjob(cj, [], ts("2026-01-01T08:00:30"))  # 09:00 in Paris
    assert plan.create_at is not None
    assert plan.create_at.astimezone(UTC) == at("2026-01-01T08:00:00")
    made = job_from_template(cj, plan.create_at)
    assert made["metadata"]["annotations"][SCHEDULED_TIMESTAMP] == "2026-01-01T09:00:00+01:00"


def test_unknown_time_zone_is_an_event_not_a_run() -> None:
    plan = plan_cronjob(cronjob(timeZone="Mars/Olympus"), [], ts("2026-01-01T10:05:00"))
    assert plan.create_at is None
    assert plan.events == [("Warning", "UnknownTimeZone", "unknown time zone Mars/Olympus")]


def test_too_many_missed_runs_start_only_the_most_recent() -> None:
    plan = plan_cronjob(cronjob(), [], ts("2026-01-01T12:00:10"))
    assert plan.create_at == at("2026-01-01T12:00:00")
    assert plan.events == [("Warning", "TooManyMissedTimes",
                            "too many missed start times: 120. Set or decrease "
                            ".spec.startingDeadlineSeconds or check clock skew")]


def test_starting_deadline_skips_a_late_run_and_bounds_the_missed_count() -> None:
    cj = cronjob("0 * * * *", startingDeadlineSeconds=60)
    plan = plan_cronjob(cj, [], ts("2026-01-01T11:02:00"))
    assert plan.create_at is None
    plan = plan_cronjob(cj, [], ts("2026-01-01T11:00:30"))
    assert plan.create_at == at("2026-01-01T11:00:00")
    cj = cronjob("0 * * * *", startingDeadlineSeconds=10)
    plan = plan_cronjob(cj, [], ts("2026-01-01T11:00:30"))
    assert plan.create_at is None


@pytest.mark.parametrize(("policy", "creates", "deletes"), [
    ("Allow", True, []), ("Forbid", False, []), ("Replace", True, ["hello-1"])])
def test_concurrency_policy(policy: str, creates: bool, deletes: list[str]) -> None:
    cj = cronjob(concurrencyPolicy=policy,
                 status={"active": [ref("hello-1")],
                         "lastScheduleTime": format_time(ts("2026-01-01T10:00:00"))})
    plan = plan_cronjob(cj, [job("hello-1")], ts("2026-01-01T10:01:01"))
    assert (plan.create_at is not None) == creates
    assert [j["metadata"]["name"] for j in plan.delete] == deletes


def test_suspend_runs_nothing() -> None:
    assert plan_cronjob(cronjob(suspend=True), [], ts("2026-01-01T10:05:00")).create_at is None


def test_finished_jobs_leave_active_and_history_is_trimmed() -> None:
    done = [job(f"ok{i}", state="Complete", started=f"2026-01-01T10:0{i}:00") for i in range(5)]
    bad = [job(f"bad{i}", state="Failed", started=f"2026-01-01T10:0{i}:00") for i in range(2)]
    cj = cronjob(status={"active": [ref("ok4")],
                         "lastScheduleTime": format_time(ts("2026-01-01T10:04:00"))})
    plan = plan_cronjob(cj, done + bad, ts("2026-01-01T10:04:30"))
    assert "active" not in plan.status
    assert plan.status["lastSuccessfulTime"] == format_time(ts("2026-01-01T10:04:05"))
    assert sorted(j["metadata"]["name"] for j in plan.delete) == ["bad0", "ok0", "ok1"]
    assert ("Normal", "SawCompletedJob", "Saw completed job: ok4, condition: Complete") in \
        plan.events
    assert plan.create_at is None


def test_a_run_already_made_is_not_made_again() -> None:
    name = job_name_for("hello", at("2026-01-01T10:01:00"))
    plan = plan_cronjob(cronjob(), [job(name)], ts("2026-01-01T10:01:30"))
    assert plan.create_at is None

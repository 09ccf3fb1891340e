"""The Job controller's decisions: counting, creating, backoff, failing, completing."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.controllers.job import (
    COMPLETION_INDEX,
    TRACKING_FINALIZER,
    backoff_delay,
    format_indexes,
    parse_indexes,
    plan_job,
    pod_from_job,
    ttl_remaining,
)
from controlplane.controllers.replicaset import format_time
from jota.api.meta import Obj

T0 = 1_800_000_000.0


def job(*, completions: int | None = 3, parallelism: int = 2, backoff: int = 6,
        status: Obj | None = None, **spec: Any) -> Obj:
    s: Obj = {"parallelism": parallelism, "backoffLimit": backoff,
              "completionMode": "NonIndexed", "suspend": False,
              "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
              "template": {"metadata": {"labels": {"job-name": "pi"}},
                           "spec": {"restartPolicy": "Never",
                                    "containers": [{"name": "pi", "image": "busybox"}]}}}
    if completions is not None:
        s["completions"] = completions
    s.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1", "resourceVersion": "5"},
            "spec": s, "status": status if status is not None else
            {"startTime": format_time(T0)}}


def pod(name: str, phase: str = "Running", *, tracked: bool = True, at: float = T0,
        index: int | None = None, deleting: bool = False) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
               "creationTimestamp": format_time(at), "resourceVersion": "1",
               "ownerReferences": [{"kind": "Job", "name": "pi", "uid": "u1",
                                    "controller": True}]}
    if tracked:
        md["finalizers"] = [TRACKING_FINALIZER]
    if index is not None:
        md["annotations"] = {COMPLETION_INDEX: str(index)}
    if deleting:
        md["deletionTimestamp"] = format_time(at)
    return {"metadata": md, "status": {"phase": phase}}


@pytest.mark.parametrize(("failures", "delay"), [
    (0, 0.0), (1, 10.0), (2, 20.0), (3, 40.0), (6, 320.0), (7, 360.0), (30, 360.0)])
def test_pod_failure_backoff_doubles_from_ten_seconds_capped_at_six_minutes(
        failures: int, delay: float) -> None:
    assert backoff_delay(failures) == delay


@pytest.mark.parametrize(("text", "indexes"), [
    ("", set()), ("0", {0}), ("0-2,5", {0, 1, 2, 5}), ("1,3-4,7-9", {1, 3, 4, 7, 8, 9})])
def test_completed_indexes_round_trip(text: str, indexes: set[int]) -> None:
    assert parse_indexes(text) == indexes
    assert format_indexes(indexes) == text


@pytest.mark.parametrize(("spec", "pods", "creates"), [
    ({}, [], 2),                                                    # parallelism bounds
    ({"completions": 1}, [], 1),                                    # completions bound
    ({}, [pod("a")], 1),
    ({}, [pod("a"), pod("b")], 0),
    ({"completions": None, "parallelism": 3}, [], 3),               # work queue
], ids=["parallel", "one", "top-up", "full", "work-queue"])
def test_creates_pods_up_to_parallelism_and_remaining_completions(
        spec: Obj, pods: list[Obj], creates: int) -> None:
    plan = plan_job(job(**spec), pods, T0)
    assert len(plan.create) == creates
    assert plan.status["startTime"] == format_time(T0)


def test_finished_pods_are_counted_once_through_uncounted_terminated_pods() -> None:
    j = job()
    done = pod("a", "Succeeded")
    # 1. the finished pod becomes uncounted and loses its finalizer
    plan = plan_job(j, [done, pod("b")], T0)
    assert plan.status["uncountedTerminatedPods"] == {"succeeded": ["uid-a"]}
    assert plan.untrack == [done]
    assert "succeeded" not in plan.status
    assert len(plan.create) == 1  # 2 completions left, 1 running, parallelism 2
    # 2. once the finalizer is gone it is counted, and not again
    j["status"] = plan.status
    untracked = pod("a", "Succeeded", tracked=False)
    plan = plan_job(j, [untracked, pod("b")], T0)
    assert plan.status["succeeded"] == 1
    assert plan.status["uncountedTerminatedPods"] == {}
    j["status"] = plan.status
    plan = plan_job(j, [untracked, pod("b")], T0)
    assert plan.status["succeeded"] == 1
    assert plan.status["active"] == 1


def test_a_job_completes_when_completions_pods_succeeded() -> None:
    j = job(status={"startTime": format_time(T0), "succeeded": 3})
    plan = plan_job(j, [pod(n, "Succeeded", tracked=False) for n in "abc"], T0 + 30)
    complete = plan.status["conditions"][0]
    assert (complete["type"], complete["status"], complete["reason"]) == (
        "Complete", "True", "CompletionsReached")
    assert plan.status["completionTime"] == format_time(T0 + 30)
    assert "active" not in plan.status and plan.create == []


def test_failures_beyond_backoff_limit_fail_the_job_and_stop_its_pods() -> None:
    j = job(backoff=1, status={"startTime": format_time(T0), "failed": 1})
    running = pod("c")
    plan = plan_job(j, [pod("a", "Failed", tracked=False), pod("b", "Failed"), running], T0)
    failed = plan.status["conditions"][-1]
    assert (failed["type"], failed["reason"], failed["message"]) == (
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert plan.delete == [running]
    assert plan.create == []


def test_a_failed_pod_is_replaced_only_after_the_backoff() -> None:
    j = job(completions=1, parallelism=1, status={"startTime": format_time(T0), "failed": 1})
    failed = [pod("a", "Failed", tracked=False, at=T0)]
    early = plan_job(j, failed, T0 + 4)
    assert early.create == [] and early.requeue_after == pytest.approx(6.0)
    late = plan_job(j, failed, T0 + 10)
    assert late.create == [None]


def test_active_deadline_fails_the_job() -> None:
    j = job(activeDeadlineSeconds=60)
    assert plan_job(j, [pod("a")], T0 + 30).requeue_after == pytest.approx(30.0)
    plan = plan_job(j, [pod("a")], T0 + 61)
    failed = plan.status["conditions"][-1]
    assert (failed["reason"], failed["message"]) == (
        "DeadlineExceeded", "Job was active longer than specified deadline")
    assert len(plan.delete) == 1


def test_suspend_deletes_pods_and_resume_restarts_the_clock() -> None:
    j = job(suspend=True)
    plan = plan_job(j, [pod("a")], T0)
    assert plan.status["conditions"][0]["reason"] == "JobSuspended"
    assert len(plan.delete) == 1 and plan.create == []
    # the pod deleted for the suspension is not a failure
    j["status"] = plan.status
    gone = pod("a", deleting=True)
    plan = plan_job(j, [gone], T0 + 1)
    assert plan.untrack == [gone] and not plan.status.get("uncountedTerminatedPods")
    j["status"], j["spec"]["suspend"] = plan.status, False
    plan = plan_job(j, [], T0 + 100)
    resumed = plan.status["conditions"][0]
    assert (resumed["status"], resumed["reason"]) == ("False", "JobResumed")
    assert plan.status["startTime"] == format_time(T0 + 100)
    assert len(plan.create) == 2


def test_indexed_jobs_run_each_missing_index_and_track_completed_indexes() -> None:
    j = job(completionMode="Indexed", completions=4, parallelism=2,
            status={"startTime": format_time(T0), "completedIndexes": "0"})
    plan = plan_job(j, [pod("p1", index=1)], T0)
    assert plan.create == [2]
    j["status"]["uncountedTerminatedPods"] = {"succeeded": ["uid-p3"]}
    plan = plan_job(j, [pod("p3", "Succeeded", tracked=False, index=3)], T0)
    assert plan.status["completedIndexes"] == "0,3"
    assert plan.status["succeeded"] == 2


def test_indexed_pods_carry_index_hostname_and_env() -> None:
    p = pod_from_job(job(completionMode="Indexed"), 2)
    md = p["metadata"]
    assert md["generateName"] == "pi-2-"
    assert md["labels"][COMPLETION_INDEX] == md["annotations"][COMPLETION_INDEX] == "2"
    assert p["spec"]["hostname"] == "pi-2"
    assert p["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"
    assert md["ownerReferences"][0] | {} == {
        "apiVersion": "batch/v1", "kind": "Job", "name": "pi", "uid": "u1",
        "controller": True, "blockOwnerDeletion": True}
    assert md["finalizers"] == [TRACKING_FINALIZER]


def test_finished_jobs_expire_after_ttl() -> None:
    j = job(ttlSecondsAfterFinished=100, status={"conditions": [
        {"type": "Complete", "status": "True", "lastTransitionTime": format_time(T0)}]})
    assert ttl_remaining(j, T0 + 40) == pytest.approx(60.0)
    assert ttl_remaining(job(), T0) is None

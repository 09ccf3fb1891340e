"""Jobs and CronJobs against a real apiserver and controller-manager.

No node runs the pods: the tests play the kubelet, finishing pods as Succeeded or
Failed through the status subresource, and judge the controllers by what they write.
"""

from __future__ import annotations

import time
from typing import Any

from jota.api.meta import Obj
from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.conftest import CLI
from tests.integration.test_workloads import NO_NODE, eventually, pods

TRACKING = "batch.kubernetes.io/job-tracking"


def job(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"template": {"spec": {
                "restartPolicy": "Never", "nodeSelector": NO_NODE,
                "containers": [{"name": "work", "image": "busybox:1.36"}]}}, **spec}}


async def finish(client: Client, ns: str, pod: Obj, phase: str) -> None:
    """What a kubelet reports when the pod's one container exits."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    code = 0 if phase == "Succeeded" else 1
    await client.patch("pods", pod["metadata"]["name"], {"status": {
        "phase": phase, "containerStatuses": [{
            "name": "work", "image": "busybox:1.36", "imageID": "", "ready": False,
            "restartCount": 0, "state": {"terminated": {
                "exitCode": code, "startedAt": stamp, "finishedAt": stamp,
                "reason": "Completed" if code == 0 else "Error"}}}]}}, ns,
        patch_type="merge", status=True)


def running(items: list[Obj]) -> list[Obj]:
    return [p for p in items if (p.get("status") or {}).get("phase") not in
            ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]


def condition(obj: Obj, ctype: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or []
                 if c.get("type") == ctype and c.get("status") == "True"), None)


async def test_a_job_with_failures_retries_and_completes(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    ns = namespace
    await client.create("jobs", job("calc", completions=3, parallelism=2), ns)

    async def two_running() -> list[Obj]:
        live = running(await pods(client, ns, "job-name=calc"))
        return live if len(live) == 2 else []

    first = await eventually(two_running, what="2 pods of parallelism 2")
    pod = first[0]
    md = pod["metadata"]
    assert md["name"].startswith("calc-") and len(md["name"]) == len("calc-") + 5
    assert md["labels"]["batch.kubernetes.io/job-name"] == "calc"
    assert md["labels"]["controller-uid"] == md["ownerReferences"][0]["uid"]
    assert md["ownerReferences"][0]["controller"] is True
    assert md["ownerReferences"][0]["blockOwnerDeletion"] is True
    assert TRACKING in md["finalizers"]

    await finish(client, ns, first[0], "Failed")
    finished = {first[0]["metadata"]["name"]}

    async def complete() -> Obj | None:
        live = running(await pods(client, ns, "job-name=calc"))
        assert len(live) <= 2, [p["metadata"]["name"] for p in live]
        for p in live:
            if p["metadata"]["name"] not in finished:
                finished.add(p["metadata"]["name"])
                await finish(client, ns, p, "Succeeded")
        j = await client.get("jobs", "calc", ns)
        return j if condition(j, "Complete") else None

    j = await eventually(complete, what="Complete condition")
    assert len(finished) == 4, finished
    st = j["status"]
    assert (st.get("succeeded"), st.get("failed"), st.get("active")) == (3, 1, None)
    assert st["completionTime"] and st["startTime"]
    # every finished pod was counted and released
    assert all(TRACKING not in (p["metadata"].get("finalizers") or [])
               for p in await pods(client, ns, "job-name=calc"))
    out = jota.ok("get", "jobs", "-n", ns)
    assert "calc" in out and "Complete" in out and "3/3" in out


async def test_a_job_fails_after_its_backoff_limit(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    ns = namespace
    await client.create("jobs", job("flaky", backoffLimit=1), ns)
    failed: set[str] = set()

    async def failed_job() -> Obj | None:
        for p in running(await pods(client, ns, "job-name=flaky")):
            if p["metadata"]["name"] not in failed:
                failed.add(p["metadata"]["name"])
                await finish(client, ns, p, "Failed")
        j = await client.get("jobs", "flaky", ns)
        return j if condition(j, "Failed") else None

    # the second pod comes 10 s after the first failed (pod failure backoff)
    j = await eventually(failed_job, timeout=40, what="Failed condition")
    cond = condition(j, "Failed")
    assert cond is not None
    assert (cond["reason"], cond["message"]) == (
        "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert len(failed) == 2
    assert j["status"]["failed"] == 2


async def test_a_cronjob_fires_on_a_one_minute_schedule(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    ns = namespace
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick"},
          "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
              "restartPolicy": "OnFailure", "nodeSelector": NO_NODE,
              "containers": [{"name": "work", "image": "busybox:1.36"}]}}}}}}
    await client.create("cronjobs", cj, ns)

    async def a_job() -> list[Obj]:
        return list((await client.list("jobs", ns))["items"])

    jobs = await eventually(a_job, timeout=75, what="a Job of the CronJob")
    made = jobs[0]
    stamp = made["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    minutes = int(time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone) // 60
    assert made["metadata"]["name"] == f"tick-{minutes}"
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"

    async def recorded() -> Obj | None:
        got = await client.get("cronjobs", "tick", ns)
        st = got.get("status") or {}
        return got if st.get("active") and st.get("lastScheduleTime") else None

    got = await eventually(recorded, what="status.active")
    assert got["status"]["active"][0]["name"] == made["metadata"]["name"]
    assert got["status"]["lastScheduleTime"] == stamp
    out = jota.ok("get", "cronjobs", "-n", ns)
    assert "tick" in out and "* * * * *" in out


async def test_deleting_a_running_job_releases_and_removes_its_pods(
        controller_manager: Daemon, client: Client, namespace: str, jota: CLI) -> None:
    ns = namespace
    await client.create("jobs", job("long", parallelism=2, completions=4), ns)

    async def two() -> bool:
        return len(running(await pods(client, ns, "job-name=long"))) == 2

    await eventually(two, what="2 running pods")
    jota.ok("delete", "job", "long", "-n", ns)

    async def gone() -> bool:
        return not await pods(client, ns, "job-name=long")

    await eventually(gone, what="pods of the deleted job gone")


async def test_an_indexed_job_runs_each_index_once(
        controller_manager: Daemon, client: Client, namespace: str) -> None:
    ns = namespace
    await client.create("jobs", job("idx", completionMode="Indexed", completions=2,
                                    parallelism=2), ns)

    async def both() -> list[Obj]:
        live = running(await pods(client, ns, "job-name=idx"))
        return live if len(live) == 2 else []

    live = await eventually(both, what="a pod per index")
    index = "batch.kubernetes.io/job-completion-index"
    assert sorted(p["metadata"]["annotations"][index] for p in live) == ["0", "1"]
    assert sorted(p["spec"]["hostname"] for p in live) == ["idx-0", "idx-1"]
    for p in live:
        await finish(client, ns, p, "Succeeded")

    async def complete() -> Obj | None:
        j = await client.get("jobs", "idx", ns)
        return j if condition(j, "Complete") else None

    j = await eventually(complete, what="Complete condition")
    assert (j["status"]["completedIndexes"], j["status"]["succeeded"]) == ("0-1", 2)

"""Pod status as kubelet reports it: phase, conditions, container states, what
`jota get pods` and `jota describe pod` are computed from."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jota.api.meta import Obj
from node.agent.podworker import Observed, Plan, ProbeResults, compute_actions, rfc3339
from node.agent.status import image_id, is_terminal, pod_status, qos_class
from node.runtime.interface import ContainerStatus, SandboxStatus
from tests.unit.test_podworker import (
    NO_PROBES,
    T0,
    ctr,
    exited,
    make_pod,
    sandbox,
)

NOW = T0 + 100
HOST = "192.168.1.10"


def status_of(pod: Obj, sandboxes: list[SandboxStatus], containers: list[ContainerStatus],
              *, probes: ProbeResults = NO_PROBES, now: float = NOW,
              errors: dict[str, tuple[str, str]] | None = None,
              plan: Plan | None = None) -> dict[str, Any]:
    observed = Observed(sandboxes, containers)
    if plan is None:
        plan = compute_actions(pod, observed, probes, now)
    return pod_status(pod, observed, probes, plan, now, host_ip=HOST, errors=errors or {})


def conditions(status: Obj) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c.get("reason", ""), c.get("message", ""))
            for c in status["conditions"]}


def cs(status: Obj, name: str = "app", init: bool = False) -> Obj:
    key = "initContainerStatuses" if init else "containerStatuses"
    return next(s for s in status[key] if s["name"] == name)


# ---- first sight, running, ready -------------------------------------------------------------


def test_before_anything_runs() -> None:
    s = status_of(make_pod(), [], [])
    assert s["phase"] == "Pending"
    assert cs(s) == {"name": "app", "image": "busybox-app", "imageID": "",
                     "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {},
                     "ready": False, "restartCount": 0, "started": False}
    assert [c["type"] for c in s["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
        "PodScheduled"]
    assert conditions(s) == {
        "PodReadyToStartContainers": ("False", "", ""),
        "Initialized": ("True", "", ""),
        "Ready": ("False", "ContainersNotReady", "containers with unready status: [app]"),
        "ContainersReady": ("False", "ContainersNotReady",
                            "containers with unready status: [app]"),
        "PodScheduled": ("True", "", ""),
    }
    assert s["startTime"] == rfc3339(NOW)
    assert s["hostIP"] == HOST and s["hostIPs"] == [{"ip": HOST}]
    assert "podIP" not in s
    assert s["qosClass"] == "BestEffort"


def test_running_and_ready() -> None:
    pod = make_pod(("web", "sidecar"))
    s = status_of(pod, [sandbox()], [ctr("web", started=T0 + 2, cid="abc"),
                                     ctr("sidecar", started=T0 + 3)])
    assert s["phase"] == "Running"
    assert [c["name"] for c in s["containerStatuses"]] == ["web", "sidecar"]  # spec order
    web = cs(s, "web")
    assert web == {"name": "web", "image": "busybox-web", "imageID": "docker://sha256:web",
                   "containerID": "docker://abc",
                   "state": {"running": {"startedAt": rfc3339(T0 + 2)}}, "lastState": {},
                   "ready": True, "restartCount": 0, "started": True}
    assert s["podIP"] == "10.88.0.5" and s["podIPs"] == [{"ip": "10.88.0.5"}]
    assert all(v[0] == "True" for v in conditions(s).values())


def test_host_network_pod_ip_is_the_host_ip() -> None:
    s = status_of(make_pod(hostNetwork=True), [sandbox(ip="")], [ctr()])
    assert s["podIP"] == HOST


@pytest.mark.parametrize(("probe", "results", "ready", "started"), [
    ("readinessProbe", ProbeResults({}, frozenset(), {}), False, True),
    ("readinessProbe", ProbeResults({"app": False}, frozenset(), {}), False, True),
    ("readinessProbe", ProbeResults({"app": True}, frozenset(), {}), True, True),
    ("startupProbe", ProbeResults({}, frozenset(), {}), False, False),
    ("startupProbe", ProbeResults({}, frozenset(), {"app": True}), True, True),
])
def test_probes_decide_ready_and_started(probe: str, results: ProbeResults, ready: bool,
                                         started: bool) -> None:
    pod = make_pod()
    pod["spec"]["containers"][0][probe] = {"exec": {"command": ["true"]}}
    s = status_of(pod, [sandbox()], [ctr()], probes=results)
    assert (cs(s)["ready"], cs(s)["started"]) == (ready, started)
    assert s["phase"] == "Running"
    assert conditions(s)["Ready"][0] == ("True" if ready else "False")


def test_readiness_gates() -> None:
    pod = make_pod(readinessGates=[{"conditionType": "example.com/lb"}])
    s = status_of(pod, [sandbox()], [ctr()])
    assert conditions(s)["Ready"] == (
        "False", "ReadinessGatesNotReady",
        'corresponding condition of pod readiness gate "example.com/lb" does not exist.')
    assert conditions(s)["ContainersReady"][0] == "True"
    pod["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    s = status_of(pod, [sandbox()], [ctr()])
    assert conditions(s)["Ready"][0] == "True"
    assert s["conditions"][0] == {"type": "example.com/lb", "status": "True"}


# ---- phases by restart policy ----------------------------------------------------------------


@pytest.mark.parametrize(("policy", "code", "phase", "ready_reason"), [
    ("Never", 0, "Succeeded", "PodCompleted"),
    ("Never", 1, "Failed", "PodFailed"),
    ("OnFailure", 0, "Succeeded", "PodCompleted"),
    ("OnFailure", 1, "Running", "ContainersNotReady"),
    ("Always", 0, "Running", "ContainersNotReady"),
    ("Always", 1, "Running", "ContainersNotReady"),
])
def test_phase_after_the_container_exits(policy: str, code: int, phase: str,
                                         ready_reason: str) -> None:
    pod = make_pod(policy=policy)
    s = status_of(pod, [sandbox(ready=False)], [exited(code=code, cid="c1")])
    assert s["phase"] == phase
    assert conditions(s)["Ready"][:2] == ("False", ready_reason)
    if phase == "Succeeded":
        assert conditions(s)["Initialized"] == ("True", "PodCompleted", "")
    term = cs(s)["state"]["terminated"]
    assert term == {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                    "startedAt": rfc3339(T0 + 1), "finishedAt": rfc3339(T0 + 2),
                    "containerID": "docker://c1"}
    assert is_terminal({"status": s}) == (phase in ("Succeeded", "Failed"))


def test_oom_killed() -> None:
    s = status_of(make_pod(policy="Never"), [sandbox()],
                  [exited(code=137, reason="OOMKilled")])
    assert cs(s)["state"]["terminated"]["reason"] == "OOMKilled"
    assert s["phase"] == "Failed"


# ---- restarts and waiting reasons ------------------------------------------------------------


def test_crash_loop_back_off_status() -> None:
    containers = [exited(attempt=2, started=T0, ran=1), exited(attempt=3, started=T0 + 21.5,
                                                               ran=1.5)]
    s = status_of(make_pod(), [sandbox()], containers, now=T0 + 30)
    app = cs(s)
    assert app["state"] == {"waiting": {
        "reason": "CrashLoopBackOff",
        "message": "back-off 40s restarting failed container=app pod=web_default(u-1)"}}
    assert app["lastState"]["terminated"]["exitCode"] == 1
    assert app["lastState"]["terminated"]["finishedAt"] == rfc3339(T0 + 23)
    assert app["restartCount"] == 3
    assert s["phase"] == "Running"  # kubelet: restarting containers keep the pod Running
    assert not app["ready"]


def test_running_after_restart_shows_last_state() -> None:
    s = status_of(make_pod(), [sandbox()], [exited(attempt=0, code=2, cid="old"),
                                            ctr(attempt=1, started=T0 + 5, cid="new")])
    app = cs(s)
    assert app["restartCount"] == 1
    assert app["state"] == {"running": {"startedAt": rfc3339(T0 + 5)}}
    assert app["lastState"]["terminated"]["exitCode"] == 2
    assert app["lastState"]["terminated"]["containerID"] == "docker://old"


@pytest.mark.parametrize(("reason", "message"), [
    ("ErrImagePull", 'image "nope:1" not found'),
    ("ImagePullBackOff", 'Back-off pulling image "nope:1"'),
    ("CreateContainerConfigError", 'configmap "settings" not found'),
])
def test_start_errors_show_as_waiting(reason: str, message: str) -> None:
    s = status_of(make_pod(), [sandbox()], [], errors={"app": (reason, message)})
    assert cs(s)["state"] == {"waiting": {"reason": reason, "message": message}}
    assert s["phase"] == "Pending"


def test_start_error_is_ignored_once_the_container_runs() -> None:
    s = status_of(make_pod(), [sandbox()], [ctr()],
                  errors={"app": ("ErrImagePull", "stale")})
    assert "running" in cs(s)["state"]


# ---- init containers -------------------------------------------------------------------------


def test_init_running() -> None:
    pod = make_pod(("app",), ("i1", "i2"))
    s = status_of(pod, [sandbox()], [ctr("i1")])
    assert s["phase"] == "Pending"
    assert cs(s, "i1", init=True)["state"] == {"running": {"startedAt": rfc3339(T0 + 1)}}
    assert cs(s, "i2", init=True)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert cs(s)["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert conditions(s)["Initialized"] == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [i1 i2]")


def test_init_done_app_running() -> None:
    pod = make_pod(("app",), ("i1",))
    s = status_of(pod, [sandbox()], [exited("i1", code=0), ctr("app", started=T0 + 3)])
    assert s["phase"] == "Running"
    i1 = cs(s, "i1", init=True)
    assert i1["ready"] is True and i1["state"]["terminated"]["reason"] == "Completed"
    assert conditions(s)["Initialized"] == ("True", "", "")


def test_init_crash_loop() -> None:
    pod = make_pod(("app",), ("i1",))
    containers = [exited("i1", 0, started=T0, ran=1), exited("i1", 1, started=T0 + 1.5)]
    s = status_of(pod, [sandbox()], containers, now=T0 + 4)
    assert cs(s, "i1", init=True)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert s["phase"] == "Pending"


def test_init_failed_with_never_fails_the_pod() -> None:
    pod = make_pod(("app",), ("i1",), policy="Never")
    s = status_of(pod, [sandbox(ready=False)], [exited("i1", code=3)])
    assert s["phase"] == "Failed"
    assert conditions(s)["Ready"][:2] == ("False", "PodFailed")


# ---- conditions over time --------------------------------------------------------------------


def test_last_transition_time_moves_only_when_the_status_flips() -> None:
    pod = make_pod()
    first = status_of(pod, [sandbox()], [ctr()], now=T0 + 10)
    pod["status"] = first
    again = status_of(pod, [sandbox()], [ctr()], now=T0 + 500)
    assert again == first  # nothing changed: the agent writes nothing
    ready_since = {c["type"]: c["lastTransitionTime"] for c in again["conditions"]}
    assert ready_since["Ready"] == rfc3339(T0 + 10)
    assert ready_since["PodScheduled"] == rfc3339(T0 - 5)  # the scheduler's, kept
    pod["status"] = again
    crashed = status_of(pod, [sandbox()], [exited(ran=600)], now=T0 + 700)
    since = {c["type"]: c["lastTransitionTime"] for c in crashed["conditions"]}
    assert since["Ready"] == rfc3339(T0 + 700)
    assert since["PodReadyToStartContainers"] == rfc3339(T0 + 10)


def test_start_time_and_qos_class_are_kept() -> None:
    pod = make_pod()
    pod["status"]["startTime"] = "2026-11-24T13:00:00Z"
    pod["status"]["qosClass"] = "Burstable"
    s = status_of(pod, [], [])
    assert s["startTime"] == "2026-11-24T13:00:00Z" and s["qosClass"] == "Burstable"


def test_keys_the_agent_does_not_own_survive() -> None:
    pod = make_pod()
    pod["status"]["nominatedNodeName"] = "n1"
    assert status_of(pod, [], [])["nominatedNodeName"] == "n1"


# ---- QoS -------------------------------------------------------------------------------------


def res(requests: dict[str, str] | None = None,
        limits: dict[str, str] | None = None) -> Obj:
    out: Obj = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


@pytest.mark.parametrize(("resources", "init", "expected"), [
    ([{}], None, "BestEffort"),
    ([res({"cpu": "0"})], None, "BestEffort"),
    ([res({"cpu": "100m"})], None, "Burstable"),
    ([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], None, "Guaranteed"),
    ([res({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"})], None,
     "Guaranteed"),
    ([res({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], None,
     "Burstable"),
    ([res({"cpu": "1"}, {"cpu": "1"})], None, "Burstable"),  # no memory limit
    ([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), {}], None,
     "Burstable"),
    ([res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})],
     res({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), "Guaranteed"),
    ([{}], res({"memory": "64Mi"}), "Burstable"),
    ([res({"ephemeral-storage": "1Gi"})], None, "BestEffort"),
])
def test_qos_class(resources: list[Obj], init: Obj | None, expected: str) -> None:
    names = tuple(f"c{i}" for i in range(len(resources)))
    pod = make_pod(names, ("i1",) if init is not None else ())
    for c, r in zip(pod["spec"]["containers"], resources, strict=True):
        c["resources"] = r
    if init is not None:
        pod["spec"]["initContainers"][0]["resources"] = init
    assert qos_class(pod) == expected
    del pod["status"]["qosClass"]
    assert status_of(pod, [], [])["qosClass"] == expected


# ---- deletion, deadlines, terminal -----------------------------------------------------------


def test_active_deadline_exceeded() -> None:
    pod = make_pod(activeDeadlineSeconds=30)
    pod["status"]["startTime"] = rfc3339(T0)
    s = status_of(pod, [sandbox()], [ctr()], now=T0 + 31)
    assert s["phase"] == "Failed"
    assert s["reason"] == "DeadlineExceeded"
    assert s["message"] == "Pod was active on the node longer than the specified deadline"
    assert conditions(s)["Ready"][:2] == ("False", "PodFailed")


def test_terminal_phase_never_changes() -> None:
    pod = make_pod()
    pod["status"]["phase"] = "Succeeded"
    s = status_of(pod, [sandbox()], [ctr()])
    assert s["phase"] == "Succeeded"


def test_deleted_pod_becomes_terminal_once_stopped() -> None:
    pod = make_pod()
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0 + 50)
    running = status_of(pod, [sandbox()], [ctr()])
    assert running["phase"] == "Running"
    s = status_of(pod, [sandbox(ready=False)], [exited(code=143)])
    assert s["phase"] == "Failed"
    assert cs(s)["state"]["terminated"]["exitCode"] == 143  # not restarted: no waiting


def test_a_container_the_runtime_lost_shows_stopped() -> None:
    pod = make_pod()
    before = status_of(pod, [sandbox()], [ctr()])
    pod["status"] = before
    s = status_of(pod, [sandbox()], [], plan=Plan())
    app = cs(s)
    assert app["lastState"] == {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was terminated"}}
    assert app["restartCount"] == 1
    assert app["state"] == {"waiting": {"reason": "ContainerCreating"}}


def test_terminated_status_survives_removal_of_the_container() -> None:
    pod = make_pod(policy="Never")
    pod["status"] = status_of(pod, [sandbox(ready=False)], [exited(code=0)])
    s = status_of(pod, [], [])
    assert cs(s)["state"]["terminated"]["exitCode"] == 0
    assert s["phase"] == "Succeeded"


def test_pod_ip_kept_after_the_sandbox_stops() -> None:
    pod = make_pod(policy="Never")
    pod["status"] = status_of(pod, [sandbox()], [ctr()])
    s = status_of(pod, [sandbox(ready=False)], [exited(code=0)])
    assert s["podIP"] == "10.88.0.5"
    assert conditions(s)["PodReadyToStartContainers"][0] == "False"


@pytest.mark.parametrize(("ref", "expected"), [
    ("sha256:abc", "docker://sha256:abc"),
    ("registry.local/busybox@sha256:abc", "docker-pullable://registry.local/busybox@sha256:abc"),
    ("docker://sha256:abc", "docker://sha256:abc"),
    ("", ""),
])
def test_image_id(ref: str, expected: str) -> None:
    assert image_id(ref) == expected


def test_status_is_a_fixed_point_across_a_whole_life() -> None:
    """Recomputing with nothing changed gives back the same status: the agent's
    `status != pod.status` check then writes only real changes."""
    pod = make_pod(("app",), ("i1",))
    scenes: list[tuple[list[SandboxStatus], list[ContainerStatus]]] = [
        ([], []),
        ([sandbox()], [ctr("i1")]),
        ([sandbox()], [exited("i1", code=0), ctr("app")]),
        ([sandbox()], [exited("i1", code=0), exited("app", code=1)]),
    ]
    for i, (sbs, cts) in enumerate(scenes):
        pod["status"] = status_of(pod, sbs, cts, now=T0 + 10 * i)
        snapshot = copy.deepcopy(pod["status"])
        assert status_of(pod, sbs, cts, now=T0 + 10 * i + 3) == snapshot

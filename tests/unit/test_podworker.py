"""The pod worker's decisions, scenario by scenario, with no runtime: kubelet's
computePodActions as a user sees it (what starts, what restarts when, what is killed)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jota.api.meta import Obj
from node.agent.podworker import (
    Action,
    CreateSandbox,
    KillContainer,
    KillPod,
    Observed,
    Plan,
    ProbeResults,
    RemoveContainer,
    StartContainer,
    StopSandbox,
    compute_actions,
    rfc3339,
)
from node.agent.status import pod_status
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    PodRef,
    SandboxState,
    SandboxStatus,
)

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
REF = PodRef("u-1", "default", "web")
NO_PROBES = ProbeResults({}, frozenset(), {})


# ---- builders (shared with test_pod_status) --------------------------------------------------


def make_pod(containers: tuple[str, ...] = ("app",), init: tuple[str, ...] = (),
             policy: str = "Always", **spec: Any) -> Obj:
    def c(name: str) -> Obj:
        return {"name": name, "image": f"busybox-{name}", "imagePullPolicy": "IfNotPresent"}
    body: Obj = {"containers": [c(n) for n in containers], "restartPolicy": policy,
                 "terminationGracePeriodSeconds": 30, "nodeName": "n1", **spec}
    if init:
        body["initContainers"] = [c(n) for n in init]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": body,
            "status": {"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                {"type": "PodScheduled", "status": "True",
                 "lastTransitionTime": rfc3339(T0 - 5)}]}}


def sandbox(sid: str = "s0", attempt: int = 0, ready: bool = True, ip: str = "10.88.0.5",
            created: float = T0) -> SandboxStatus:
    return SandboxStatus(sid, REF, attempt,
                         SandboxState.READY if ready else SandboxState.NOTREADY, created, ip)


def ctr(name: str = "app", attempt: int = 0, state: str = "running", *, exit_code: int = 0,
        started: float = T0 + 1, finished: float = 0.0, sid: str = "s0", reason: str = "",
        cid: str | None = None) -> ContainerStatus:
    states = {"running": ContainerState.RUNNING, "exited": ContainerState.EXITED,
              "created": ContainerState.CREATED, "unknown": ContainerState.UNKNOWN}
    return ContainerStatus(cid or f"{name}-{attempt}", sid, REF, name, attempt, states[state],
                           f"busybox-{name}", f"sha256:{name}", created_at=started - 0.1,
                           started_at=started, finished_at=finished, exit_code=exit_code,
                           reason=reason)


def exited(name: str = "app", attempt: int = 0, code: int = 1, started: float = T0 + 1,
           ran: float = 1.0, **kw: Any) -> ContainerStatus:
    return ctr(name, attempt, "exited", exit_code=code, started=started,
               finished=started + ran, **kw)


def decide(pod: Obj, sandboxes: list[SandboxStatus], containers: list[ContainerStatus],
           now: float = T0 + 100, probes: ProbeResults = NO_PROBES) -> Plan:
    return compute_actions(pod, Observed(sandboxes, containers), probes, now)


# ---- a simulated runtime that carries plans out ----------------------------------------------


class Sim:
    """Applies a plan's effects as the agent and Docker would, checking the invariants a
    kubelet never breaks while it does."""

    def __init__(self, pod: Obj, now: float = T0) -> None:
        self.pod = pod
        self.now = now
        self.sandboxes: list[SandboxStatus] = []
        self.containers: list[ContainerStatus] = []
        self.n = 0
        self.starts: list[tuple[str, int, float]] = []

    def observed(self) -> Observed:
        return Observed(list(self.sandboxes), list(self.containers))

    def current(self) -> SandboxStatus | None:
        ready = [s for s in self.sandboxes if s.state == SandboxState.READY]
        return max(ready, key=lambda s: s.attempt) if ready else None

    def sync(self, probes: ProbeResults = NO_PROBES) -> Plan:
        plan = compute_actions(self.pod, self.observed(), probes, self.now)
        for action in plan.actions:
            self.apply(action)
        status = pod_status(self.pod, self.observed(), probes, plan, self.now,
                            host_ip="192.168.1.10", errors={})
        self.pod = {**self.pod, "status": status}
        return plan

    def _stop(self, cid: str, code: int = 137) -> None:
        self.containers = [dataclasses.replace(c, state=ContainerState.EXITED, exit_code=code,
                                               finished_at=self.now, reason="Error")
                           if c.id == cid and c.state == ContainerState.RUNNING else c
                           for c in self.containers]

    def apply(self, action: Action) -> None:
        self.n += 1
        if isinstance(action, CreateSandbox):
            self.sandboxes.append(SandboxStatus(f"sb{self.n}", REF, action.attempt,
                                                SandboxState.READY, self.now, "10.88.0.9"))
        elif isinstance(action, KillPod):
            for cid in action.container_ids:
                self._stop(cid)
            self.sandboxes = [s for s in self.sandboxes if s.id not in action.sandbox_ids]
        elif isinstance(action, StopSandbox):
            self.sandboxes = [dataclasses.replace(s, state=SandboxState.NOTREADY)
                              if s.id == action.sandbox_id else s for s in self.sandboxes]
        elif isinstance(action, KillContainer):
            self._stop(action.container_id)
        elif isinstance(action, RemoveContainer):
            assert all(c.state != ContainerState.RUNNING for c in self.containers
                       if c.id == action.container_id), "removed a running container"
            self.containers = [c for c in self.containers if c.id != action.container_id]
        elif isinstance(action, StartContainer):
            self._start(action)

    def _start(self, action: StartContainer) -> None:
        sb = self.current()
        assert sb is not None, "started a container with no ready sandbox"
        same = [c for c in self.containers if c.name == action.name]
        assert not any(c.state == ContainerState.RUNNING for c in same), \
            f"two attempts of {action.name} at once"
        assert all(c.attempt < action.attempt for c in same), "attempt did not grow"
        spec = self.pod["spec"]
        if not action.init:
            for init in spec.get("initContainers") or []:
                done = [c for c in self.containers if c.name == init["name"]
                        and c.sandbox_id == sb.id and c.state == ContainerState.EXITED
                        and c.exit_code == 0]
                assert done, f"{action.name} started before init {init['name']} succeeded"
        self.containers.append(ContainerStatus(
            f"{action.name}-{action.attempt}-{self.n}", sb.id, REF, action.name, action.attempt,
            ContainerState.RUNNING, "img", "sha256:img", created_at=self.now,
            started_at=self.now))
        self.starts.append((action.name, action.attempt, self.now))

    def exit(self, name: str, code: int, reason: str = "") -> None:
        self.containers = [dataclasses.replace(c, state=ContainerState.EXITED, exit_code=code,
                                               finished_at=self.now,
                                               reason=reason or ("Completed" if code == 0
                                                                 else "Error"))
                           if c.name == name and c.state == ContainerState.RUNNING else c
                           for c in self.containers]

    def kill_sandbox(self) -> None:
        self.sandboxes = [dataclasses.replace(s, state=SandboxState.NOTREADY)
                          for s in self.sandboxes]

    def finish_inits(self) -> None:
        for init in self.pod["spec"].get("initContainers") or []:
            self.exit(init["name"], 0)


def kinds(plan: Plan) -> list[str]:
    return [type(a).__name__ for a in plan.actions]


# ---- first start -----------------------------------------------------------------------------


@pytest.mark.parametrize(("containers", "init", "starts"), [
    (("app",), (), [StartContainer("app", 0, False)]),
    (("web", "sidecar"), (), [StartContainer("web", 0, False),
                              StartContainer("sidecar", 0, False)]),
    (("app",), ("migrate", "seed"), [StartContainer("migrate", 0, True)]),
])
def test_first_start_creates_the_sandbox_and_starts_in_the_same_plan(
        containers: tuple[str, ...], init: tuple[str, ...], starts: list[Action]) -> None:
    plan = decide(make_pod(containers, init), [], [])
    assert list(plan.actions) == [CreateSandbox(0), *starts]
    assert plan.requeue_after is None and plan.waiting == {}


def test_sandbox_ready_but_containers_not_started_yet() -> None:
    plan = decide(make_pod(("a", "b")), [sandbox()], [ctr("a")])
    assert list(plan.actions) == [StartContainer("b", 0, False)]


def test_steady_state_does_nothing() -> None:
    plan = decide(make_pod(("a", "b")), [sandbox()], [ctr("a"), ctr("b")])
    assert plan == Plan((), None, {})


# ---- init containers -------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "containers", "expected"), [
    ("first init running: wait", [ctr("i1")], []),
    ("first init done: second", [exited("i1", code=0)], [StartContainer("i2", 0, True)]),
    ("second running: wait", [exited("i1", code=0), ctr("i2")], []),
    ("all done: app containers",
     [exited("i1", code=0), exited("i2", code=0)],
     [StartContainer("a", 0, False), StartContainer("b", 0, False)]),
    ("init failed first time: restarted at once", [exited("i1", code=1)],
     [StartContainer("i1", 1, True)]),
    ("init OOMKilled with code 0 still failed", [exited("i1", code=0, reason="OOMKilled")],
     [StartContainer("i1", 1, True)]),
    ("app running: init is not run again even if gone", [ctr("a"), ctr("b")], []),
])
def test_init_containers_run_one_at_a_time(case: str, containers: list[ContainerStatus],
                                           expected: list[Action]) -> None:
    plan = decide(make_pod(("a", "b"), ("i1", "i2")), [sandbox()], containers)
    assert [a for a in plan.actions if not isinstance(a, RemoveContainer)] == expected, case


def test_failing_init_container_backs_off() -> None:
    pod = make_pod(("a",), ("i1",))
    previous = exited("i1", 0, code=1, started=T0, ran=1)
    last = exited("i1", 1, code=1, started=T0 + 1.5, ran=1)
    plan = decide(pod, [sandbox()], [previous, last], now=T0 + 5)
    assert plan.actions == ()
    assert plan.waiting == {"i1": ("CrashLoopBackOff",
                                   "back-off 10s restarting failed container=i1 "
                                   "pod=web_default(u-1)")}
    assert plan.requeue_after == pytest.approx(T0 + 2.5 + 10 - (T0 + 5))


def test_failed_init_with_restart_policy_never_kills_the_pod() -> None:
    pod = make_pod(("a",), ("i1",), policy="Never")
    plan = decide(pod, [sandbox()], [exited("i1", code=2)])
    assert list(plan.actions) == [StopSandbox("s0")]
    assert not any(isinstance(a, StartContainer) for a in plan.actions)


def test_init_containers_run_again_in_a_new_sandbox() -> None:
    pod = make_pod(("a",), ("i1",))
    old = [exited("i1", code=0, sid="s0"), ctr("a", sid="s0")]
    plan = decide(pod, [sandbox("s0", ready=False)], old)
    assert CreateSandbox(1) in plan.actions
    assert StartContainer("i1", 1, True) in plan.actions
    assert not any(isinstance(a, StartContainer) and not a.init for a in plan.actions)
    # in the new sandbox, with the old init container's success from s0 only:
    plan = decide(pod, [sandbox("s0", ready=False), sandbox("s1", 1, created=T0 + 50)],
                  [exited("i1", code=0, sid="s0"), exited("a", code=137, sid="s0")])
    assert [a for a in plan.actions if isinstance(a, StartContainer)] == [
        StartContainer("i1", 1, True)]


# ---- restart policy --------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "code", "restarted"), [
    ("Always", 0, True), ("Always", 1, True),
    ("OnFailure", 0, False), ("OnFailure", 1, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_restart_policy(policy: str, code: int, restarted: bool) -> None:
    plan = decide(make_pod(policy=policy), [sandbox()], [exited(code=code)])
    if restarted:
        assert list(plan.actions) == [StartContainer("app", 1, False)]
    else:  # the pod is done: its sandbox stops, the container stays for logs and status
        assert list(plan.actions) == [StopSandbox("s0")]


def test_one_container_done_the_other_running_keeps_the_pod() -> None:
    plan = decide(make_pod(("a", "b"), policy="OnFailure"), [sandbox()],
                  [exited("a", code=0), ctr("b")])
    assert plan.actions == ()


# ---- CrashLoopBackOff ------------------------------------------------------------------------


def crash_loop(sim: Sim, restarts: int, run_for: float = 1.0) -> list[float]:
    """Let the container crash `restarts` times; return the gaps between exit and restart."""
    gaps = []
    sim.sync()
    for _ in range(restarts):
        sim.now += run_for
        sim.exit("app", 1)
        died = sim.now
        before = len(sim.starts)
        while len(sim.starts) == before:
            plan = sim.sync()
            if len(sim.starts) == before:
                assert plan.requeue_after is not None and plan.requeue_after > 0
                assert plan.waiting["app"][0] == "CrashLoopBackOff"
                sim.now += plan.requeue_after
        gaps.append(round(sim.now - died, 3))
        sim.now += 0.3  # docker create + start
    return gaps


def test_crash_loop_backoff_10_20_40_doubling_to_5_minutes() -> None:
    gaps = crash_loop(Sim(make_pod()), 9)
    assert gaps == [0, 10, 20, 40, 80, 160, 300, 300, 300]


def test_crash_loop_message_shows_the_window() -> None:
    sim = Sim(make_pod())
    crash_loop(sim, 4)
    sim.now += 1
    sim.exit("app", 1)
    plan = sim.sync()
    assert plan.waiting == {"app": ("CrashLoopBackOff",
                                    "back-off 1m20s restarting failed container=app "
                                    "pod=web_default(u-1)")}
    status = sim.pod["status"]["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["restartCount"] == 4


def test_backoff_resets_after_ten_minutes_running() -> None:
    sim = Sim(make_pod())
    crash_loop(sim, 5)  # window now 160s
    sim.now += 601  # a long healthy run
    sim.exit("app", 1)
    died = sim.now
    sim.sync()
    assert sim.starts[-1][2] == died  # restarted at once
    sim.now += 2
    sim.exit("app", 1)
    plan = sim.sync()
    assert plan.waiting["app"][1].startswith("back-off 10s ")
    assert plan.requeue_after == pytest.approx(10)


def test_backoff_falls_back_to_the_ladder_when_the_previous_attempt_is_gone() -> None:
    plan = decide(make_pod(), [sandbox()], [exited(attempt=3, started=T0, ran=2)],
                  now=T0 + 5)
    assert plan.waiting["app"][1].startswith("back-off 40s ")
    assert plan.requeue_after == pytest.approx(37)


def test_a_crash_while_others_run_only_delays_that_container() -> None:
    pod = make_pod(("a", "b"))
    plan = decide(pod, [sandbox()], [exited("a", 0, started=T0, ran=1),
                                     exited("a", 1, started=T0 + 1.2, ran=1), ctr("b")],
                  now=T0 + 3)
    assert plan.actions == ()
    assert set(plan.waiting) == {"a"}


# ---- liveness --------------------------------------------------------------------------------


def test_liveness_failure_kills_then_restarts() -> None:
    pod = make_pod()
    probes = ProbeResults({}, frozenset({"app"}), {})
    plan = decide(pod, [sandbox()], [ctr()], probes=probes)
    assert list(plan.actions) == [
        KillContainer("app-0", "app", 30, "Unhealthy",
                      "Container app failed liveness probe, will be restarted"),
        StartContainer("app", 1, False)]


def test_second_liveness_failure_restarts_after_backoff() -> None:
    pod = make_pod()
    probes = ProbeResults({}, frozenset({"app"}), {})
    previous = exited(attempt=0, code=137, started=T0, ran=30)
    plan = decide(pod, [sandbox()], [previous, ctr(attempt=1, started=T0 + 30.5)],
                  now=T0 + 60, probes=probes)
    assert kinds(plan) == ["KillContainer"]
    assert plan.requeue_after == pytest.approx(10)
    assert plan.waiting["app"][0] == "CrashLoopBackOff"


def test_liveness_failure_with_restart_policy_never() -> None:
    pod = make_pod(policy="Never")
    spec = pod["spec"]["containers"][0]
    spec["livenessProbe"] = {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 5}
    plan = decide(pod, [sandbox()], [ctr()],
                  probes=ProbeResults({}, frozenset({"app"}), {}))
    assert list(plan.actions) == [
        KillContainer("app-0", "app", 5, "Unhealthy", "Container app failed liveness probe"),
        StopSandbox("s0")]


def test_startup_probe_failure_says_so() -> None:
    pod = make_pod()
    pod["spec"]["containers"][0]["startupProbe"] = {"exec": {"command": ["true"]}}
    plan = decide(pod, [sandbox()], [ctr()],
                  probes=ProbeResults({}, frozenset({"app"}), {"app": False}))
    assert isinstance(plan.actions[0], KillContainer)
    assert plan.actions[0].message == "Container app failed startup probe, will be restarted"


# ---- deletion, terminal pods, deadlines ------------------------------------------------------


@pytest.mark.parametrize(("deletion_grace", "spec_grace", "expected"), [
    (10, 30, 10.0), (None, 45, 45.0), (0, 30, 2.0), (None, None, 30.0),
])
def test_deletion_stops_everything_with_the_grace_period(
        deletion_grace: int | None, spec_grace: int | None, expected: float) -> None:
    pod = make_pod(("a", "b"))
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0 + 50)
    if deletion_grace is not None:
        pod["metadata"]["deletionGracePeriodSeconds"] = deletion_grace
    if spec_grace is None:
        del pod["spec"]["terminationGracePeriodSeconds"]
    else:
        pod["spec"]["terminationGracePeriodSeconds"] = spec_grace
    plan = decide(pod, [sandbox()], [ctr("a"), exited("b", code=1)])
    assert list(plan.actions) == [KillPod(("s0",), ("a-0",), expected)]


def test_deletion_of_a_stopped_pod_has_nothing_to_do() -> None:
    pod = make_pod()
    pod["metadata"]["deletionTimestamp"] = rfc3339(T0 + 50)
    assert decide(pod, [sandbox(ready=False)], [exited()]) == Plan()
    assert decide(pod, [], []) == Plan()


def test_terminal_pod_starts_nothing() -> None:
    pod = make_pod()
    pod["status"]["phase"] = "Failed"
    assert decide(pod, [], []) == Plan()
    plan = decide(pod, [sandbox()], [ctr()])
    assert list(plan.actions) == [KillPod((), ("app-0",), 30), StopSandbox("s0")]


def test_active_deadline() -> None:
    pod = make_pod(activeDeadlineSeconds=60)
    pod["status"]["startTime"] = rfc3339(T0)
    plan = decide(pod, [sandbox()], [ctr()], now=T0 + 45)
    assert plan.actions == () and plan.requeue_after == pytest.approx(15)
    plan = decide(pod, [sandbox()], [ctr()], now=T0 + 60)
    assert list(plan.actions) == [KillPod((), ("app-0",), 30), StopSandbox("s0")]
    assert plan.requeue_after is None


def test_first_sync_requeues_for_the_deadline() -> None:
    plan = decide(make_pod(activeDeadlineSeconds=120), [], [])
    assert plan.requeue_after == pytest.approx(120)


# ---- sandbox lost ----------------------------------------------------------------------------


def test_sandbox_died_recreates_and_restarts_everything() -> None:
    pod = make_pod(("a", "b"))
    plan = decide(pod, [sandbox(ready=False)], [ctr("a", 2), exited("b", 0, code=0)])
    assert list(plan.actions) == [
        KillPod((), ("a-2",), 30), CreateSandbox(1),
        StartContainer("a", 3, False), StartContainer("b", 1, False)]


def test_sandbox_gone_with_restart_policy_never_is_not_recreated() -> None:
    pod = make_pod(policy="Never")
    plan = decide(pod, [sandbox(ready=False)], [ctr("app")])
    assert list(plan.actions) == [KillPod((), ("app-0",), 30)]


def test_sandbox_recreated_with_never_if_no_container_ever_ran() -> None:
    plan = decide(make_pod(policy="Never"), [sandbox(ready=False)], [])
    assert list(plan.actions) == [KillPod(("s0",), (), 30), CreateSandbox(1),
                                  StartContainer("app", 0, False)]


def test_on_failure_pod_whose_containers_succeeded_gets_no_new_sandbox() -> None:
    plan = decide(make_pod(policy="OnFailure"), [sandbox(ready=False)], [exited(code=0)])
    assert plan.actions == ()


def test_two_ready_sandboxes_mean_a_new_one() -> None:
    plan = decide(make_pod(), [sandbox("s0"), sandbox("s1", 1, created=T0 + 1)], [])
    assert list(plan.actions) == [KillPod(("s1", "s0"), (), 30), CreateSandbox(2),
                                  StartContainer("app", 0, False)]


def test_unknown_container_is_killed_before_restart() -> None:
    plan = decide(make_pod(), [sandbox()], [ctr(state="unknown")])
    assert kinds(plan) == ["KillContainer", "StartContainer"]
    assert plan.actions[0] == KillContainer(
        "app-0", "app", 30, "Unknown",
        'Container is in "unknown" state, try killing it before restart')


# ---- garbage ---------------------------------------------------------------------------------


def test_old_attempts_are_removed_keeping_the_last_two() -> None:
    containers = [exited(attempt=i, started=T0 + 100 * i) for i in range(3)] + [
        ctr(attempt=3, started=T0 + 400)]
    plan = decide(make_pod(), [sandbox()], containers, now=T0 + 500)
    assert list(plan.actions) == [RemoveContainer("app-0"), RemoveContainer("app-1")]


def test_old_sandbox_removed_once_it_holds_nothing_kept() -> None:
    containers = [exited(attempt=0, sid="s0"), exited(attempt=1, sid="s1", started=T0 + 20),
                  ctr(attempt=2, sid="s1", started=T0 + 40)]
    sandboxes = [sandbox("s0", ready=False), sandbox("s1", 1, created=T0 + 10)]
    plan = decide(make_pod(), sandboxes, containers)
    assert list(plan.actions) == [KillPod(("s0",), (), 30), RemoveContainer("app-0")]


def test_old_sandbox_holding_the_last_state_is_kept() -> None:
    containers = [exited(attempt=0, sid="s0"), ctr(attempt=1, sid="s1", started=T0 + 40)]
    sandboxes = [sandbox("s0", ready=False), sandbox("s1", 1, created=T0 + 10)]
    assert decide(make_pod(), sandboxes, containers).actions == ()


# ---- properties ------------------------------------------------------------------------------


pods = st.builds(
    make_pod,
    containers=st.sampled_from([("a",), ("a", "b"), ("a", "b", "c")]),
    init=st.sampled_from([(), ("i1",), ("i1", "i2")]),
    policy=st.sampled_from(["Always", "OnFailure", "Never"]),
)
events = st.lists(st.one_of(
    st.tuples(st.just("crash"), st.sampled_from(["a", "b", "c", "i1", "i2"]),
              st.sampled_from([0, 1, 137])),
    st.tuples(st.just("sandbox"), st.just(""), st.just(0)),
    st.tuples(st.just("liveness"), st.sampled_from(["a", "b"]), st.just(0)),
    st.tuples(st.just("wait"), st.just(""), st.sampled_from([1, 15, 400])),
    st.tuples(st.just("inits"), st.just(""), st.just(0)),
), max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods, steps=events)
def test_invariants_hold_under_any_disturbance(pod: Obj, steps: list[tuple[str, str, int]]
                                               ) -> None:
    """Sim asserts: no start without a ready sandbox, no app container before every init
    container succeeded in the current sandbox, never two attempts of one container at
    once, attempts only grow, nothing running is removed."""
    sim = Sim(pod)
    sim.sync()
    for kind, name, value in steps:
        probes = NO_PROBES
        if kind == "crash":
            sim.exit(name, value)
        elif kind == "sandbox":
            sim.kill_sandbox()
        elif kind == "liveness":
            probes = ProbeResults({}, frozenset({name}), {})
        elif kind == "wait":
            sim.now += value
        elif kind == "inits":
            sim.finish_inits()
        sim.now += 0.5
        plan = sim.sync(probes)
        assert plan.requeue_after is None or plan.requeue_after > 0
        names = [c.name for c in sim.containers]
        for n in set(names):
            assert names.count(n) <= 3  # the two kept, plus one just started


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod=pods, steps=events)
def test_a_healthy_pod_converges_to_running_and_ready(
        pod: Obj, steps: list[tuple[str, str, int]]) -> None:
    """After any disturbances stop, an Always pod whose containers now stay up is Running
    and Ready within its backoff windows; the worker then stops acting."""
    pod["spec"]["restartPolicy"] = "Always"
    sim = Sim(pod)
    sim.sync()
    for kind, name, value in steps:
        if kind == "crash":
            sim.exit(name, value)
        elif kind == "sandbox":
            sim.kill_sandbox()
        elif kind == "wait":
            sim.now += value
        sim.now += 0.5
        sim.sync()
    for _ in range(30):
        plan = sim.sync()
        sim.finish_inits()  # init containers succeed from now on
        if plan.requeue_after:
            sim.now += plan.requeue_after
        sim.now += 0.5
    status = sim.pod["status"]
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert all(c["ready"] for c in status["containerStatuses"])
    assert sim.sync().actions == ()

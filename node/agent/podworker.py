"""What to do next for one pod: kubelet's computePodActions, as a pure function.

The agent observes the runtime (every sandbox and container labelled with the
pod's uid, all attempts), reads the probe results, and asks `compute_actions`;
it carries the returned actions out in order and observes again. Nothing here
does I/O or keeps state between calls, so a restarted agent decides exactly as
the one before it did: the runtime is the record.

The decisions follow `kuberuntime_manager.go` (computePodActions, SyncPod):

1. A pod being deleted stops everything (grace: deletionGracePeriodSeconds, else
   terminationGracePeriodSeconds, at least 2 s) and starts nothing.
2. A terminal pod (phase Succeeded/Failed, or past activeDeadlineSeconds) stops
   what runs and its sandbox, but keeps its exited containers (logs, status).
3. No single ready sandbox: stop what is left and create sandbox attempt N+1,
   then start the first init container (or the app containers) at once. Not with
   restartPolicy Never once containers have run, nor when nothing would start.
4. Init containers run one at a time, in order, in the current sandbox; a failed
   one restarts per restartPolicy (Never: the pod is killed and Failed).
5. App containers start when not running and restartPolicy says so; a liveness
   failure kills the container, restarted unless Never; restarts obey
   CrashLoopBackOff (backoff.py). Nothing running and nothing to start: stop the
   sandbox (the pod is done).
6. Garbage: the two newest containers of each name are kept (lastState and the
   backoff both read them), older ones are removed; sandboxes other than the
   current one are removed once they hold no kept container.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from jota.api.meta import Obj
from node.agent import backoff
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    SandboxState,
    SandboxStatus,
)

MIN_GRACE = 2.0  # kubelet's minimumGracePeriodInSeconds
DEFAULT_GRACE = 30.0
KEEP_PER_NAME = 2
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


# ---- what comes in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """The runtime's view of ONE pod (all attempts)."""

    sandboxes: list[SandboxStatus] = field(default_factory=list)
    containers: list[ContainerStatus] = field(default_factory=list)


@dataclass(frozen=True)
class ProbeResults:
    """From the probe runners, by container name."""

    ready: dict[str, bool] = field(default_factory=dict)  # readiness (absent = no result yet)
    live_failed: frozenset[str] = frozenset()  # liveness failed past failureThreshold
    started: dict[str, bool] = field(default_factory=dict)  # startup probe succeeded


# ---- what goes out ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateSandbox:
    attempt: int


@dataclass(frozen=True)
class KillPod:
    """Stop the containers, then stop and remove the sandboxes."""

    sandbox_ids: tuple[str, ...]
    container_ids: tuple[str, ...]
    grace: float


@dataclass(frozen=True)
class StartContainer:
    """Create and start in the current sandbox."""

    name: str
    attempt: int
    init: bool


@dataclass(frozen=True)
class KillContainer:
    """Stop one container, keeping it (it becomes lastState). `reason` is why ("Unhealthy"
    for a failed liveness or startup probe, "Unknown", "Killing"); `message` is kubelet's
    words for the Killing event."""

    container_id: str
    name: str
    grace: float
    reason: str
    message: str = ""


@dataclass(frozen=True)
class RemoveContainer:
    """Garbage: an older attempt beyond the ones kept."""

    container_id: str


@dataclass(frozen=True)
class StopSandbox:
    """Stop a sandbox but keep it: it still holds containers kept for status and logs
    (removing a sandbox removes its containers, as CRI's RemovePodSandbox does)."""

    sandbox_id: str


Action: TypeAlias = (CreateSandbox | KillPod | StartContainer | KillContainer | RemoveContainer
                     | StopSandbox)


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    # Seconds until the worker must look again (backoff expiry, activeDeadline); None = on events.
    requeue_after: float | None = None
    # Container name -> (reason, message) to show in status while it waits.
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)


# ---- small helpers shared with status.py -----------------------------------------------------


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def is_terminal(pod: Obj) -> bool:
    """Succeeded or Failed: kubelet never runs such a pod's containers again."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def deadline_left(pod: Obj, now: float) -> float | None:
    """Seconds until activeDeadlineSeconds runs out (counted from status.startTime, or from
    now when the pod has not started yet); None without a deadline."""
    seconds = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    if seconds is None:
        return None
    start = parse_time((pod.get("status") or {}).get("startTime"))
    return (now if start is None else start) + float(seconds) - now


def deadline_exceeded(pod: Obj, now: float) -> bool:
    left = deadline_left(pod, now)
    return left is not None and left <= 0


def is_running(c: ContainerStatus) -> bool:
    return c.state == ContainerState.RUNNING


def is_exited(c: ContainerStatus) -> bool:
    """Exited, or created with an exit code: a start that failed counts as a run that failed."""
    return c.state == ContainerState.EXITED or (
        c.state == ContainerState.CREATED and c.exit_code != 0)


def finished_at(c: ContainerStatus) -> float:
    return c.finished_at or c.started_at or c.created_at


def newest_first(containers: Iterable[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """Containers by name, each list newest attempt first."""
    out: dict[str, list[ContainerStatus]] = {}
    for c in sorted(containers, key=lambda c: (c.attempt, c.created_at), reverse=True):
        out.setdefault(c.name, []).append(c)
    return out


def sandboxes_newest_first(sandboxes: Iterable[SandboxStatus]) -> list[SandboxStatus]:
    return sorted(sandboxes, key=lambda s: (s.attempt, s.created_at), reverse=True)


def current_sandbox(sandboxes: Iterable[SandboxStatus]) -> SandboxStatus | None:
    """The sandbox containers run in, or None when a new one is needed (kubelet's
    PodSandboxChanged: none, the newest is not ready, or more than one is ready)."""
    ordered = sandboxes_newest_first(sandboxes)
    if not ordered or ordered[0].state != SandboxState.READY:
        return None
    if sum(1 for s in ordered if s.state == SandboxState.READY) > 1:
        return None
    return ordered[0]


def restart_policy(pod: Obj) -> str:
    return str((pod.get("spec") or {}).get("restartPolicy") or "Always")


def should_restart(latest: ContainerStatus | None, pod: Obj) -> bool:
    """kubelet's ShouldContainerBeRestarted, on the newest instance of a container."""
    if is_deleting(pod):
        return False
    if latest is None:
        return True
    if is_running(latest):
        return False
    if not is_exited(latest):  # created and never run, or unknown
        return True
    policy = restart_policy(pod)
    if policy == "Never":
        return False
    return not (policy == "OnFailure" and latest.exit_code == 0)


def init_failed(c: ContainerStatus) -> bool:
    return (c.reason == "OOMKilled" or (is_exited(c) and c.exit_code != 0)
            or c.state == ContainerState.UNKNOWN)


def pod_label(pod: Obj) -> tuple[str, str, str]:
    md = pod.get("metadata") or {}
    return str(md.get("name", "")), str(md.get("namespace", "")), str(md.get("uid", ""))


# ---- the decision ----------------------------------------------------------------------------


def _grace(pod: Obj) -> float:
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    value = md.get("deletionGracePeriodSeconds") if is_deleting(pod) else None
    if value is None:
        value = spec.get("terminationGracePeriodSeconds")
    return max(float(DEFAULT_GRACE if value is None else value), MIN_GRACE)


def _probe_grace(pod: Obj, container: Obj) -> float:
    """A liveness kill honours the probe's own terminationGracePeriodSeconds first."""
    probe = container.get("livenessProbe") or {}
    value = probe.get("terminationGracePeriodSeconds")
    return _grace(pod) if value is None else max(float(value), MIN_GRACE)


def _init_progress(pod: Obj, latest: dict[str, ContainerStatus],
                   init_latest: dict[str, ContainerStatus],
                   ) -> tuple[ContainerStatus | None, Obj | None, bool]:
    """kubelet's findNextInitContainerToRun: (last failed init container, next to run, done).
    `init_latest` holds the init containers of the current sandbox only: a new sandbox
    runs them all again."""
    spec = pod.get("spec") or {}
    inits: list[Obj] = spec.get("initContainers") or []
    if not inits:
        return None, None, True
    for c in spec.get("containers") or []:
        status = latest.get(c["name"])
        if status is not None and is_running(status):
            return None, None, True  # app containers ran: init is long done
    for c in reversed(inits):
        status = init_latest.get(c["name"])
        if status is not None and init_failed(status):
            return status, c, False
    for i in range(len(inits) - 1, -1, -1):
        status = init_latest.get(inits[i]["name"])
        if status is None:
            continue
        if is_running(status):
            return None, None, False
        if is_exited(status):
            if i == len(inits) - 1:
                return None, None, True
            return None, inits[i + 1], False
    return None, inits[0], False


class _Planner:
    """One call's worth of decisions, gathered in kubelet's order."""

    def __init__(self, pod: Obj, observed: Observed, probes: ProbeResults, now: float) -> None:
        self.pod = pod
        self.spec: Obj = pod.get("spec") or {}
        self.probes = probes
        self.now = now
        self.observed = observed
        self.history = newest_first(observed.containers)
        self.latest = {name: items[0] for name, items in self.history.items()}
        self.sandboxes = sandboxes_newest_first(observed.sandboxes)
        self.grace = _grace(pod)
        self.kills: list[Action] = []
        self.starts: list[Action] = []
        self.waiting: dict[str, tuple[str, str]] = {}
        self.requeue: list[float] = []

    # -- building blocks --

    def kept_ids(self) -> set[str]:
        kept = {c.id for items in self.history.values() for c in items[:KEEP_PER_NAME]}
        return kept | {c.id for c in self.observed.containers if c.state in (
            ContainerState.RUNNING, ContainerState.UNKNOWN)}

    def next_attempt(self, name: str) -> int:
        items = self.history.get(name)
        return items[0].attempt + 1 if items else 0

    def start_or_wait(self, container: Obj, init: bool,
                      just_killed: ContainerStatus | None = None) -> None:
        """Start the container now, or note its CrashLoopBackOff and when it ends."""
        name = container["name"]
        items = list(self.history.get(name, []))
        if just_killed is not None:
            gone = dataclasses.replace(just_killed, state=ContainerState.EXITED,
                                       finished_at=self.now, exit_code=137)
            items = [gone if c.id == just_killed.id else c for c in items]
        exited = [c for c in items if is_exited(c)]
        if exited:
            last = exited[0]
            previous = finished_at(exited[1]) if len(exited) > 1 else None
            wait = backoff.window(last.attempt, last.started_at, finished_at(last), previous)
            left = backoff.remaining(wait, finished_at(last), self.now)
            if left > 0:
                self.waiting[name] = ("CrashLoopBackOff", backoff.message(
                    wait, name, *pod_label(self.pod)))
                self.requeue.append(left)
                return
        self.starts.append(StartContainer(name, self.next_attempt(name), init))

    def cleanup(self, keep_sandbox: str | None,
                stop: Iterable[str] = ()) -> tuple[list[Action], list[Action]]:
        """(before starts: stop containers and old sandboxes, after: remove garbage)."""
        kept = self.kept_ids()
        removable: list[str] = []
        pre: list[Action] = []
        for s in self.sandboxes:
            if s.id == keep_sandbox:
                continue
            if not any(c.sandbox_id == s.id and c.id in kept for c in self.observed.containers):
                removable.append(s.id)
            elif s.state == SandboxState.READY:
                pre.append(StopSandbox(s.id))
        stop_ids = tuple(dict.fromkeys(stop))
        if removable or stop_ids:
            pre.insert(0, KillPod(tuple(removable), stop_ids, self.grace))
        post: list[Action] = [RemoveContainer(c.id) for c in self.observed.containers
                              if c.id not in kept]
        return pre, post

    def running_ids(self, skip: Iterable[str] = ()) -> list[str]:
        skipped = set(skip)
        return [c.id for c in self.observed.containers
                if c.state in (ContainerState.RUNNING, ContainerState.UNKNOWN)
                and c.id not in skipped]

    def plan(self, actions: list[Action]) -> Plan:
        left = deadline_left(self.pod, self.now)
        requeue = list(self.requeue) + ([left] if left is not None and left > 0 else [])
        return Plan(tuple(actions), min(requeue) if requeue else None, dict(self.waiting))

    # -- the branches --

    def delete(self) -> Plan:
        ready = tuple(s.id for s in self.sandboxes if s.state == SandboxState.READY)
        running = tuple(self.running_ids())
        if not ready and not running:
            return Plan()
        return Plan((KillPod(ready, running, self.grace),))

    def shut_down(self, already: list[Action] | None = None) -> Plan:
        """The pod is done: stop what runs and its sandbox, keep what explains it."""
        kills = already or []
        killed = [a.container_id for a in kills if isinstance(a, KillContainer)]
        pre, post = self.cleanup(None, self.running_ids(skip=killed))
        self.waiting.clear()
        self.requeue.clear()
        return Plan(tuple(kills + pre + post))

    def recreate(self) -> Plan:
        policy = restart_policy(self.pod)
        attempt = self.sandboxes[0].attempt + 1 if self.sandboxes else 0
        if policy == "Never" and attempt != 0 and self.observed.containers:
            return self.shut_down()
        app: list[Obj] = self.spec.get("containers") or []
        to_start = [c for c in app if not (
            policy == "OnFailure" and (s := self.latest.get(c["name"])) is not None
            and is_exited(s) and s.exit_code == 0)]
        if not to_start and _init_progress(self.pod, self.latest, self.latest)[2]:
            return self.shut_down()
        inits: list[Obj] = self.spec.get("initContainers") or []
        for c in (inits[:1] if inits else to_start):
            self.start_or_wait(c, init=bool(inits))
        pre, post = self.cleanup(None, self.running_ids())
        return self.plan([*pre, CreateSandbox(attempt), *self.starts, *post])

    def sync(self, sandbox: SandboxStatus) -> Plan:
        policy = restart_policy(self.pod)
        in_sandbox = newest_first(c for c in self.observed.containers
                                  if c.sandbox_id == sandbox.id)
        init_latest = {name: items[0] for name, items in in_sandbox.items()}
        failed, next_init, done = _init_progress(self.pod, self.latest, init_latest)
        if not done:
            if next_init is not None:
                if failed is not None and policy == "Never":
                    return self.shut_down()
                if failed is not None and failed.state == ContainerState.UNKNOWN:
                    self.kills.append(self._kill_unknown(failed))
                self.start_or_wait(next_init, init=True)
            pre, post = self.cleanup(sandbox.id)
            return self.plan(self.kills + pre + self.starts + post)
        keep = 0
        for c in self.spec.get("containers") or []:
            name = c["name"]
            latest = self.latest.get(name)
            if latest is not None and is_running(latest):
                if name not in self.probes.live_failed:
                    keep += 1
                    continue
                restart = policy != "Never"
                self.kills.append(self._kill_unhealthy(c, latest, restart))
                if restart:
                    self.start_or_wait(c, init=False, just_killed=latest)
                continue
            if should_restart(latest, self.pod):
                if latest is not None and latest.state == ContainerState.UNKNOWN:
                    self.kills.append(self._kill_unknown(latest))
                self.start_or_wait(c, init=False)
        if keep == 0 and not self.starts and not self.waiting:
            return self.shut_down(self.kills)
        pre, post = self.cleanup(sandbox.id)
        return self.plan(self.kills + pre + self.starts + post)

    def _kill_unhealthy(self, container: Obj, latest: ContainerStatus,
                        restart: bool) -> KillContainer:
        name = container["name"]
        startup = "startupProbe" in container and self.probes.started.get(name) is not True
        message = f"Container {name} failed {'startup' if startup else 'liveness'} probe"
        if restart:
            message += ", will be restarted"
        return KillContainer(latest.id, name, _probe_grace(self.pod, container), "Unhealthy",
                             message)

    def _kill_unknown(self, c: ContainerStatus) -> KillContainer:
        return KillContainer(c.id, c.name, self.grace, "Unknown",
                             'Container is in "unknown" state, try killing it before restart')


def compute_actions(pod: Obj, observed: Observed, probes: ProbeResults, now: float) -> Plan:
    """What to do next for `pod`, given what runs for it and what its probes say."""
    planner = _Planner(pod, observed, probes, now)
    if is_deleting(pod):
        return planner.delete()
    if is_terminal(pod) or deadline_exceeded(pod, now):
        return planner.shut_down()
    sandbox = current_sandbox(observed.sandboxes)
    if sandbox is None:
        return planner.recreate()
    return planner.sync(sandbox)

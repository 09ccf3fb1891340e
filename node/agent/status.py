"""A pod's `status` as kubelet reports it, from the runtime's view: a pure function.

Ports of kubelet's generateAPIPodStatus, convertToAPIContainerStatuses, getPhase
(kubelet_pods.go), the condition generators (status/generate.go), the
lastTransitionTime rule of the status manager and qos.ComputePodQOS. The
previous status (pod.status) matters as in kubelet: startTime and qosClass are
kept once set, a terminal phase never changes, a condition keeps its
lastTransitionTime while its status stays, and a container the runtime no
longer has keeps its last known terminated state.

The result is a whole `status` that starts from the previous one, so keys this
module does not own survive and, when nothing changed, the result equals
pod.status and the agent writes nothing.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from jota.api.meta import Obj
from jota.api.qos import qos_class
from jota.api.quantity import parse_quantity
from node.agent.podworker import (
    DEADLINE_MESSAGE,
    DEADLINE_REASON,
    Observed,
    Plan,
    ProbeResults,
    current_sandbox,
    deadline_exceeded,
    is_deleting,
    is_exited,
    is_running,
    is_terminal,
    newest_first,
    rfc3339,
    should_restart,
)
from node.runtime.interface import ContainerState, ContainerStatus, SandboxState

__all__ = ["container_id", "image_id", "is_terminal", "pod_status", "qos_class"]

TERMINAL = ("Succeeded", "Failed")
LOST_MESSAGE = "The container could not be located when the pod was terminated"


def container_id(runtime_id: str) -> str:
    return f"docker://{runtime_id}"


def image_id(ref: str) -> str:
    """As cri-dockerd reports it: `docker-pullable://repo@sha256:...` for an image pulled by
    digest, `docker://sha256:...` for one built or imported locally."""
    if not ref or "://" in ref:
        return ref
    return f"docker-pullable://{ref}" if "@" in ref else f"docker://{ref}"


# ---- QoS -------------------------------------------------------------------------------------




def _quantity(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(0)


# ---- container statuses ----------------------------------------------------------------------


def _state_of(c: ContainerStatus, old: Obj | None) -> Obj:
    """convertContainerStatus's state."""
    if is_running(c):
        return {"running": _times(startedAt=c.started_at)}
    if is_exited(c):
        reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
        term: Obj = {"exitCode": c.exit_code, "reason": reason}
        if c.message:
            term["message"] = c.message
        term.update(_times(startedAt=c.started_at, finishedAt=c.finished_at))
        term["containerID"] = container_id(c.id)
        return {"terminated": term}
    if c.state == ContainerState.UNKNOWN and old and "running" in (old.get("state") or {}):
        return {"terminated": {"exitCode": 137, "reason": "ContainerStatusUnknown",
                               "message": LOST_MESSAGE}}
    return {"waiting": {}}


def _times(**stamps: float) -> Obj:
    return {k: rfc3339(v) for k, v in stamps.items() if v > 0}


def _convert(c: ContainerStatus, spec: Obj, old: Obj | None) -> Obj:
    state = _state_of(c, old)
    restarts = c.attempt
    if "terminated" in state and state["terminated"].get("reason") == "ContainerStatusUnknown":
        restarts = int((old or {}).get("restartCount", 0)) + 1
    return {"name": spec["name"], "state": state, "lastState": {}, "ready": False,
            "restartCount": restarts, "image": spec.get("image", ""),
            "imageID": image_id(c.image_ref), "containerID": container_id(c.id),
            "started": False}


def _statuses(pod: Obj, specs: list[Obj], old_list: list[Obj],
              history: dict[str, list[ContainerStatus]], reasons: dict[str, tuple[str, str]],
              probes: ProbeResults, *, init: bool, has_init: bool) -> list[Obj]:
    """convertToAPIContainerStatuses, then the probe manager's ready/started."""
    default = {"waiting": {"reason": "PodInitializing" if has_init else "ContainerCreating"}}
    olds = {s.get("name"): s for s in old_list}
    out: dict[str, Obj] = {}
    for spec in specs:
        name = spec["name"]
        status: Obj = {"name": name, "state": copy.deepcopy(default), "lastState": {},
                       "ready": False, "restartCount": 0, "image": spec.get("image", ""),
                       "imageID": "", "started": False}
        old = olds.get(name)
        if old is not None:
            if "terminated" in (old.get("state") or {}):
                status = copy.deepcopy(old)
            else:
                status["restartCount"] = old.get("restartCount", 0)
                status["lastState"] = copy.deepcopy(old.get("lastState") or {})
        out[name] = status
        if history.get(name) or old is None or "running" not in (old.get("state") or {}):
            continue
        # It ran, and the runtime lost it: show it stopped, not waiting (kubernetes#41580).
        if status["state"] == default and "terminated" not in status["lastState"]:
            status["lastState"] = {"terminated": {"exitCode": 137,
                                                  "reason": "ContainerStatusUnknown",
                                                  "message": LOST_MESSAGE}}
            if not is_deleting(pod):
                status["restartCount"] = int(status.get("restartCount", 0)) + 1
    for spec in specs:
        items = history.get(spec["name"], [])[:2]
        if not items:
            continue
        status = _convert(items[0], spec, olds.get(spec["name"]))
        if len(items) > 1:
            status["lastState"] = _convert(items[1], spec, None)["state"]
        out[spec["name"]] = status
    for spec in specs:
        name = spec["name"]
        found = history.get(name)
        latest = found[0] if found else None
        if init and latest is not None and is_exited(latest) and latest.exit_code == 0:
            continue
        if name not in reasons or not should_restart(latest, pod):
            continue
        status = out[name]
        if "terminated" in status["state"]:
            status["lastState"] = status["state"]
        reason, message = reasons[name]
        status["state"] = {"waiting": {"reason": reason, **({"message": message}
                                                           if message else {})}}
    for spec in specs:
        _probe_view(out[spec["name"]], spec, probes, init=init)
    return [out[spec["name"]] for spec in specs]


def _probe_view(status: Obj, spec: Obj, probes: ProbeResults, *, init: bool) -> None:
    name = spec["name"]
    running = "running" in status["state"]
    started = running and ("startupProbe" not in spec or probes.started.get(name) is True)
    status["started"] = started
    if init:
        term = status["state"].get("terminated")
        status["ready"] = bool(term) and term.get("exitCode") == 0
    elif started:
        status["ready"] = "readinessProbe" not in spec or probes.ready.get(name) is True
    else:
        status["ready"] = False


# ---- phase and conditions --------------------------------------------------------------------


def _any_app_started(pod: Obj, statuses: list[Obj]) -> bool:
    names = {c["name"] for c in (pod.get("spec") or {}).get("containers") or []}
    return any(s["name"] in names and ("running" in s["state"] or "terminated" in s["state"])
               for s in statuses)


def get_phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj],
              terminal: bool) -> str:
    """kubelet's getPhase."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    by_name = {s["name"]: s for s in init_statuses + statuses}
    pending_init = failed_init = 0
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode") != 0
        elif "waiting" in state:
            last = (s.get("lastState") or {}).get("terminated")
            if last is not None:
                failed_init += last.get("exitCode") != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("containers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "waiting" in state:
            if "terminated" in (s.get("lastState") or {}):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if (pending_init > 0 and not _any_app_started(pod, statuses)) or waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # Go's %s of a []string


def _containers_ready(pod: Obj, statuses: list[Obj], phase: str) -> Obj:
    by_name = {s["name"]: s for s in statuses}
    unknown: list[str] = []
    unready: list[str] = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return {"type": "ContainersReady", "status": "False", "reason": "PodCompleted"}
    if phase == "Failed":
        return {"type": "ContainersReady", "status": "False", "reason": "PodFailed"}
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady",
                "message": ", ".join(messages)}
    return {"type": "ContainersReady", "status": "True"}


def _ready(pod: Obj, containers_ready: Obj, old_conditions: list[Obj]) -> Obj:
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    by_type = {c.get("type"): c for c in old_conditions}
    messages = []
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        kind = gate.get("conditionType")
        cond = by_type.get(kind)
        if cond is None:
            messages.append(f'corresponding condition of pod readiness gate "{kind}" '
                            f"does not exist.")
        elif cond.get("status") != "True":
            messages.append(f'the status of pod readiness gate "{kind}" is not "True", '
                            f"but {cond.get('status')}")
    if messages:
        return {"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady",
                "message": ", ".join(messages)}
    return {"type": "Ready", "status": "True"}


def _initialized(pod: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    by_name = {s["name"]: s for s in init_statuses}
    unknown: list[str] = []
    incomplete: list[str] = []
    for c in (pod.get("spec") or {}).get("initContainers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return {"type": "Initialized", "status": "True", "reason": "PodCompleted"}
    if _any_app_started(pod, statuses):
        return {"type": "Initialized", "status": "True"}
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return {"type": "Initialized", "status": "False", "reason": "ContainersNotInitialized",
                "message": ", ".join(messages)}
    return {"type": "Initialized", "status": "True"}


KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")


def _conditions(pod: Obj, generated: list[Obj], now: float) -> list[Obj]:
    """Conditions others own first (kept as they are), then kubelet's in its order, each
    keeping its lastTransitionTime while its status is unchanged."""
    old: list[Obj] = (pod.get("status") or {}).get("conditions") or []
    by_type = {c.get("type"): c for c in old}
    out = [copy.deepcopy(c) for c in old if c.get("type") not in KUBELET_CONDITIONS]
    for cond in generated:
        before = by_type.get(cond["type"])
        if cond["type"] == "PodScheduled" and before is not None:
            out.append(copy.deepcopy(before))
            continue
        if before is not None and before.get("status") == cond["status"] \
                and before.get("lastTransitionTime"):
            cond["lastTransitionTime"] = before["lastTransitionTime"]
        else:
            cond["lastTransitionTime"] = rfc3339(now)
        out.append({"type": cond["type"], "status": cond["status"],
                    "lastTransitionTime": cond["lastTransitionTime"],
                    **{k: cond[k] for k in ("reason", "message") if cond.get(k)}})
    return out


# ---- the whole status ------------------------------------------------------------------------


def pod_status(pod: Obj, observed: Observed, probes: ProbeResults, plan: Plan, now: float,
               *, host_ip: str, errors: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The pod's new `status`. `errors` are start failures the agent met (name -> (reason,
    message): ErrImagePull, ImagePullBackOff, CreateContainerConfigError...); they and the
    plan's CrashLoopBackOff show as the waiting state of a container not running."""
    spec: Obj = pod.get("spec") or {}
    old: Obj = pod.get("status") or {}
    status: dict[str, Any] = copy.deepcopy(old)
    reasons = {**plan.waiting, **errors}
    history = newest_first(observed.containers)
    inits: list[Obj] = spec.get("initContainers") or []
    has_init = bool(inits)
    init_statuses = _statuses(pod, inits, old.get("initContainerStatuses") or [], history,
                              reasons, probes, init=True, has_init=has_init)
    statuses = _statuses(pod, spec.get("containers") or [], old.get("containerStatuses") or [],
                         history, reasons, probes, init=False, has_init=has_init)

    deleting = is_deleting(pod)
    stopped = not any(is_running(c) or c.state == ContainerState.UNKNOWN
                      for c in observed.containers)
    phase = get_phase(pod, init_statuses, statuses, terminal=deleting and stopped)
    if deleting and stopped and phase not in TERMINAL:
        phase = "Failed"  # the status manager's TerminatePod
    if deadline_exceeded(pod, now) and old.get("phase") not in TERMINAL:
        phase = "Failed"
        status["reason"], status["message"] = DEADLINE_REASON, DEADLINE_MESSAGE
    if old.get("phase") in TERMINAL:
        phase = old["phase"]  # no way back from a terminal phase
    status["phase"] = phase

    sandbox = current_sandbox(observed.sandboxes)
    containers_ready = _containers_ready(pod, statuses, phase)
    generated = [
        {"type": "PodReadyToStartContainers", "status": "True" if sandbox else "False"},
        _initialized(pod, init_statuses, statuses, phase),
        _ready(pod, containers_ready, old.get("conditions") or []),
        containers_ready,
        {"type": "PodScheduled", "status": "True"},
    ]
    status["conditions"] = _conditions(pod, generated, now)

    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    pod_ip = host_ip if spec.get("hostNetwork") else (sandbox.ip if sandbox else "")
    if pod_ip and sandbox is not None and sandbox.state == SandboxState.READY:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    status.setdefault("startTime", rfc3339(now))
    status.setdefault("qosClass", qos_class(pod))
    if has_init:
        status["initContainerStatuses"] = init_statuses
    status["containerStatuses"] = statuses
    return status

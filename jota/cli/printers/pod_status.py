"""A pod's READY, STATUS and RESTARTS cells, as kubectl's printPod computes them.

Users read STATUS to learn why a pod is not running (`CrashLoopBackOff`,
`Init:0/1`, `Terminating`), so the order of the checks below is kubectl's own:
the pod phase, overridden by the first unfinished init container, then by the
containers' waiting/terminated reasons, then by deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jota.api.meta import Obj
from jota.cli.printers.age import human_since, parse_time
from jota.cli.printers.fields import as_dict, as_list, condition_true, dig


@dataclass(frozen=True)
class PodSummary:
    ready: str
    status: str
    restarts: str


def _is_restartable_init(spec: dict[str, Any] | None) -> bool:
    return bool(spec) and as_dict(spec).get("restartPolicy") == "Always"


def _later(current: datetime | None, status: dict[str, Any]) -> datetime | None:
    finished = parse_time(dig(status, "lastState", "terminated", "finishedAt"))
    if finished is not None and (current is None or finished > current):
        return finished
    return current


def _terminated_reason(term: dict[str, Any], prefix: str) -> str:
    if term.get("reason"):
        return f"{prefix}{term['reason']}"
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def summarize_pod(pod: Obj, now: datetime) -> PodSummary:
    spec, status = as_dict(pod.get("spec")), as_dict(pod.get("status"))
    containers = as_list(spec.get("containers"))
    init_specs = {c.get("name"): c for c in as_list(spec.get("initContainers"))
                  if isinstance(c, dict)}
    total = len(containers) + sum(1 for c in init_specs.values() if _is_restartable_init(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    for cond in as_list(status.get("conditions")):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    init_statuses = as_list(status.get("initContainerStatuses"))
    for i, cs in enumerate(init_statuses):
        restarts += int(cs.get("restartCount") or 0)
        last_restart = _later(last_restart, cs)
        sidecar = _is_restartable_init(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            last_sidecar_restart = _later(last_sidecar_restart, cs)
        state = as_dict(cs.get("state"))
        term, waiting = state.get("terminated"), state.get("waiting")
        if isinstance(term, dict) and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if isinstance(term, dict):
            reason = _terminated_reason(term, "Init:")
        elif (isinstance(waiting, dict) and waiting.get("reason")
              and waiting.get("reason") != "PodInitializing"):
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or condition_true(pod, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(as_list(status.get("containerStatuses"))):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, cs)
            state = as_dict(cs.get("state"))
            term, waiting = state.get("terminated"), state.get("waiting")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(term, dict):
                reason = _terminated_reason(term, "")
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if condition_true(pod, "Ready") else "NotReady"

    deleting = bool(dig(pod, "metadata", "deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_since(last_restart, now)} ago)"
    return PodSummary(f"{ready}/{total}", reason, restarts_text)


def readiness_gates(pod: Obj) -> str:
    gates = as_list(dig(pod, "spec", "readinessGates"))
    if not gates:
        return "<none>"
    true = sum(1 for g in gates if condition_true(pod, str(g.get("conditionType"))))
    return f"{true}/{len(gates)}"


def pod_ip(pod: Obj) -> str:
    ips = as_list(dig(pod, "status", "podIPs"))
    if ips and isinstance(ips[0], dict) and ips[0].get("ip"):
        return str(ips[0]["ip"])
    return str(dig(pod, "status", "podIP", default="")) or "<none>"

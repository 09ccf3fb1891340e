"""Pure translations between the CRI-shaped types and the Docker Engine API's JSON.

Everything `docker.py` sends or reads goes through here, so the mapping
(dockershim's, in `pkg/kubelet/dockershim/helpers.go` and `docker_container.go`)
is tested without an engine: names, labels, host configs, states, reasons,
timestamps, events and stats.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from node.runtime.interface import (
    ATTEMPT,
    CONTAINER_NAME,
    KIND,
    MANAGED,
    POD_NAME,
    POD_NAMESPACE,
    POD_UID,
    SANDBOX_ID,
    ContainerConfig,
    ContainerState,
    ContainerStats,
    ContainerStatus,
    DNSConfig,
    ImageInfo,
    LogLine,
    PodRef,
    RuntimeEvent,
    SandboxConfig,
    SandboxState,
    SandboxStatus,
)

Json = dict[str, Any]

KIND_SANDBOX = "podsandbox"
KIND_CONTAINER = "container"
# dockershim keeps annotations as labels with this prefix (Docker has no annotations).
ANNOTATION_PREFIX = "annotation."
TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
# kubelet's defaults for containerLogMaxSize / containerLogMaxFiles.
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "5"}}

_STATES = {
    "created": ContainerState.CREATED,
    "running": ContainerState.RUNNING,
    "paused": ContainerState.RUNNING,
    "restarting": ContainerState.RUNNING,
    "exited": ContainerState.EXITED,
    "dead": ContainerState.EXITED,
}

_EVENTS = {"start": "started", "die": "died", "oom": "oom", "destroy": "destroyed"}


# ---- names and labels ----------------------------------------------------------------------

def sandbox_name(config: SandboxConfig) -> str:
    pod = config.pod
    return f"k8s_POD_{pod.name}_{pod.namespace}_{pod.uid}_{config.attempt}"


def container_name(config: ContainerConfig, sandbox: SandboxConfig) -> str:
    pod = sandbox.pod
    return f"k8s_{config.name}_{pod.name}_{pod.namespace}_{pod.uid}_{config.attempt}"


def _annotation_labels(annotations: dict[str, str]) -> dict[str, str]:
    return {ANNOTATION_PREFIX + k: v for k, v in annotations.items()}


def sandbox_labels(config: SandboxConfig, managed: str = "true") -> dict[str, str]:
    # Ours last: a pod label can never pass for a runtime label.
    return {**config.labels, **_annotation_labels(config.annotations), **config.pod.labels(),
            MANAGED: managed, KIND: KIND_SANDBOX, CONTAINER_NAME: "POD",
            ATTEMPT: str(config.attempt)}


def container_labels(sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig,
                     managed: str = "true") -> dict[str, str]:
    labels = {**config.labels, **_annotation_labels(config.annotations), **sandbox.pod.labels(),
              MANAGED: managed, KIND: KIND_CONTAINER, SANDBOX_ID: sandbox_id,
              CONTAINER_NAME: config.name, ATTEMPT: str(config.attempt)}
    if config.termination_message_path:
        labels[TERMINATION_MESSAGE_PATH] = config.termination_message_path
    return labels


def pod_ref(labels: dict[str, str]) -> PodRef:
    return PodRef(uid=labels.get(POD_UID, ""), namespace=labels.get(POD_NAMESPACE, ""),
                  name=labels.get(POD_NAME, ""))


def _attempt(labels: dict[str, str]) -> int:
    try:
        return int(labels.get(ATTEMPT, "0"))
    except ValueError:
        return 0


# ---- create requests ---------------------------------------------------------------------

def resolv_conf(dns: DNSConfig) -> str:
    """The pod's /etc/resolv.conf, as dockershim's rewriteResolvFile writes it.

    Docker gives containers on a user-defined network `nameserver 127.0.0.11` (its
    embedded resolver, forwarding to the --dns servers); the file is rewritten so the
    pod asks the cluster DNS itself, as a Kubernetes pod does."""
    lines = [f"nameserver {s}" for s in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def sandbox_create(config: SandboxConfig, image: str, managed: str = "true"
                   ) -> tuple[Json, Json]:
    """(create_container kwargs without host_config, create_host_config kwargs)."""
    ports: list[tuple[int, str]] = []
    bindings: dict[str, list[tuple[str, int]]] = {}
    if not config.host_network:
        for pm in config.port_mappings:
            if pm.host_port <= 0:
                continue
            proto = pm.protocol.lower() or "tcp"
            ports.append((pm.container_port, proto))
            bindings.setdefault(f"{pm.container_port}/{proto}", []).append(
                (pm.host_ip or "0.0.0.0", pm.host_port))
    host: Json = {
        "network_mode": "host" if config.host_network else (config.network or "bridge"),
        # The pod's containers join its IPC namespace (`ipc_mode=container:`).
        "ipc_mode": "shareable",
        "log_config": LOG_CONFIG,
    }
    if bindings:
        host["port_bindings"] = bindings
    if config.host_pid:
        host["pid_mode"] = "host"
    if config.dns is not None:
        if config.dns.servers:
            host["dns"] = list(config.dns.servers)
        if config.dns.searches:
            host["dns_search"] = list(config.dns.searches)
        if config.dns.options:
            host["dns_opt"] = list(config.dns.options)
    if config.sysctls and not config.host_network:
        host["sysctls"] = dict(config.sysctls)
    create: Json = {"image": image, "name": sandbox_name(config),
                    "labels": sandbox_labels(config, managed)}
    if config.hostname and not config.host_network:
        create["hostname"] = config.hostname
        if config.domain:
            create["domainname"] = config.domain
    if ports:
        create["ports"] = ports
    return create, host


def docker_user(config: ContainerConfig, image_user: str = "") -> str | None:
    """Docker's "uid[:gid]"; a group alone keeps the image's user, as Docker needs one."""
    sec = config.security
    if sec.run_as_user is None and sec.run_as_group is None:
        return None
    user = str(sec.run_as_user) if sec.run_as_user is not None else (
        image_user.split(":")[0] or "0")
    return user if sec.run_as_group is None else f"{user}:{sec.run_as_group}"


def container_create(sandbox_id: str, config: ContainerConfig, sandbox: SandboxConfig,
                     image_user: str = "", managed: str = "true") -> tuple[Json, Json]:
    """(create_container kwargs without host_config, create_host_config kwargs).

    Kubernetes' `command` replaces the image's ENTRYPOINT (and then its CMD is
    dropped, which Docker does too when an entrypoint is given) and `args`
    replace its CMD.
    """
    create: Json = {"image": config.image, "name": container_name(config, sandbox),
                    "labels": container_labels(sandbox_id, config, sandbox, managed),
                    "environment": [f"{k}={v}" for k, v in config.env.items()],
                    "stdin_open": config.stdin, "tty": config.tty}
    if config.command:
        create["entrypoint"] = list(config.command)
    if config.args:
        create["command"] = list(config.args)
    if config.working_dir:
        create["working_dir"] = config.working_dir
    user = docker_user(config, image_user)
    if user is not None:
        create["user"] = user
    joined = f"container:{sandbox_id}"
    host: Json = {"network_mode": joined, "ipc_mode": joined, "log_config": LOG_CONFIG,
                  "binds": [f"{m.host_path}:{m.container_path}:{'ro' if m.readonly else 'rw'}"
                            for m in config.mounts]}
    if sandbox.host_pid:
        host["pid_mode"] = "host"
    res = config.resources
    if res.cpu_shares > 0:
        host["cpu_shares"] = res.cpu_shares
    if res.cpu_quota > 0:
        host["cpu_quota"] = res.cpu_quota
        host["cpu_period"] = res.cpu_period
    if res.memory_limit > 0:
        # No swap beyond the limit: a hog is OOM-killed instead of swapping.
        host["mem_limit"] = res.memory_limit
        host["memswap_limit"] = res.memory_limit
    sec = config.security
    if sec.readonly_rootfs:
        host["read_only"] = True
    if sec.privileged:
        host["privileged"] = True
    if sec.cap_add:
        host["cap_add"] = list(sec.cap_add)
    if sec.cap_drop:
        host["cap_drop"] = list(sec.cap_drop)
    if sec.no_new_privileges:
        host["security_opt"] = ["no-new-privileges"]
    return create, host


# ---- statuses ----------------------------------------------------------------------------

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def parse_time(value: str | None) -> float:
    """Docker's RFC 3339 (nanoseconds) as unix seconds; its zero time (year 1) is 0."""
    if not value or value.startswith("0001-01-01"):
        return 0.0
    m = _TIME.match(value)
    if m is None:
        return 0.0
    zone = m[3] or "Z"
    base = datetime.fromisoformat(m[1] + ("+00:00" if zone == "Z" else zone))
    return base.timestamp() + float(m[2] or 0)


def container_state(docker_state: str) -> ContainerState:
    return _STATES.get(docker_state.lower(), ContainerState.UNKNOWN)


def exit_reason(state: Json) -> str:
    if state.get("OOMKilled"):
        return "OOMKilled"
    return "Completed" if int(state.get("ExitCode") or 0) == 0 else "Error"


def container_status(inspect: Json) -> ContainerStatus:
    """From `docker inspect` of a container (the list summary lacks exit details)."""
    labels: dict[str, str] = (inspect.get("Config") or {}).get("Labels") or {}
    state: Json = inspect.get("State") or {}
    cstate = container_state(str(state.get("Status", "")))
    return ContainerStatus(
        id=inspect["Id"], sandbox_id=labels.get(SANDBOX_ID, ""), pod=pod_ref(labels),
        name=labels.get(CONTAINER_NAME, ""), attempt=_attempt(labels), state=cstate,
        image=(inspect.get("Config") or {}).get("Image", ""), image_ref=inspect.get("Image", ""),
        created_at=parse_time(inspect.get("Created")),
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        exit_code=int(state.get("ExitCode") or 0),
        reason=exit_reason(state) if cstate == ContainerState.EXITED else "",
        message=str(state.get("Error") or ""), labels=dict(labels))


def _ip(networks: Json, network_mode: str) -> str:
    if network_mode in ("host", "none") or network_mode.startswith("container:"):
        return ""
    name = "bridge" if network_mode in ("", "default") else network_mode
    net = networks.get(name) or next(iter(networks.values()), None) or {}
    return str(net.get("IPAddress") or "")


def sandbox_status_from_summary(summary: Json) -> SandboxStatus:
    """From one entry of `docker ps`: it carries state, labels, creation and IPs."""
    labels: dict[str, str] = summary.get("Labels") or {}
    networks: Json = (summary.get("NetworkSettings") or {}).get("Networks") or {}
    mode = str((summary.get("HostConfig") or {}).get("NetworkMode", ""))
    running = str(summary.get("State", "")).lower() == "running"
    return SandboxStatus(id=summary["Id"], pod=pod_ref(labels), attempt=_attempt(labels),
                         state=SandboxState.READY if running else SandboxState.NOTREADY,
                         created_at=float(summary.get("Created") or 0),
                         ip=_ip(networks, mode) if running else "", labels=dict(labels))


def sandbox_status_from_inspect(inspect: Json) -> SandboxStatus:
    labels: dict[str, str] = (inspect.get("Config") or {}).get("Labels") or {}
    networks: Json = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    mode = str((inspect.get("HostConfig") or {}).get("NetworkMode", ""))
    running = bool((inspect.get("State") or {}).get("Running"))
    return SandboxStatus(id=inspect["Id"], pod=pod_ref(labels), attempt=_attempt(labels),
                         state=SandboxState.READY if running else SandboxState.NOTREADY,
                         created_at=parse_time(inspect.get("Created")),
                         ip=_ip(networks, mode) if running else "", labels=dict(labels))


def image_info(inspect: Json) -> ImageInfo:
    return ImageInfo(id=inspect["Id"], tags=list(inspect.get("RepoTags") or []),
                     size=int(inspect.get("Size") or 0))


# ---- events, stats, logs -----------------------------------------------------------------

def runtime_event(event: Json) -> RuntimeEvent | None:
    """A Docker container event about one of ours, or None for the rest (exec_*, ...)."""
    if event.get("Type", "container") != "container":
        return None
    kind = _EVENTS.get(str(event.get("Action") or event.get("status") or ""))
    if kind is None:
        return None
    actor: Json = event.get("Actor") or {}
    attributes: dict[str, str] = actor.get("Attributes") or {}
    return RuntimeEvent(container_id=str(actor.get("ID") or event.get("id") or ""),
                        pod_uid=attributes.get(POD_UID, ""), kind=kind)


def container_stats(stats: Json) -> ContainerStats:
    """cAdvisor's working set: usage minus inactive file cache (cgroup v1 or v2 names)."""
    cpu = int((((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")) or 0)
    memory: Json = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    detail: Json = memory.get("stats") or {}
    inactive = int(detail.get("total_inactive_file", detail.get("inactive_file", 0)) or 0)
    return ContainerStats(cpu_usage_ns=cpu, memory_working_set=max(usage - inactive, 0),
                          timestamp=parse_time(stats.get("read")))


STREAMS = {1: "stdout", 2: "stderr"}


def log_line(stream: str, frame: bytes) -> LogLine:
    """One line of `docker logs --timestamps`: "<RFC 3339> <data>"."""
    stamp, _, data = frame.partition(b" ")
    return LogLine(timestamp=stamp.decode("ascii", "replace"), stream=stream, data=data)


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (with their newline) and the unfinished rest."""
    lines = buffer.split(b"\n")
    rest = lines.pop()
    return [line + b"\n" for line in lines], rest

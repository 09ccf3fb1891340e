"""The Node object the agent keeps current, and the Lease that says it is alive.

`machine_info()` reads the machine once (the only I/O here); `node_status()`
turns it, the agent's settings and the clock into a Node `status` exactly as
kubelet reports it. The Lease in `kube-node-lease` is the cheap heartbeat
(renewed every 10 s); the Node's status is written when it changes and at
least every few minutes, as kubelet's nodeStatusReportFrequency.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jota.api.meta import Obj
from jota.api.quantity import cpu_millis, memory_bytes

VERSION = "v0.1.0"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
DEFAULT_MAX_PODS = 110


@dataclass(frozen=True)
class MachineInfo:
    cpus: int
    memory_bytes: int
    disk_bytes: int
    kernel: str
    os_image: str
    architecture: str
    machine_id: str
    boot_id: str
    hostname: str


@dataclass
class NodeConfig:
    name: str
    node_ip: str
    runtime_version: str  # "docker://20.10.24"
    max_pods: int = DEFAULT_MAX_PODS
    pod_cidr: str = ""
    system_reserved: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    port: int = 10250  # where the agent serves logs/exec/port-forward (kubelet's port)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def machine_info(root_dir: str = "/") -> MachineInfo:
    meminfo = _read("/proc/meminfo")
    mem_kib = next((int(line.split()[1]) for line in meminfo.splitlines()
                    if line.startswith("MemTotal:")), 0)
    stat = os.statvfs(root_dir)
    os_release = dict(
        line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    return MachineInfo(
        cpus=os.cpu_count() or 1,
        memory_bytes=mem_kib * 1024,
        disk_bytes=stat.f_blocks * stat.f_frsize,
        kernel=platform.release(),
        os_image=os_release.get("PRETTY_NAME", "Linux").strip('"'),
        architecture={"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                 platform.machine()),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        hostname=socket.gethostname(),
    )


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capacity(info: MachineInfo, config: NodeConfig) -> dict[str, str]:
    return {"cpu": str(info.cpus), "memory": f"{info.memory_bytes // 1024}Ki",
            "pods": str(config.max_pods), "ephemeral-storage": f"{info.disk_bytes // 1024}Ki"}


def allocatable(info: MachineInfo, config: NodeConfig) -> dict[str, str]:
    """Capacity less --system-reserved, as kubelet's allocatable."""
    reserved = config.system_reserved
    cpu = info.cpus * 1000 - cpu_millis(reserved.get("cpu", "0"))
    memory = info.memory_bytes - memory_bytes(reserved.get("memory", "0"))
    disk = info.disk_bytes - memory_bytes(reserved.get("ephemeral-storage", "0"))
    return {"cpu": f"{max(cpu, 0)}m" if cpu % 1000 else str(max(cpu, 0) // 1000),
            "memory": f"{max(memory, 0) // 1024}Ki", "pods": str(config.max_pods),
            "ephemeral-storage": f"{max(disk, 0) // 1024}Ki"}


def _condition(kind: str, status: str, reason: str, message: str, now: datetime,
               previous: list[Obj]) -> Obj:
    before = next((c for c in previous if c.get("type") == kind), None)
    transition = (before.get("lastTransitionTime") if before and before.get("status") == status
                  else rfc3339(now))
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": rfc3339(now), "lastTransitionTime": transition}


def node_status(info: MachineInfo, config: NodeConfig, now: datetime, *,
                previous: Obj | None = None, runtime_ready: bool = True) -> Obj:
    conditions = list(((previous or {}).get("status") or {}).get("conditions") or [])
    ready = _condition(
        "Ready", "True" if runtime_ready else "False",
        "KubeletReady" if runtime_ready else "KubeletNotReady",
        "kubelet is posting ready status" if runtime_ready
        else "container runtime is down", now, conditions)
    pressure = [
        _condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                   "kubelet has sufficient memory available", now, conditions),
        _condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                   "kubelet has no disk pressure", now, conditions),
        _condition("PIDPressure", "False", "KubeletHasSufficientPID",
                   "kubelet has sufficient PID available", now, conditions),
    ]
    return {
        "capacity": capacity(info, config),
        "allocatable": allocatable(info, config),
        "conditions": [*pressure, ready],
        "addresses": [{"type": "InternalIP", "address": config.node_ip},
                      {"type": "Hostname", "address": config.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.port}},
        "nodeInfo": {
            "machineID": info.machine_id, "systemUUID": info.machine_id,
            "bootID": info.boot_id, "kernelVersion": info.kernel,
            "osImage": info.os_image, "containerRuntimeVersion": config.runtime_version,
            "kubeletVersion": VERSION, "kubeProxyVersion": VERSION,
            "operatingSystem": "linux", "architecture": info.architecture,
        },
    }


def node_object(info: MachineInfo, config: NodeConfig, now: datetime) -> Obj:
    labels = {"kubernetes.io/hostname": config.name, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": info.architecture, "beta.kubernetes.io/os": "linux",
              "beta.kubernetes.io/arch": info.architecture, **config.labels}
    spec: Obj = {}
    if config.pod_cidr:
        spec = {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": config.name, "labels": labels},
            "spec": spec, "status": node_status(info, config, now)}


def lease_object(node: str, node_uid: str, now: datetime) -> Obj:
    micro = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                              "name": node, "uid": node_uid}]},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION,
                     "renewTime": micro}}

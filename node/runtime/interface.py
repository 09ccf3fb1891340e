"""The CRI-shaped boundary between the node agent and a container runtime.

The agent speaks only this interface; `docker.py` implements it over the Docker
engine and `fake.py` in memory (hollow nodes for scale tests, as kubemark). The
shapes follow Kubernetes' CRI (`cri-api/pkg/apis/services.go`): a pod is a
sandbox that owns the network namespace, plus containers joined to it.

Every container and sandbox carries labels naming its pod (uid, namespace,
name), its container name and its attempt, so the runtime itself is the record
of what runs: an agent that restarts lists and adopts instead of recreating.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from node.runtime.pullprogress import PullProgress

# Labels on every sandbox and container: dockershim's names, so tools that know
# Kubernetes on Docker recognise Jota's containers.
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
ATTEMPT = "io.kubernetes.container.restartCount"
KIND = "io.kubernetes.docker.type"  # "podsandbox" or "container"
MANAGED = "io.jota.managed"  # "true" on everything the agent made
SANDBOX_ID = "io.kubernetes.sandbox.id"


class RuntimeCallError(Exception):
    """A runtime call failed; `reason` is what the pod's status shows."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ImageNotFound(RuntimeCallError):
    def __init__(self, image: str, message: str = "") -> None:
        super().__init__("ErrImagePull", message or f'image "{image}" not found')


class NotFound(RuntimeCallError):
    def __init__(self, what: str) -> None:
        super().__init__("NotFound", f"{what} not found")


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True)
class PodRef:
    uid: str
    namespace: str
    name: str

    def labels(self) -> dict[str, str]:
        return {POD_UID: self.uid, POD_NAMESPACE: self.namespace, POD_NAME: self.name,
                MANAGED: "true"}


@dataclass
class DNSConfig:
    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


@dataclass
class PortMapping:
    container_port: int
    host_port: int = 0
    protocol: str = "TCP"
    host_ip: str = ""


@dataclass
class SandboxConfig:
    pod: PodRef
    attempt: int = 0
    hostname: str = ""
    # `<subdomain>.<ns>.svc.<zone>` for a pod with spec.subdomain: /etc/hosts then maps the
    # pod IP to its FQDN, as kubelet's managed hosts file does.
    domain: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dns: DNSConfig | None = None
    port_mappings: list[PortMapping] = field(default_factory=list)
    host_network: bool = False
    host_pid: bool = False
    # The runtime network to join ("" = the runtime's default bridge).
    network: str = ""
    # Cgroup limits for the whole pod are not set on the sandbox in Docker; kept for
    # runtimes that can.
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class Mount:
    host_path: str
    container_path: str
    readonly: bool = False


@dataclass
class Resources:
    cpu_shares: int = 0  # relative weight (requests), 2..262144; 0 = runtime default
    cpu_quota: int = 0  # microseconds per period (limits); 0 = unlimited
    cpu_period: int = 100_000
    memory_limit: int = 0  # bytes; 0 = unlimited


@dataclass
class Security:
    run_as_user: int | None = None
    run_as_group: int | None = None
    readonly_rootfs: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False


@dataclass
class ContainerConfig:
    name: str
    image: str
    attempt: int = 0
    command: list[str] = field(default_factory=list)  # replaces the image's entrypoint
    args: list[str] = field(default_factory=list)  # replaces the image's cmd
    working_dir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    security: Security = field(default_factory=Security)
    stdin: bool = False
    tty: bool = False
    # Written by the container on exit; read back as the termination message.
    termination_message_path: str = ""


@dataclass
class SandboxStatus:
    id: str
    pod: PodRef
    attempt: int
    state: SandboxState
    created_at: float  # unix seconds
    ip: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ContainerStatus:
    id: str
    sandbox_id: str
    pod: PodRef
    name: str
    attempt: int
    state: ContainerState
    image: str
    image_ref: str = ""  # the image's id, as `imageID` in pod status
    created_at: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    reason: str = ""  # "OOMKilled", "Error", "Completed"
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclass
class ImageInfo:
    id: str
    tags: list[str]
    size: int


@dataclass
class RuntimeEvent:
    """Something changed in the runtime: the agent resyncs the pod promptly."""

    container_id: str
    pod_uid: str
    kind: str  # "started", "died", "oom", "destroyed"


@dataclass
class ContainerStats:
    cpu_usage_ns: int
    memory_working_set: int
    timestamp: float


@dataclass
class LogLine:
    timestamp: str  # RFC 3339 with nanoseconds, as Docker gives it
    stream: str  # "stdout" or "stderr"
    data: bytes


class Runtime(Protocol):
    """RuntimeService and ImageService of the CRI, as one asyncio interface."""

    async def version(self) -> tuple[str, str]:
        """(runtime name, runtime version), e.g. ("docker", "20.10.24")."""
        ...

    # -- sandboxes --
    async def run_pod_sandbox(self, config: SandboxConfig) -> str: ...
    async def stop_pod_sandbox(self, sandbox_id: str) -> None: ...
    async def remove_pod_sandbox(self, sandbox_id: str) -> None: ...
    async def pod_sandbox_status(self, sandbox_id: str) -> SandboxStatus: ...
    async def list_pod_sandboxes(self) -> list[SandboxStatus]: ...

    # -- containers --
    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox: SandboxConfig) -> str: ...
    async def start_container(self, container_id: str) -> None: ...
    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        ...
    async def remove_container(self, container_id: str) -> None: ...
    async def list_containers(self) -> list[ContainerStatus]: ...
    async def container_status(self, container_id: str) -> ContainerStatus: ...
    async def exec_sync(self, container_id: str, cmd: list[str],
                        timeout: float) -> ExecResult: ...
    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             since: float | None = None) -> AsyncIterator[LogLine]: ...
    async def exec_stream(self, container_id: str, cmd: list[str], *, stdin: bool,
                          tty: bool) -> ExecSession:
        """Start `cmd` in the container with streams attached (CRI's Exec, for
        `jota exec -i -t`); the caller must `close()` the session."""
        ...
    async def container_stats(self, container_id: str) -> ContainerStats: ...

    # -- images --
    async def pull_image(self, image: str, auth: dict[str, str] | None = None,
                         on_progress: Callable[[PullProgress], None] | None = None) -> str:
        """Pull and return the image id; raises ImageNotFound / RuntimeCallError.
        `on_progress` is called on the event loop as layers finish (and about once a
        second while bytes arrive), so a long pull can be shown as it goes."""
        ...
    async def image_status(self, image: str) -> ImageInfo | None: ...
    async def list_images(self) -> list[ImageInfo]: ...
    async def remove_image(self, image: str) -> None: ...

    # -- events --
    def events(self) -> AsyncIterator[RuntimeEvent]: ...

    async def close(self) -> None: ...


class ExecSession(Protocol):
    """A running exec: stdin in, stdout/stderr out, the exit code at the end."""

    async def write(self, data: bytes) -> None: ...
    async def close_stdin(self) -> None: ...
    def output(self) -> AsyncIterator[tuple[str, bytes]]:
        """("stdout" | "stderr", data) until the process's output ends; with a TTY
        everything is "stdout"."""
        ...
    async def resize(self, width: int, height: int) -> None: ...
    async def wait(self) -> int:
        """The exit code, once the output has ended."""
        ...
    async def close(self) -> None: ...

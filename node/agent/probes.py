"""Container probes: running one (exec, httpGet, tcpSocket, grpc) and tracking results.

`run_probe` does the I/O of kubelet's prober (pkg/probe/{exec,http,tcp,grpc}) and
returns (success, output) with kubelet's output text, so that
`failure_event("Liveness", output)` is the Unhealthy event a user would see
under Kubernetes. `ProbeTracker` is kubelet's prober worker without the
goroutine: pure, clock passed in, applying initialDelaySeconds, periodSeconds
and the thresholds. `ContainerProbes` holds the three trackers of one
container and gates liveness and readiness on the startup probe.

HTTP is a small HTTP/1.1 GET over asyncio streams (no client library needed):
redirects to the same host are followed, as kubelet's client does; a redirect
elsewhere counts as success; HTTPS does not verify certificates, as kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from node.agent.podworker import Observed, ProbeResults
from node.runtime.interface import (
    ContainerState,
    ContainerStatus,
    ExecResult,
    Runtime,
    SandboxState,
)

STARTUP = "Startup"
LIVENESS = "Liveness"
READINESS = "Readiness"
PROBE_KINDS = (STARTUP, LIVENESS, READINESS)
SPEC_FIELD = {STARTUP: "startupProbe", LIVENESS: "livenessProbe", READINESS: "readinessProbe"}

USER_AGENT = "kube-probe/1.31"
MAX_OUTPUT = 10 * 1024
MAX_REDIRECTS = 10
_REDIRECTS = {301, 302, 303, 307, 308}

ExecFn = Callable[[list[str], float], Awaitable[ExecResult]]


def failure_event(kind: str, output: str) -> str:
    """The Unhealthy event's message: `Liveness probe failed: HTTP probe failed with ...`."""
    return f"{kind} probe failed: {output}"


def _go_duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _join_host_port(host: str, port: int) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def _dial_error(addr: str, host: str, err: OSError) -> str:
    """Go's net.OpError text for a failed dial."""
    if isinstance(err, socket.gaierror):
        return f"dial tcp: lookup {host}: no such host"
    if isinstance(err, TimeoutError):
        return f"dial tcp {addr}: i/o timeout"
    text = os.strerror(err.errno) if err.errno else (err.strerror or str(err))
    text = text[:1].lower() + text[1:]
    return f"dial tcp {addr}: connect: {text}"


def resolve_port(port: Any, container_ports: Mapping[str, int]) -> int:
    """probe.ResolveContainerPort: a number, a named container port, or a number as text."""
    if isinstance(port, str) and not port.isdigit():
        if port not in container_ports:
            raise ValueError(f"port {port} not found")
        value = int(container_ports[port])
    else:
        value = int(port)
    if not 0 < value < 65536:
        raise ValueError(f"invalid port number: {value}")
    return value


async def run_probe(probe: Mapping[str, Any], *, pod_ip: str, exec_fn: ExecFn,
                    container_ports: Mapping[str, int]) -> tuple[bool, str]:
    """Run one probe once: (success, kubelet's output text)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if probe.get("exec") is not None:
            return await _exec(list(probe["exec"].get("command") or []), timeout, exec_fn)
        if probe.get("httpGet") is not None:
            spec = probe["httpGet"]
            port = resolve_port(spec.get("port"), container_ports)
            headers = [(str(h["name"]), str(h.get("value", "")))
                       for h in spec.get("httpHeaders") or []]
            return await http_get(str(spec.get("scheme") or "HTTP"),
                                  str(spec.get("host") or pod_ip), port,
                                  str(spec.get("path") or "/"), headers, timeout)
        if probe.get("tcpSocket") is not None:
            spec = probe["tcpSocket"]
            port = resolve_port(spec.get("port"), container_ports)
            return await tcp_probe(str(spec.get("host") or pod_ip), port, timeout)
        if probe.get("grpc") is not None:
            spec = probe["grpc"]
            return await grpc_probe(pod_ip, int(spec["port"]), str(spec.get("service") or ""),
                                    timeout)
    except ValueError as e:
        return False, str(e)
    return False, "missing probe handler"


# ---- exec ----------------------------------------------------------------------------------


async def _exec(cmd: list[str], timeout: float, exec_fn: ExecFn) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(timeout + 1):
            result = await exec_fn(cmd, timeout)
    except TimeoutError:
        return False, f'command "{" ".join(cmd)}" timed out'
    except Exception as e:  # the runtime could not exec at all: a failed probe, not a crash
        return False, str(getattr(e, "message", "") or e)
    output = (result.stdout + result.stderr)[:MAX_OUTPUT].decode("utf-8", errors="replace")
    return result.exit_code == 0, output


# ---- tcpSocket -------------------------------------------------------------------------------


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    addr = _join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError as e:
        return False, _dial_error(addr, host, e)
    except OSError as e:
        return False, _dial_error(addr, host, e)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


# ---- httpGet ---------------------------------------------------------------------------------


async def http_get(scheme: str, host: str, port: int, path: str,
                   headers: list[tuple[str, str]], timeout: float) -> tuple[bool, str]:
    scheme = scheme.lower()
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{_join_host_port(host, port)}{path}"
    try:
        async with asyncio.timeout(timeout):
            for _ in range(MAX_REDIRECTS + 1):
                status, location = await _get_once(url, headers)
                if status not in _REDIRECTS or not location:
                    break
                target = urljoin(url, location)
                if urlsplit(target).hostname != urlsplit(url).hostname:
                    return True, "Probe terminated redirects"
                url = target
            else:
                return False, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects'
    except TimeoutError:
        return False, (f'Get "{url}": context deadline exceeded '
                       f"(Client.Timeout exceeded while awaiting headers)")
    except _Malformed as e:
        return False, f'Get "{url}": {e}'
    except OSError as e:
        parts = urlsplit(url)
        addr = _join_host_port(parts.hostname or host, parts.port or port)
        return False, f'Get "{url}": {_dial_error(addr, parts.hostname or host, e)}'
    if 200 <= status < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {status}"


class _Malformed(Exception):
    pass


async def _get_once(url: str, headers: list[tuple[str, str]]) -> tuple[int, str]:
    """One GET; (status code, Location header). The body is not needed to judge."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ctx: ssl.SSLContext | None = None
    if parts.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        given = {k.lower(): v for k, v in headers}
        lines = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                 f"Host: {given.get('host', parts.netloc)}"]
        if "user-agent" not in given:
            lines.append(f"User-Agent: {USER_AGENT}")
        if "accept" not in given:
            lines.append("Accept: */*")
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("host", "connection")]
        lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").strip()
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise _Malformed("malformed HTTP response " + repr(status_line))
        location = ""
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "location":
                location = value.strip()
        return int(fields[1]), location
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


# ---- grpc ------------------------------------------------------------------------------------


async def grpc_probe(host: str, port: int, service: str, timeout: float) -> tuple[bool, str]:
    """grpc.health.v1.Health/Check, insecure, as kubelet's gRPC prober."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    addr = _join_host_port(host, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with grpc.aio.insecure_channel(addr) as channel:
        try:
            async with asyncio.timeout(timeout):
                await channel.channel_ready()
        except TimeoutError:
            return False, (f'timeout: failed to connect service "{addr}" within '
                           f"{_go_duration(timeout)}: context deadline exceeded")
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = await stub.Check(health_pb2.HealthCheckRequest(service=service),
                                    timeout=max(deadline - loop.time(), 0.001))
        except grpc.aio.AioRpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return False, ("error: this server does not implement the grpc health protocol "
                               f"(grpc.health.v1.Health): {e.details()}")
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"timeout: health rpc did not complete within {_go_duration(timeout)}"
            return False, (f"error: health rpc probe failed: rpc error: code = "
                           f"{_go_code(e.code())} desc = {e.details()}")
    if resp.status != health_pb2.HealthCheckResponse.SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        return False, f'service unhealthy (responded with "{name}")'
    return True, "service healthy"


def _go_code(code: Any) -> str:
    """grpc-go spells codes in CamelCase: NotFound, Unavailable."""
    return "".join(w.capitalize() for w in str(code.name).split("_"))


# ---- results over time -----------------------------------------------------------------------


@dataclass
class ProbeTracker:
    """One probe of one container instance, as kubelet's prober worker keeps it.

    `result` is None until a threshold is reached (kubelet's initial values are the
    caller's reading of None: not ready, alive, not started). After liveness or
    startup fails, the tracker holds: nothing is probed until a new container (a new
    tracker), as kubelet's onHold avoids exec'ing into a dying container.
    """

    probe: Mapping[str, Any]
    kind: str
    started_at: float
    result: bool | None = None
    on_hold: bool = False
    last_probe: float | None = None
    _last_ok: bool | None = None
    _run: int = 0

    @property
    def initial_delay(self) -> float:
        return float(self.probe.get("initialDelaySeconds") or 0)

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds") or 10)

    @property
    def timeout(self) -> float:
        return float(self.probe.get("timeoutSeconds") or 1)

    @property
    def success_threshold(self) -> int:
        return int(self.probe.get("successThreshold") or 1)

    @property
    def failure_threshold(self) -> int:
        return int(self.probe.get("failureThreshold") or 3)

    def due(self, now: float, *, started: bool = True) -> bool:
        """Whether to probe at `now`; `started` is whether the container passed its
        startup probe (liveness and readiness wait for it)."""
        if self.on_hold:
            return False
        if self.kind == STARTUP:
            if self.result is True:
                return False
        elif not started:
            return False
        if now - self.started_at < self.initial_delay:
            return False
        return self.last_probe is None or now - self.last_probe >= self.period

    def next_due(self) -> float:
        """When the next probe is due, if the gates are open."""
        first = self.started_at + self.initial_delay
        if self.last_probe is None:
            return first
        return max(first, self.last_probe + self.period)

    def record(self, ok: bool, now: float) -> bool:
        """Apply one probe's outcome (`now` = when it started); True if `result` changed."""
        self.last_probe = now
        if ok == self._last_ok:
            self._run += 1
        else:
            self._last_ok, self._run = ok, 1
        threshold = self.success_threshold if ok else self.failure_threshold
        if self._run < threshold:
            return False
        changed = self.result != ok
        self.result = ok
        if not ok and self.kind in (LIVENESS, STARTUP):
            self.on_hold, self._run = True, 0
        return changed


@dataclass
class ContainerProbes:
    """The probes of one container instance (one container id)."""

    container_id: str
    trackers: dict[str, ProbeTracker] = field(default_factory=dict)

    @classmethod
    def for_container(cls, container: Mapping[str, Any], container_id: str,
                      started_at: float) -> ContainerProbes:
        trackers = {kind: ProbeTracker(container[SPEC_FIELD[kind]], kind, started_at)
                    for kind in PROBE_KINDS if container.get(SPEC_FIELD[kind])}
        return cls(container_id, trackers)

    @property
    def started(self) -> bool:
        startup = self.trackers.get(STARTUP)
        return startup is None or startup.result is True

    @property
    def ready(self) -> bool:
        readiness = self.trackers.get(READINESS)
        return self.started and (readiness is None or readiness.result is True)

    @property
    def failed(self) -> str | None:
        """The probe kind (Liveness or Startup) whose failure means a restart, if any."""
        for kind in (STARTUP, LIVENESS):
            t = self.trackers.get(kind)
            if t is not None and t.result is False:
                return kind
        return None

    def due(self, now: float) -> list[ProbeTracker]:
        started = self.started
        return [t for t in self.trackers.values() if t.due(now, started=started)]

    def next_due(self) -> float | None:
        started = self.started
        times = [t.next_due() for t in self.trackers.values()
                 if not t.on_hold and ((t.kind == STARTUP and t.result is not True)
                                       or (t.kind != STARTUP and started))]
        return min(times) if times else None


# ---- the agent's probe loop ------------------------------------------------------------------


@dataclass
class _PodProbes:
    pod: dict[str, Any]
    pod_ip: str = ""
    containers: dict[str, ContainerProbes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class ProbeManager:
    """Runs the probes of every pod on the node, one task per pod with probes.

    `track` (after each sync) says which container instances run; `results` is what
    the pod worker and status read; `on_change(uid)` wakes the pod's worker when a
    result flips, and `on_event(pod, type, reason, message)` records Unhealthy events.
    """

    def __init__(self, runtime: Runtime, *, on_change: Callable[[str], None],
                 on_event: Callable[[dict[str, Any], str, str, str], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.runtime = runtime
        self.on_change = on_change
        self.on_event = on_event
        self.clock = clock or time.time
        self.pods: dict[str, _PodProbes] = {}

    def results(self, uid: str) -> ProbeResults:
        state = self.pods.get(uid)
        if state is None:
            return ProbeResults()
        ready: dict[str, bool] = {}
        started: dict[str, bool] = {}
        failed: set[str] = set()
        for name, cp in state.containers.items():
            readiness = cp.trackers.get(READINESS)
            if readiness is not None and readiness.result is not None and cp.started:
                ready[name] = readiness.result
            if STARTUP in cp.trackers:
                started[name] = cp.started
            if cp.failed is not None:
                failed.add(name)
        return ProbeResults(ready=ready, live_failed=frozenset(failed), started=started)

    def track(self, pod: dict[str, Any], observed: Observed) -> None:
        """Follow the running instance of each probed container (a new id = new trackers)."""
        uid = str(pod["metadata"]["uid"])
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []
                 if any(c.get(f) for f in SPEC_FIELD.values())}
        if not specs or (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.forget(uid)
            return
        state = self.pods.get(uid)
        if state is None:
            state = self.pods[uid] = _PodProbes(pod)
        state.pod = pod
        ready_sandboxes = [s for s in observed.sandboxes if s.state == SandboxState.READY]
        if ready_sandboxes:
            state.pod_ip = max(ready_sandboxes, key=lambda s: s.attempt).ip
        running: dict[str, ContainerStatus] = {}
        for c in observed.containers:
            if c.name in specs and c.state == ContainerState.RUNNING and (
                    c.name not in running or c.attempt > running[c.name].attempt):
                running[c.name] = c
        changed = False
        for name in list(state.containers):
            if name not in running or running[name].id != state.containers[name].container_id:
                del state.containers[name]
                changed = True
        for name, c in running.items():
            if name not in state.containers:
                state.containers[name] = ContainerProbes.for_container(
                    specs[name], c.id, c.started_at or self.clock())
                changed = True
        if state.task is None:
            state.task = asyncio.create_task(self._loop(uid, state), name=f"probes-{uid}")
        if changed:
            state.wake.set()

    def forget(self, uid: str) -> None:
        state = self.pods.pop(uid, None)
        if state is not None and state.task is not None:
            state.task.cancel()

    async def stop(self) -> None:
        tasks = [s.task for s in self.pods.values() if s.task is not None]
        self.pods.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    async def _loop(self, uid: str, state: _PodProbes) -> None:
        while True:
            now = self.clock()
            work = [(name, cp, t) for name, cp in list(state.containers.items())
                    for t in cp.due(now)]
            if work:
                outcomes = await asyncio.gather(*(self._probe(state, name, cp, t)
                                                  for name, cp, t in work))
                flipped = False
                for (_name, cp, t), (ok, output) in zip(work, outcomes, strict=True):
                    if state.containers.get(_name) is not cp:
                        continue  # the container was replaced while probing
                    if not ok and self.on_event is not None:
                        self.on_event(state.pod, "Warning", "Unhealthy",
                                      failure_event(t.kind, output))
                    flipped |= t.record(ok, now)
                if flipped:
                    self.on_change(uid)
                continue
            times = [when for cp in state.containers.values()
                     if (when := cp.next_due()) is not None]
            delay = max(0.05, min(times) - self.clock()) if times else 10.0
            state.wake.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
            # that lands as the event fires, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(delay, 10.0)):
                    await state.wake.wait()

    async def _probe(self, state: _PodProbes, name: str, cp: ContainerProbes,
                     tracker: ProbeTracker) -> tuple[bool, str]:
        containers = (state.pod.get("spec") or {}).get("containers") or []
        spec: dict[str, Any] = next((c for c in containers if c["name"] == name), {})
        ports = {str(p["name"]): int(p["containerPort"]) for p in spec.get("ports") or []
                 if p.get("name")}

        async def exec_fn(cmd: list[str], timeout: float) -> ExecResult:
            result: ExecResult = await self.runtime.exec_sync(cp.container_id, cmd, timeout)
            return result

        return await run_probe(tracker.probe, pod_ip=state.pod_ip, exec_fn=exec_fn,
                               container_ports=ports)

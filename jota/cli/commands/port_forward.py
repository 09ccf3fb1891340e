"""`jota port-forward (POD | TYPE/NAME) [LOCAL:]REMOTE ...`: local ports into a pod.

As kubectl port-forward: each local port listens on --address (localhost: 127.0.0.1
and ::1), prints `Forwarding from 127.0.0.1:8080 -> 80`, and every connection
accepted there becomes one stream through the apiserver to the pod's port
(`Handling connection for 8080`), until interrupted. A remote port may be a
container port's name; for a Service, its port is translated to the pod's
target port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from dataclasses import dataclass

from jota.api.meta import Obj, name_of
from jota.cli.commands._common import add_positionals
from jota.cli.commands._pods import attachable_pod, split_name
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags
from jota.client import streams

USAGE = ("TYPE/NAME and list of ports are required for port-forward\n"
         "See 'jota port-forward -h' for help and examples")
CHUNK = 32 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("port-forward", help="Forward one or more local ports to a pod")
    add_positionals(p, "words", "(POD | TYPE/NAME) [LOCAL_PORT:]REMOTE_PORT ...")
    add_namespace_flags(p, all_namespaces=False)
    p.add_argument("--address", default="localhost",
                   help="addresses to listen on (comma-separated); localhost means "
                        "127.0.0.1 and ::1")
    p.set_defaults(run=run)


@dataclass(frozen=True)
class PortSpec:
    local: int  # 0: any free port
    remote: str  # a number or a container port's name


def parse_ports(specs: list[str]) -> list[PortSpec]:
    """`8080:80`, `80` (same port locally), `:80` (a random local port)."""
    result = []
    for spec in specs:
        local, sep, remote = spec.partition(":")
        if not sep:
            local, remote = spec, spec
        if not remote:
            raise UsageError(f"invalid port format '{spec}'")
        if local and not (local.isdigit() and 0 < int(local) < 65536):
            raise UsageError(f"error parsing local port '{local}': must be 1-65535")
        if remote.isdigit() and not 0 < int(remote) < 65536:
            raise UsageError(f"error parsing remote port '{remote}': must be 1-65535")
        result.append(PortSpec(int(local) if local.isdigit() else 0, remote))
    return result


def container_port(pod: Obj, remote: str) -> int:
    """A remote port as a number: as given, or the container port of that name."""
    if remote.isdigit():
        return int(remote)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == remote:
                return int(p["containerPort"])
    raise UsageError(f"Pod '{name_of(pod)}' does not have a named port '{remote}'")


def service_target(service: Obj, pod: Obj, port: str) -> str:
    """A Service port as the pod's port it targets (kubectl's translateServicePortToTargetPort)."""
    for p in (service.get("spec") or {}).get("ports") or []:
        if str(p.get("port")) == port or p.get("name") == port:
            target = p.get("targetPort", p.get("port"))
            return str(container_port(pod, str(target)))
    raise UsageError(f"Service {name_of(service)} does not have a service port {port}")


def listen_hosts(address: str) -> list[str]:
    hosts: list[str] = []
    for a in filter(None, (x.strip() for x in address.split(","))):
        hosts.extend(["127.0.0.1", "::1"] if a == "localhost" else [a])
    return hosts


def shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def run(ctx: Context, args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    if len(words) < 2:
        raise UsageError(USAGE)
    specs = parse_ports(words[1:])
    pod = await attachable_pod(ctx, words[0])
    rt, name = split_name(words[0])
    if rt.plural == "services":
        service = await ctx.client.get("services", name, ctx.namespace)
        specs = [PortSpec(s.local, service_target(service, pod, s.remote)) for s in specs]
    phase = (pod.get("status") or {}).get("phase", "")
    if phase != "Running":
        raise UsageError(f"unable to forward port because pod is not running. Current "
                         f"status={phase}")
    servers: list[asyncio.Server] = []
    try:
        for spec in specs:
            remote = container_port(pod, spec.remote)
            servers.extend(await _listen(ctx, name_of(pod), spec.local, remote,
                                         listen_hosts(args.address)))
        await _until_interrupted()
    finally:
        for server in servers:
            server.close()
    return 0


async def _listen(ctx: Context, pod: str, local: int, remote: int, hosts: list[str]
                  ) -> list[asyncio.Server]:
    servers: list[asyncio.Server] = []
    failures: list[str] = []
    bound = [local]  # a random port (0) is the first listener's, for every address

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _forward(ctx, pod, bound[0], remote, reader, writer)

    for host in hosts:
        family = "tcp6" if ":" in host else "tcp4"
        try:
            server = await asyncio.start_server(handle, host, bound[0])
        except OSError as e:
            failures.append(f"unable to create listener: Error listen {family} {shown(host)}:"
                            f"{bound[0]}: bind: {(e.strerror or str(e)).lower()}")
            continue
        bound[0] = bound[0] or server.sockets[0].getsockname()[1]
        servers.append(server)
        ctx.print(f"Forwarding from {shown(host)}:{bound[0]} -> {remote}")
    if not servers:
        ctx.warn(f"Unable to listen on port {local}: Listeners failed to create with the "
                 f"following errors: [{' '.join(failures)}]")
        raise UsageError(f"unable to listen on any of the requested ports: "
                         f"[{{{local} {remote}}}]")
    return servers


async def _until_interrupted() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _forward(ctx: Context, pod: str, local: int, remote: int,
                   reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One accepted connection, piped both ways through its own stream."""
    ctx.print(f"Handling connection for {local}")
    stream: streams.PortForwardStream | None = None
    try:
        stream = await streams.port_forward(ctx.client, ctx.namespace, pod, remote)
        await asyncio.gather(_upstream(reader, stream), _downstream(stream, writer))
    except Exception as e:
        ctx.warn(f"E0000 portforward.go] an error occurred forwarding {local} -> {remote}: "
                 f"{getattr(e, 'message', e)}")
    finally:
        if stream is not None:
            stream.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _upstream(reader: asyncio.StreamReader, stream: streams.PortForwardStream) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            await stream.write(data)
    await stream.close_write()


async def _downstream(stream: streams.PortForwardStream, writer: asyncio.StreamWriter) -> None:
    while data := await stream.read():
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()

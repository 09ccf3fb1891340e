"""securityContext, hostNetwork and hostPID as the container itself sees them.

Each pod prints what the kernel says about its own process (ids, capability and
no_new_privs lines of /proc/self/status, whether / is writable), read back from the
Docker engine's logs. Privileged mode cannot run on this machine (it lacks
CAP_SYS_RESOURCE); its mapping to Docker is covered by the unit tests.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from jota.client.client import Client
from tests.integration.node_helpers import (
    container,
    container_status,
    docker_id,
    docker_logs,
    eventually,
    pod,
    status_of,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")

REPORT = ('echo "uid=$(id -u) gid=$(id -g)"; grep -E "^(CapEff|NoNewPrivs):" /proc/self/status; '
          'if touch /probe 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi; '
          'echo done; sleep 3600')


async def report(client: Client, name: str, namespace: str) -> dict[str, str]:
    """The pod's printed `key=value` and `Key:\\tvalue` lines, once it has printed them."""
    await wait_running(client, name, namespace)
    cid = docker_id(await container_status(client, name, namespace))

    async def printed() -> str | None:
        text = docker_logs(cid)
        return text if "done" in text else None

    text = await eventually(printed, what=f"{name}'s report")
    found: dict[str, str] = {}
    for line in text.split():
        if "=" in line:
            key, value = line.split("=", 1)
            found[key] = value
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            found[key] = value.strip()
    return found


async def test_user_group_readonly_rootfs_and_dropped_capabilities(client: Client,
                                                                   namespace: str) -> None:
    security = {"runAsUser": 1000, "runAsGroup": 3000, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    await client.create("pods", pod("locked", container("main", "sh", "-c", REPORT,
                                                        securityContext=security)),
                        namespace)
    seen = await report(client, "locked", namespace)
    assert (seen["uid"], seen["gid"]) == ("1000", "3000")
    assert seen["rootfs"] == "ro"
    assert seen["NoNewPrivs"] == "1"
    assert int(seen["CapEff"], 16) == 0


async def test_pod_level_user_and_an_added_capability(client: Client, namespace: str) -> None:
    cap_net_admin = 1 << 12
    await client.create("pods", pod(
        "netadmin", container("main", "sh", "-c", REPORT, securityContext={
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}, "runAsUser": 0}),
        securityContext={"runAsUser": 2000, "runAsGroup": 2000}), namespace)
    seen = await report(client, "netadmin", namespace)
    # The container's own runAsUser wins over the pod's; the pod's group still applies.
    assert (seen["uid"], seen["gid"]) == ("0", "2000")
    assert int(seen["CapEff"], 16) == cap_net_admin
    assert seen["rootfs"] == "rw"
    assert seen["NoNewPrivs"] == "0"


async def test_run_as_non_root_refuses_a_root_image(client: Client, namespace: str) -> None:
    await client.create("pods", pod("rooted", container(
        "main", "sleep", "3600", securityContext={"runAsNonRoot": True})), namespace)

    async def refused() -> dict[str, str] | None:
        waiting = (await container_status(client, "rooted", namespace)) \
            .get("state", {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await eventually(refused, what="CreateContainerConfigError")
    assert waiting["message"].startswith("container has runAsNonRoot and image will run as root")


async def test_host_network_shares_the_nodes_loopback(client: Client, namespace: str) -> None:
    # A listener on the node's own 127.0.0.1: only a pod in the host's network namespace
    # can reach it.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.setblocking(False)
    loop = asyncio.get_running_loop()

    async def greet() -> None:
        conn, _ = await loop.sock_accept(server)
        with conn:
            await loop.sock_sendall(conn, b"hello from the node\n")

    greeter = asyncio.create_task(greet())
    try:
        await client.create("pods", pod("hostnet", container(
            "main", "sh", "-c", f"nc 127.0.0.1 {port}; echo done; sleep 3600"),
            hostNetwork=True), namespace)
        await wait_running(client, "hostnet", namespace)
        await asyncio.wait_for(greeter, 90)
        status = await status_of(client, "hostnet", namespace)
        assert status["podIP"] == status["hostIP"]
        cid = docker_id(await container_status(client, "hostnet", namespace))

        async def printed() -> str | None:
            text = docker_logs(cid)
            return text if "done" in text else None

        assert "hello from the node" in await eventually(printed, what="the greeting")
    finally:
        greeter.cancel()
        server.close()


async def test_host_pid_sees_the_nodes_processes(client: Client, namespace: str) -> None:
    mine = os.getpid()
    script = (f'if [ -d /proc/{mine} ]; then echo seen=yes; else echo seen=no; fi; '
              'echo done; sleep 3600')
    for name, host_pid in (("hostpid", True), ("ownpid", False)):
        await client.create("pods", pod(name, container("main", "sh", "-c", script),
                                        hostPID=host_pid), namespace)
    seen = await report(client, "hostpid", namespace)
    own = await report(client, "ownpid", namespace)
    assert (seen["seen"], own["seen"]) == ("yes", "no")

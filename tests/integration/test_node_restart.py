"""Restarting jota-node: Docker is the record, so running containers are adopted.

The test runs its own agent (own node name and root dir) beside the session's,
on the same Docker engine and apiserver, so that stopping it leaves the other
tests' node alone.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jota.client.client import Client
from jota.local.processes import Daemon, start_node_agent
from tests.integration.node_helpers import (
    container,
    container_status,
    docker_id,
    eventually,
    get,
    gone,
    pod,
    pod_containers,
    wait_running,
)


async def test_restarted_agent_adopts_containers_and_cleans_up_deleted_pods(
        client: Client, namespace: str, apiserver: Daemon, node_agent: Daemon,
        tmp_path: Path):
    node = f"restart-{uuid.uuid4().hex[:6]}"

    def start() -> Daemon:
        return start_node_agent(apiserver.address, tmp_path, node_name=node,
                                root_dir=tmp_path / "root", extra_args=["--v", "debug"])

    agent = start()
    try:
        for name in ("keep", "force", "graceful"):
            await client.create("pods", pod(name, container("main", "sleep", "3600"),
                                            node=node), namespace)
        for name in ("keep", "force", "graceful"):
            await wait_running(client, name, namespace)
        before = await container_status(client, "keep", namespace)
        uids = {name: (await client.get("pods", name, namespace))["metadata"]["uid"]
                for name in ("keep", "force", "graceful")}
        kept = {c.id for c in pod_containers(uids["keep"])}
        assert len(kept) == 2  # the sandbox and the container

        agent.stop(timeout=30)
        assert agent.proc.returncode == 0
        assert {c.id for c in pod_containers(uids["keep"])} == kept, "stopping stops no pod"
        await client.delete("pods", "force", namespace, grace_period_seconds=0)
        assert await gone(client, "force", namespace)
        await client.delete("pods", "graceful", namespace)
        marked: Any = await get(client, "pods", "graceful", namespace)
        assert marked["metadata"]["deletionTimestamp"], "no agent is there to finish it"

        agent = start()
        await eventually(lambda: _no_containers(uids["force"]), timeout=60,
                         what="the force-deleted pod's containers removed")
        await eventually(lambda: gone(client, "graceful", namespace), timeout=60,
                         what="the gracefully deleted pod finished")
        assert pod_containers(uids["graceful"]) == []
        await wait_running(client, "keep", namespace)
        after = await container_status(client, "keep", namespace)
        assert docker_id(after) == docker_id(before) and after["restartCount"] == 0
        assert {c.id for c in pod_containers(uids["keep"])} == kept
        assert after["state"] == before["state"]  # same startedAt: never restarted

        await client.delete("pods", "keep", namespace)
        await eventually(lambda: gone(client, "keep", namespace), timeout=60,
                         what="the adopted pod deleted")
        assert pod_containers(uids["keep"]) == []
    finally:
        agent.stop(timeout=30)
        with_traceback = "Traceback" in agent.log.read_text()
        await _delete_node(client, node)
    assert not with_traceback, agent.log.read_text()[-4000:]


async def _no_containers(uid: str) -> bool:
    return pod_containers(uid) == []


async def _delete_node(client: Client, node: str) -> None:
    if await get(client, "nodes", node) is not None:
        await client.delete("nodes", node)

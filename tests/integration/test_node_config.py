"""Env and configMap/secret volumes as a container sees them, and their updates."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from jota.client.client import Client
from tests.integration.node_helpers import (
    container,
    container_status,
    docker_id,
    docker_logs,
    events_for,
    eventually,
    pod,
    status_of,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


async def test_env_and_volumes_hold_the_right_values(client: Client, namespace: str):
    await client.create("configmaps", configmap("settings", color="blue", size="L"), namespace)
    await client.create("secrets", secret("creds", password="s3cret"), namespace)
    env = [
        {"name": "PLAIN", "value": "hello"},
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "settings",
                                                            "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds",
                                                            "key": "password"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "GREETING", "value": "$(PLAIN) from $(POD_NAME)"},
    ]
    script = ('echo "PLAIN=$PLAIN"; echo "COLOR=$COLOR"; echo "PASSWORD=$PASSWORD"; '
              'echo "POD_NAME=$POD_NAME"; echo "POD_IP=$POD_IP"; echo "GREETING=$GREETING"; '
              'echo "CM_SIZE=$(cat /etc/settings/size)"; '
              'echo "SECRET=$(cat /etc/creds/password)"; sleep 3600')
    mounts = [{"name": "settings", "mountPath": "/etc/settings"},
              {"name": "creds", "mountPath": "/etc/creds"}]
    volumes = [{"name": "settings", "configMap": {"name": "settings"}},
               {"name": "creds", "secret": {"secretName": "creds"}}]
    await client.create("pods", pod("envs", container("main", "sh", "-c", script, env=env,
                                                      volumeMounts=mounts),
                                    volumes=volumes), namespace)
    await wait_running(client, "envs", namespace)
    status = await status_of(client, "envs", namespace)
    cid = docker_id(status["containerStatuses"][0])

    async def printed() -> dict[str, str] | None:
        lines = docker_logs(cid).splitlines()
        if len(lines) < 8:
            return None
        return dict(line.split("=", 1) for line in lines)

    values = await eventually(printed, timeout=30, what="the container's output")
    assert values == {"PLAIN": "hello", "COLOR": "blue", "PASSWORD": "s3cret",
                      "POD_NAME": "envs", "POD_IP": status["podIP"],
                      "GREETING": "hello from envs", "CM_SIZE": "L", "SECRET": "s3cret"}


async def test_configmap_update_reaches_the_mounted_file(client: Client, namespace: str):
    await client.create("configmaps", configmap("live", mode="first"), namespace)
    # The readiness probe reads the file: Ready flips once the new value is there.
    probe = {"exec": {"command": ["grep", "-q", "second", "/etc/live/mode"]},
             "periodSeconds": 1}
    spec = pod("watcher", container("main", "sleep", "3600", readinessProbe=probe,
                                    volumeMounts=[{"name": "live", "mountPath": "/etc/live"}]),
               volumes=[{"name": "live", "configMap": {"name": "live"}}])
    await client.create("pods", spec, namespace)

    async def running_unready() -> bool:
        cs = await container_status(client, "watcher", namespace)
        return "running" in cs.get("state", {}) and cs.get("ready") is False

    await eventually(running_unready, what="running with the first value")
    before = await container_status(client, "watcher", namespace)
    cm = await client.get("configmaps", "live", namespace)
    cm["data"]["mode"] = "second"
    await client.update("configmaps", cm, namespace)
    await wait_running(client, "watcher", namespace, timeout=60)
    after = await container_status(client, "watcher", namespace)
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0


async def test_missing_configmap_is_a_config_error_until_it_exists(client: Client,
                                                                   namespace: str):
    env = [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "later",
                                                              "key": "mode"}}}]
    await client.create("pods", pod("waits", container("main", "sleep", "3600", env=env)),
                        namespace)
    await client.create("pods", pod("other", container("main", "sleep", "3600")), namespace)

    async def config_error() -> dict[str, Any] | None:
        cs = await container_status(client, "waits", namespace)
        waiting = cs.get("state", {}).get("waiting", {})
        return cs if waiting.get("reason") == "CreateContainerConfigError" else None

    cs = await eventually(config_error, what="CreateContainerConfigError")
    assert cs["state"]["waiting"]["message"] == 'configmap "later" not found'
    status = await status_of(client, "waits", namespace)
    assert status["phase"] == "Pending"
    await wait_running(client, "other", namespace)

    async def failed_event() -> bool:
        return any(e["reason"] == "Failed" and e["message"] == 'Error: configmap "later" not found'
                   for e in await events_for(client, "waits", namespace))

    await eventually(failed_event, timeout=30, what="the Failed event")
    await client.create("configmaps", configmap("later", mode="on"), namespace)
    await wait_running(client, "waits", namespace, timeout=60)


async def test_missing_configmap_volume_waits_in_container_creating(client: Client,
                                                                    namespace: str):
    spec = pod("mountwait", container("main", "sleep", "3600",
                                      volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}]),
               volumes=[{"name": "cfg", "configMap": {"name": "absent"}}])
    await client.create("pods", spec, namespace)

    async def failed_mount() -> list[dict[str, Any]]:
        return [e for e in await events_for(client, "mountwait", namespace)
                if e["reason"] == "FailedMount"]

    events = await eventually(failed_mount, what="a FailedMount event")
    assert events[0]["message"] == \
        'MountVolume.SetUp failed for volume "cfg" : configmap "absent" not found'

    async def creating() -> bool:
        cs = await container_status(client, "mountwait", namespace)
        return cs.get("state") == {"waiting": {"reason": "ContainerCreating"}}

    await eventually(creating, timeout=30, what="ContainerCreating")
    assert (await status_of(client, "mountwait", namespace))["phase"] == "Pending"
    await client.create("configmaps", configmap("absent", a="1"), namespace)
    await wait_running(client, "mountwait", namespace, timeout=60)

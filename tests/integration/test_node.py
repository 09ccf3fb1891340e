"""jota-node runs pods in Docker: real etcd, apiserver, dockerd and agent.

There is no scheduler yet (issue C): pods name their node in spec.nodeName.
This file: registration, running pods, crash backoff, deletion, restart policies
and init containers. Probes, config, lifecycle and adoption have files of their own.
"""

from __future__ import annotations

from typing import Any

import pytest

from jota.client.client import Client
from tests.integration.conftest import NODE
from tests.integration.node_helpers import (
    container,
    container_status,
    docker_id,
    docker_logs,
    events_for,
    eventually,
    get,
    gone,
    phase_and_ready,
    pod,
    pod_containers,
    status_of,
    wait_phase,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")


async def test_node_registers_with_capacity_and_lease(client: Client):
    node = await eventually(lambda: get(client, "nodes", NODE), what="node registered")
    status = node["status"]
    assert status["capacity"]["pods"] == "110"
    assert status["addresses"][0] == {"type": "InternalIP", "address": "127.0.0.1"}
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("docker://")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    lease = await eventually(lambda: get(client, "leases", NODE, "kube-node-lease"),
                             what="lease")
    assert lease["spec"]["holderIdentity"] == NODE


async def test_a_pod_runs_and_shows_running(client: Client, namespace: str):
    await client.create("pods", pod("one", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "one", namespace)
    status = await status_of(client, "one", namespace)
    assert status["podIP"] and status["hostIP"] == "127.0.0.1" and status["startTime"]
    cs = status["containerStatuses"][0]
    assert cs["containerID"].startswith("docker://") and "running" in cs["state"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "PodReadyToStartContainers": "True", "PodScheduled": "True", "Initialized": "True",
        "ContainersReady": "True", "Ready": "True"}

    async def kubelet_events() -> bool:
        seen = {(e["reason"], e["message"]) for e in await events_for(client, "one", namespace)}
        return {("Pulled", 'Container image "jota/busybox:latest" already present on machine'),
                ("Created", "Created container main"),
                ("Started", "Started container main")} <= seen

    await eventually(kubelet_events, timeout=30, what="Pulled, Created and Started events")


async def test_two_containers_share_localhost(client: Client, namespace: str):
    web = container("web", "httpd", "-f", "-p", "8080", "-h", "/www")
    probe = container("client", "sh", "-c",
                      "while ! wget -q -O /tmp/got http://127.0.0.1:8080/; do sleep 1; done;"
                      " touch /tmp/ok; sleep 3600",
                      readinessProbe={"exec": {"command": ["cat", "/tmp/ok"]},
                                      "periodSeconds": 1})
    await client.create("pods", pod("pair", web, probe), namespace)

    async def both_ready() -> bool:
        phase, ready = await phase_and_ready(client, "pair", namespace)
        return phase == "Running" and ready == [True, True]

    await eventually(both_ready, what="pod Running 2/2")


async def test_crashing_container_backs_off(client: Client, namespace: str):
    await client.create("pods", pod("crash", container("main", "sh", "-c", "exit 3")),
                        namespace)

    async def crashlooping() -> Any:
        cs = await container_status(client, "crash", namespace)
        waiting = cs.get("state", {}).get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff" and cs["restartCount"] >= 1:
            return cs
        return None

    cs = await eventually(crashlooping, what="CrashLoopBackOff")
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off 10s restarting failed container=main pod=crash_" in \
        cs["state"]["waiting"]["message"]

    async def backoff_event() -> bool:
        return any(e["reason"] == "BackOff" and e["type"] == "Warning" and e["message"].startswith(
            f"Back-off restarting failed container main in pod crash_{namespace}(")
            for e in await events_for(client, "crash", namespace))

    await eventually(backoff_event, timeout=30, what="the BackOff event")


async def test_deleting_a_pod_stops_its_containers(client: Client, namespace: str):
    await client.create("pods", pod("bye", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "bye", namespace)
    uid = (await client.get("pods", "bye", namespace))["metadata"]["uid"]
    await client.delete("pods", "bye", namespace)
    await eventually(lambda: gone(client, "bye", namespace), what="pod deleted", timeout=60)
    assert pod_containers(uid) == []


# ---- restart policies --------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "code", "phase", "reason"), [
    ("Never", 0, "Succeeded", "Completed"),
    ("Never", 1, "Failed", "Error"),
    ("OnFailure", 0, "Succeeded", "Completed"),
])
async def test_restart_policy_outcomes(client: Client, namespace: str, policy: str, code: int,
                                       phase: str, reason: str):
    name = f"once-{policy.lower()}-{code}"
    await client.create("pods", pod(name, container("main", "sh", "-c", f"exit {code}"),
                                    restartPolicy=policy), namespace)
    status = await wait_phase(client, name, namespace, "Succeeded", "Failed")
    assert status["phase"] == phase
    cs = status["containerStatuses"][0]
    assert cs["state"]["terminated"]["exitCode"] == code
    assert cs["state"]["terminated"]["reason"] == reason
    assert cs["restartCount"] == 0 and cs["ready"] is False
    ready = {c["type"]: c for c in status["conditions"]}["Ready"]
    assert ready["status"] == "False"
    assert ready["reason"] == ("PodCompleted" if phase == "Succeeded" else "PodFailed")


async def test_on_failure_restarts_until_success(client: Client, namespace: str):
    # Fails on its first run, succeeds on the second: the emptyDir survives the restart.
    script = "if [ -e /data/ran ]; then exit 0; fi; touch /data/ran; exit 2"
    spec = pod("retry", container("main", "sh", "-c", script,
                                  volumeMounts=[{"name": "data", "mountPath": "/data"}]),
               restartPolicy="OnFailure", volumes=[{"name": "data", "emptyDir": {}}])
    await client.create("pods", spec, namespace)
    status = await wait_phase(client, "retry", namespace, "Succeeded", "Failed")
    assert status["phase"] == "Succeeded"
    cs = status["containerStatuses"][0]
    assert cs["restartCount"] == 1
    assert cs["state"]["terminated"]["reason"] == "Completed"
    assert cs["lastState"]["terminated"]["exitCode"] == 2


async def test_init_containers_run_in_order_before_the_app(client: Client, namespace: str):
    mount = [{"name": "work", "mountPath": "/work"}]
    inits = [container("first", "sh", "-c", "sleep 1; echo first >> /work/order",
                       volumeMounts=mount),
             container("second", "sh", "-c", "echo second >> /work/order",
                       volumeMounts=mount)]
    app = container("app", "sh", "-c", "cat /work/order; sleep 3600", volumeMounts=mount)
    await client.create("pods", pod("inits", app, initContainers=inits,
                                    volumes=[{"name": "work", "emptyDir": {}}]), namespace)
    await wait_running(client, "inits", namespace)
    status = await status_of(client, "inits", namespace)
    for init in status["initContainerStatuses"]:
        assert init["state"]["terminated"]["reason"] == "Completed", init
        assert init["ready"] is True
    assert {c["type"]: c["status"] for c in status["conditions"]}["Initialized"] == "True"
    cid = docker_id(status["containerStatuses"][0])
    await eventually(lambda: _printed(cid, "first\nsecond\n"), timeout=30, what="app output")


async def _printed(cid: str, text: str) -> bool:
    return docker_logs(cid) == text


async def test_failed_init_container_with_restart_never_fails_the_pod(client: Client,
                                                                      namespace: str):
    inits = [container("setup", "sh", "-c", "exit 7")]
    await client.create("pods", pod("badinit", container("app", "sleep", "3600"),
                                    initContainers=inits, restartPolicy="Never"), namespace)
    status = await wait_phase(client, "badinit", namespace, "Failed", "Succeeded")
    assert status["phase"] == "Failed"
    init = status["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 7
    app = status["containerStatuses"][0]
    assert app["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert {c["type"]: c["status"] for c in status["conditions"]}["Initialized"] == "False"

"""The Node object the agent reports, as kubelet reports it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from node.agent.nodestatus import (
    MachineInfo,
    NodeConfig,
    allocatable,
    lease_object,
    node_object,
    node_status,
)

INFO = MachineInfo(cpus=2, memory_bytes=8 * 1024**3, disk_bytes=100 * 1024**3,
                   kernel="6.1.0", os_image="Debian GNU/Linux 12 (bookworm)",
                   architecture="amd64", machine_id="m", boot_id="b", hostname="h")
NOW = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_node_object_carries_kubelets_fields():
    node = node_object(INFO, NodeConfig("n1", "10.0.0.5", "docker://20.10.24"), NOW)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    status = node["status"]
    assert status["capacity"] == {"cpu": "2", "memory": "8388608Ki", "pods": "110",
                                  "ephemeral-storage": "104857600Ki"}
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.0.0.5"},
                                   {"type": "Hostname", "address": "n1"}]
    assert [c["type"] for c in status["conditions"]] == [
        "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert status["conditions"][-1]["status"] == "True"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "docker://20.10.24"


def test_allocatable_subtracts_system_reserved():
    config = NodeConfig("n1", "10.0.0.5", "", system_reserved={"cpu": "500m",
                                                                "memory": "1Gi"})
    assert allocatable(INFO, config)["cpu"] == "1500m"
    assert allocatable(INFO, config)["memory"] == f"{7 * 1024**2}Ki"


def test_transition_time_kept_while_status_holds():
    config = NodeConfig("n1", "10.0.0.5", "")
    first = {"status": node_status(INFO, config, NOW)}
    later = node_status(INFO, config, NOW + timedelta(minutes=5), previous=first)
    ready = later["conditions"][-1]
    assert ready["lastTransitionTime"] == "2026-11-24T13:00:00Z"
    assert ready["lastHeartbeatTime"] == "2026-11-24T13:05:00Z"
    down = node_status(INFO, config, NOW + timedelta(minutes=6), previous={"status": later},
                       runtime_ready=False)
    assert down["conditions"][-1]["lastTransitionTime"] == "2026-11-24T13:06:00Z"


def test_lease_is_owned_by_the_node():
    lease = lease_object("n1", "uid-1", NOW)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["spec"]["holderIdentity"] == "n1"
    assert lease["spec"]["renewTime"] == "2026-11-24T13:00:00.000000Z"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "uid-1"

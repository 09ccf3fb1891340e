"""How the CRI-shaped configs and statuses map to Docker's JSON (dockershim's mapping)."""

from __future__ import annotations

from typing import Any

import pytest

from node.runtime import docker_convert as convert
from node.runtime.interface import (
    ATTEMPT,
    CONTAINER_NAME,
    KIND,
    MANAGED,
    POD_UID,
    SANDBOX_ID,
    ContainerConfig,
    ContainerState,
    DNSConfig,
    Mount,
    PodRef,
    PortMapping,
    Resources,
    SandboxConfig,
    SandboxState,
    Security,
)

POD = PodRef(uid="1234", namespace="default", name="web")


def test_names_follow_dockershim() -> None:
    sc = SandboxConfig(pod=POD, attempt=1)
    assert convert.sandbox_name(sc) == "k8s_POD_web_default_1234_1"
    assert convert.container_name(ContainerConfig(name="nginx", image="x", attempt=3),
                                  sc) == "k8s_nginx_web_default_1234_3"


def test_sandbox_create() -> None:
    sc = SandboxConfig(pod=POD, attempt=2, hostname="web", labels={"app": "web",
                                                                    MANAGED: "false"},
                       annotations={"note": "x"},
                       dns=DNSConfig(["10.96.0.10"], ["default.svc.cluster.local"],
                                     ["ndots:5"]),
                       port_mappings=[PortMapping(80, 8080), PortMapping(53, 0, "UDP"),
                                      PortMapping(53, 5353, "UDP", "127.0.0.1")])
    create, host = convert.sandbox_create(sc, "jota/pause:3.9")
    assert create["image"] == "jota/pause:3.9"
    assert create["hostname"] == "web"
    assert create["ports"] == [(80, "tcp"), (53, "udp")]
    labels = create["labels"]
    assert labels[KIND] == "podsandbox" and labels[CONTAINER_NAME] == "POD"
    assert labels[MANAGED] == "true"  # a pod label cannot pass for ours
    assert labels[ATTEMPT] == "2" and labels[POD_UID] == "1234" and labels["app"] == "web"
    assert labels["annotation.note"] == "x"
    assert host["network_mode"] == "bridge"
    assert host["ipc_mode"] == "shareable"
    assert host["port_bindings"] == {"80/tcp": [("0.0.0.0", 8080)],
                                     "53/udp": [("127.0.0.1", 5353)]}
    assert (host["dns"], host["dns_search"], host["dns_opt"]) == (
        ["10.96.0.10"], ["default.svc.cluster.local"], ["ndots:5"])
    assert host["log_config"]["Type"] == "json-file"
    assert "pid_mode" not in host


@pytest.mark.parametrize(("kw", "network_mode", "pid_mode", "hostname"), [
    ({}, "bridge", None, "h"),
    ({"network": "jota0"}, "jota0", None, "h"),
    ({"host_network": True, "host_pid": True}, "host", "host", None),
])
def test_sandbox_namespaces(kw: dict[str, Any], network_mode: str, pid_mode: str | None,
                            hostname: str | None) -> None:
    create, host = convert.sandbox_create(SandboxConfig(pod=POD, hostname="h", **kw), "p",
                                          managed="test")
    assert host["network_mode"] == network_mode
    assert host.get("pid_mode") == pid_mode
    assert create.get("hostname") == hostname
    assert create["labels"][MANAGED] == "test"


def test_container_create() -> None:
    sc = SandboxConfig(pod=POD)
    config = ContainerConfig(
        name="app", image="busybox", attempt=1, command=["sh", "-c"], args=["echo hi"],
        working_dir="/w", env={"A": "1", "B": "x=y"},
        mounts=[Mount("/var/lib/x", "/data"), Mount("/etc/cfg", "/cfg", readonly=True)],
        resources=Resources(cpu_shares=512, cpu_quota=50_000, memory_limit=64 << 20),
        security=Security(run_as_user=1000, run_as_group=3000, readonly_rootfs=True,
                          cap_add=["NET_ADMIN"], cap_drop=["ALL"], no_new_privileges=True),
        stdin=True, tty=True, termination_message_path="/dev/termination-log")
    create, host = convert.container_create("sb1", config, sc)
    assert create["name"] == "k8s_app_web_default_1234_1"
    assert create["entrypoint"] == ["sh", "-c"] and create["command"] == ["echo hi"]
    assert create["environment"] == ["A=1", "B=x=y"]
    assert create["working_dir"] == "/w"
    assert create["user"] == "1000:3000"
    assert create["stdin_open"] is True and create["tty"] is True
    labels = create["labels"]
    assert labels[SANDBOX_ID] == "sb1" and labels[CONTAINER_NAME] == "app"
    assert labels[KIND] == "container" and labels[ATTEMPT] == "1"
    assert labels[convert.TERMINATION_MESSAGE_PATH] == "/dev/termination-log"
    assert host["network_mode"] == host["ipc_mode"] == "container:sb1"
    assert host["binds"] == ["/var/lib/x:/data:rw", "/etc/cfg:/cfg:ro"]
    assert (host["cpu_shares"], host["cpu_quota"], host["cpu_period"]) == (512, 50_000,
                                                                           100_000)
    assert host["mem_limit"] == host["memswap_limit"] == 64 << 20
    assert host["read_only"] is True
    assert (host["cap_add"], host["cap_drop"]) == (["NET_ADMIN"], ["ALL"])
    assert host["security_opt"] == ["no-new-privileges"]


def test_container_defaults_keep_the_image_s_entrypoint_and_cmd() -> None:
    create, host = convert.container_create("sb", ContainerConfig(name="a", image="i"),
                                            SandboxConfig(pod=POD))
    for key in ("entrypoint", "command", "user", "working_dir"):
        assert key not in create
    for key in ("cpu_shares", "cpu_quota", "mem_limit", "read_only", "privileged",
                "security_opt", "pid_mode"):
        assert key not in host


@pytest.mark.parametrize(("user", "group", "image_user", "expected"), [
    (None, None, "", None),
    (0, None, "", "0"),
    (1000, None, "nobody", "1000"),
    (None, 3000, "", "0:3000"),
    (None, 3000, "nobody:nogroup", "nobody:3000"),
])
def test_docker_user(user: int | None, group: int | None, image_user: str,
                     expected: str | None) -> None:
    config = ContainerConfig(name="a", image="i",
                             security=Security(run_as_user=user, run_as_group=group))
    assert convert.docker_user(config, image_user) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("0001-01-01T00:00:00Z", 0.0),
    ("", 0.0),
    ("1970-01-01T00:00:01.5Z", 1.5),
    ("2024-01-02T03:04:05.123456789Z", 1704164645.123456789),
    ("2024-01-02T05:04:05+02:00", 1704164645.0),
])
def test_parse_time(value: str, expected: float) -> None:
    assert convert.parse_time(value) == pytest.approx(expected)


def _inspect(status: str, exit_code: int = 0, oom: bool = False, error: str = "") -> Any:
    return {"Id": "c1", "Created": "2024-01-02T03:04:05Z", "Image": "sha256:abc",
            "Config": {"Image": "busybox", "Labels": {
                POD_UID: "1234", "io.kubernetes.pod.namespace": "default",
                "io.kubernetes.pod.name": "web", CONTAINER_NAME: "app", ATTEMPT: "2",
                SANDBOX_ID: "sb1"}},
            "State": {"Status": status, "ExitCode": exit_code, "OOMKilled": oom,
                      "Error": error, "StartedAt": "2024-01-02T03:04:06Z",
                      "FinishedAt": "0001-01-01T00:00:00Z"}}


@pytest.mark.parametrize(("inspect", "state", "reason"), [
    (_inspect("running"), ContainerState.RUNNING, ""),
    (_inspect("created"), ContainerState.CREATED, ""),
    (_inspect("exited", 0), ContainerState.EXITED, "Completed"),
    (_inspect("exited", 2), ContainerState.EXITED, "Error"),
    (_inspect("exited", 137, oom=True), ContainerState.EXITED, "OOMKilled"),
    (_inspect("dead", 1), ContainerState.EXITED, "Error"),
    (_inspect("removing"), ContainerState.UNKNOWN, ""),
])
def test_container_status(inspect: Any, state: ContainerState, reason: str) -> None:
    status = convert.container_status(inspect)
    assert (status.state, status.reason) == (state, reason)
    assert (status.id, status.sandbox_id, status.name, status.attempt) == ("c1", "sb1", "app",
                                                                          2)
    assert status.pod == POD
    assert (status.image, status.image_ref) == ("busybox", "sha256:abc")
    assert status.started_at == pytest.approx(1704164646.0)
    assert status.finished_at == 0.0


def test_start_failure_message() -> None:
    status = convert.container_status(_inspect("created", 127, error='exec: "nope": '
                                               "executable file not found in $PATH"))
    assert status.exit_code == 127
    assert "executable file not found" in status.message


@pytest.mark.parametrize(("state", "mode", "networks", "ready", "ip"), [
    ("running", "bridge", {"bridge": {"IPAddress": "172.17.0.5"}}, SandboxState.READY,
     "172.17.0.5"),
    ("running", "default", {"bridge": {"IPAddress": "172.17.0.5"}}, SandboxState.READY,
     "172.17.0.5"),
    ("running", "jota0", {"jota0": {"IPAddress": "10.244.1.7"}}, SandboxState.READY,
     "10.244.1.7"),
    ("running", "host", {"host": {"IPAddress": ""}}, SandboxState.READY, ""),
    ("exited", "bridge", {"bridge": {"IPAddress": ""}}, SandboxState.NOTREADY, ""),
])
def test_sandbox_status_from_summary(state: str, mode: str, networks: Any,
                                     ready: SandboxState, ip: str) -> None:
    summary = {"Id": "s1", "State": state, "Created": 1700000000,
               "Labels": {POD_UID: "1234", ATTEMPT: "1"},
               "HostConfig": {"NetworkMode": mode}, "NetworkSettings": {"Networks": networks}}
    status = convert.sandbox_status_from_summary(summary)
    assert (status.state, status.ip, status.attempt, status.created_at) == (
        ready, ip, 1, 1700000000.0)


@pytest.mark.parametrize(("action", "kind"), [
    ("start", "started"), ("die", "died"), ("oom", "oom"), ("destroy", "destroyed"),
    ("create", None), ("exec_start: sh -c true", None),
])
def test_runtime_event(action: str, kind: str | None) -> None:
    event = convert.runtime_event({"Type": "container", "Action": action,
                                   "Actor": {"ID": "c1", "Attributes": {POD_UID: "1234"}}})
    if kind is None:
        assert event is None
    else:
        assert event is not None
        assert (event.container_id, event.pod_uid, event.kind) == ("c1", "1234", kind)


@pytest.mark.parametrize(("memory", "working_set"), [
    ({"usage": 10_000, "stats": {"total_inactive_file": 4_000}}, 6_000),  # cgroup v1
    ({"usage": 10_000, "stats": {"inactive_file": 1_000}}, 9_000),  # cgroup v2
    ({"usage": 10_000, "stats": {"total_inactive_file": 20_000}}, 0),
    ({}, 0),
])
def test_container_stats(memory: Any, working_set: int) -> None:
    stats = convert.container_stats({"read": "2024-01-02T03:04:05Z", "memory_stats": memory,
                                     "cpu_stats": {"cpu_usage": {"total_usage": 123}}})
    assert (stats.cpu_usage_ns, stats.memory_working_set) == (123, working_set)
    assert stats.timestamp == pytest.approx(1704164645.0)


def test_log_lines() -> None:
    line = convert.log_line("stderr", b"2024-01-02T03:04:05.000000001Z hello world\n")
    assert (line.timestamp, line.stream, line.data) == ("2024-01-02T03:04:05.000000001Z",
                                                        "stderr", b"hello world\n")
    assert convert.split_lines(b"a\nb\nc") == ([b"a\n", b"b\n"], b"c")


@pytest.mark.parametrize(("dns", "text"), [
    (DNSConfig(["10.96.0.10"], ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"],
               ["ndots:5"]),
     "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\n"
     "options ndots:5\n"),
    (DNSConfig(["1.1.1.1", "1.0.0.1"], [], []), "nameserver 1.1.1.1\nnameserver 1.0.0.1\n"),
    (DNSConfig([], ["x.test"], ["ndots:2", "edns0"]), "search x.test\noptions ndots:2 edns0\n"),
])
def test_resolv_conf_as_dockershim_writes_it(dns: DNSConfig, text: str) -> None:
    assert convert.resolv_conf(dns) == text


def test_sandbox_domain_for_the_hosts_file() -> None:
    sc = SandboxConfig(pod=POD, hostname="web-0", domain="nginx.default.svc.cluster.local")
    create, _ = convert.sandbox_create(sc, "jota/pause:3.9")
    assert (create["hostname"], create["domainname"]) == ("web-0",
                                                          "nginx.default.svc.cluster.local")
    create, _ = convert.sandbox_create(SandboxConfig(pod=POD, hostname="web"), "p")
    assert "domainname" not in create

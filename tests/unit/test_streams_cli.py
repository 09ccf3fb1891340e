"""`jota logs`, `exec` and `port-forward`: the command-line decisions, in kubectl's words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from jota.cli.commands._pods import by_logging, default_container, pod_selector, split_name
from jota.cli.commands.exec import NO_TTY, check_phase, use_tty
from jota.cli.commands.logs import Request, requests_for, since_seconds
from jota.cli.commands.port_forward import (
    PortSpec,
    container_port,
    listen_hosts,
    parse_ports,
    service_target,
)
from jota.cli.context import UsageError
from jota.cli.main import build_parser, parse

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _pod(name: str, *containers: str, phase: str = "Running", node: str = "n1",
         ready: bool = True, restarts: int = 0, created: str = "2024-01-01T00:00:00Z",
         annotations: dict[str, str] | None = None,
         ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created,
                         "annotations": annotations or {}},
            "spec": {"nodeName": node, "containers": [{"name": c, "ports": ports or []}
                                                      for c in containers]},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": str(ready)}],
                       "containerStatuses": [{"name": c, "restartCount": restarts}
                                             for c in containers]}}


@pytest.mark.parametrize(("since", "since_time", "seconds"), [
    ("", "", 0),
    ("5m", "", 300),
    ("1h30m", "", 5400),
    ("1.5s", "", 2),  # kubectl rounds up to whole seconds
    ("", "2024-01-02T03:00:05Z", 240),
])
def test_since(since: str, since_time: str, seconds: int) -> None:
    assert since_seconds(since, since_time, NOW) == seconds


@pytest.mark.parametrize(("since", "since_time", "message"), [
    ("5x", "", 'invalid argument "5x" for "--since" flag: time: invalid duration "5x"'),
    ("5", "", 'invalid argument "5" for "--since" flag: time: missing unit in duration "5"'),
    ("1m", "2024-01-02T03:00:05Z",
     "at most one of `sinceTime` or `sinceSeconds` may be specified"),
])
def test_since_errors(since: str, since_time: str, message: str) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(") + "$"):
        since_seconds(since, since_time, NOW)


def test_requests_for_each_pod_and_container() -> None:
    one, two = _pod("a", "main"), _pod("b", "x", "y")
    assert requests_for([one, two], "", False) == [Request("a", "main"), Request("b", "")]
    assert requests_for([two], "y", False) == [Request("b", "y")]
    assert requests_for([two], "", True) == [Request("b", "x"), Request("b", "y")]
    assert Request("b", "y").prefix() == b"[pod/b/y] "


@pytest.mark.parametrize(("pod", "asked", "expected"), [
    (_pod("a", "main"), "", "main"),
    (_pod("a", "x", "y"), "", ""),
    (_pod("a", "x", "y"), "y", "y"),
    (_pod("a", "x", "y", annotations={"kubectl.kubernetes.io/default-container": "y"}), "",
     "y"),
])
def test_default_container(pod: dict[str, Any], asked: str, expected: str) -> None:
    assert default_container(pod, asked) == expected


def test_by_logging_prefers_scheduled_running_ready_restarted_old() -> None:
    pods = [_pod("pending", "c", phase="Pending"), _pod("unscheduled", "c", node=""),
            _pod("young", "c", created="2024-01-01T09:00:00Z"),
            _pod("unready", "c", ready=False), _pod("restarted", "c", restarts=3),
            _pod("old", "c", created="2023-01-01T00:00:00Z")]
    assert [p["metadata"]["name"] for p in by_logging(pods)] == [
        "restarted", "old", "young", "unready", "pending", "unscheduled"]


def test_split_name_and_selectors() -> None:
    assert split_name("web")[0].plural == "pods"
    rt, name = split_name("deploy/web")
    assert (rt.plural, name) == ("deployments", "web")
    deployment = {"spec": {"selector": {"matchLabels": {"app": "web"}}}}
    assert pod_selector(rt, deployment) == "app=web"
    svc, _ = split_name("svc/web")
    assert pod_selector(svc, {"spec": {"selector": {"app": "web", "tier": "fe"}}}) == \
        "app=web,tier=fe"


@pytest.mark.parametrize(("stdin", "tty", "terminal", "expected"), [
    (False, True, True, (False, "")),  # -t without -i: no TTY, silently
    (True, True, False, (False, NO_TTY)),
    (True, True, True, (True, "")),
    (True, False, True, (False, "")),
])
def test_use_tty_as_kubectl(stdin: bool, tty: bool, terminal: bool,
                            expected: tuple[bool, str]) -> None:
    assert use_tty(stdin, tty, terminal) == expected


def test_no_exec_into_a_completed_pod() -> None:
    check_phase(_pod("a", "c"))
    with pytest.raises(UsageError, match=r"^cannot exec into a container in a completed pod; "
                                         r"current phase is Succeeded$"):
        check_phase(_pod("a", "c", phase="Succeeded"))


def test_exec_takes_everything_after_the_dashes() -> None:
    args = parse(build_parser(), ["exec", "-i", "web", "-n", "ns", "--", "sh", "-c", "ls -l"])
    assert (args.words, args.stdin, args.namespace) == (["web", "sh", "-c", "ls -l"], True,
                                                        "ns")


@pytest.mark.parametrize(("specs", "expected"), [
    (["8080:80"], [PortSpec(8080, "80")]),
    (["80"], [PortSpec(80, "80")]),
    ([":80", "9000:http"], [PortSpec(0, "80"), PortSpec(9000, "http")]),
])
def test_parse_ports(specs: list[str], expected: list[PortSpec]) -> None:
    assert parse_ports(specs) == expected


@pytest.mark.parametrize(("spec", "message"), [
    ("8080:", "invalid port format '8080:'"),
    ("70000:80", "error parsing local port '70000': must be 1-65535"),
    ("x:80", "error parsing local port 'x': must be 1-65535"),
])
def test_parse_ports_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=f"^{message}$"):
        parse_ports([spec])


def test_remote_ports_by_name_and_through_a_service() -> None:
    pod = _pod("web", "main", ports=[{"name": "http", "containerPort": 8080}])
    assert container_port(pod, "http") == 8080
    assert container_port(pod, "81") == 81
    with pytest.raises(UsageError, match=r"^Pod 'web' does not have a named port 'grpc'$"):
        container_port(pod, "grpc")
    service = {"metadata": {"name": "web"},
               "spec": {"ports": [{"port": 80, "targetPort": "http"},
                                  {"name": "admin", "port": 9000, "targetPort": 9001}]}}
    assert service_target(service, pod, "80") == "8080"
    assert service_target(service, pod, "admin") == "9001"
    with pytest.raises(UsageError, match=r"^Service web does not have a service port 81$"):
        service_target(service, pod, "81")


def test_listen_hosts() -> None:
    assert listen_hosts("localhost") == ["127.0.0.1", "::1"]
    assert listen_hosts("0.0.0.0,localhost") == ["0.0.0.0", "127.0.0.1", "::1"]

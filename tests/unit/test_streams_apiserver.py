"""The apiserver's side of logs/exec/port-forward: which container, which id, which node."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.apiserver.streams import (
    choose_container,
    log_container_id,
    node_endpoint,
    running_container_id,
)
from jota.api import errors


def _pod(*names: str, init: tuple[str, ...] = (), statuses: list[dict[str, Any]] | None = None
         ) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"initContainers": [{"name": n} for n in init],
                     "containers": [{"name": n} for n in names]},
            "status": {"containerStatuses": statuses or []}}


@pytest.mark.parametrize(("pod", "asked", "expected"), [
    (_pod("main"), "", "main"),
    (_pod("main"), "main", "main"),
    (_pod("a", "b", init=("setup",)), "setup", "setup"),
    (_pod("a", "b"), "b", "b"),
])
def test_choose_container(pod: dict[str, Any], asked: str, expected: str) -> None:
    assert choose_container(pod, asked) == expected


@pytest.mark.parametrize(("pod", "asked", "message"), [
    (_pod("a", "b"), "",
     "a container name must be specified for pod web, choose one of: [a b]"),
    (_pod("a", "b", init=("setup",)), "",
     "a container name must be specified for pod web, choose one of: [setup a b]"),
    (_pod(), "", "a container name must be specified for pod web"),
    (_pod("main"), "other", "container other is not valid for pod web"),
])
def test_choose_container_errors_in_kubes_words(pod: dict[str, Any], asked: str,
                                                message: str) -> None:
    with pytest.raises(errors.BadRequest) as e:
        choose_container(pod, asked)
    assert e.value.message == message


RUNNING = {"name": "main", "containerID": "docker://cur", "state": {"running": {}}}
CRASHING = {"name": "main", "containerID": "docker://old",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "docker://old"}}}
RESTARTED = {**RUNNING, "lastState": {"terminated": {"containerID": "docker://old"}}}
DONE = {"name": "main", "containerID": "docker://fin",
        "state": {"terminated": {"exitCode": 0, "containerID": "docker://fin"}}}
CREATING = {"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}
PULLING = {"name": "main", "state": {"waiting": {"reason": "ErrImagePull"}}}
BACKOFF = {"name": "main", "state": {"waiting": {"reason": "ImagePullBackOff"}}}


@pytest.mark.parametrize(("status", "previous", "expected"), [
    (RUNNING, False, "cur"),
    (RESTARTED, False, "cur"),
    (RESTARTED, True, "old"),
    (CRASHING, False, "old"),  # kubectl logs of a crash-looping container: the last run
    (CRASHING, True, "old"),
    (DONE, False, "fin"),
])
def test_log_container_id_as_kubelet(status: dict[str, Any], previous: bool,
                                     expected: str) -> None:
    assert log_container_id(_pod("main", statuses=[status]), "main", previous) == expected


@pytest.mark.parametrize(("status", "previous", "message"), [
    (None, False, 'container "main" in pod "web" is not available'),
    (RUNNING, True, 'previous terminated container "main" in pod "web" not found'),
    (CREATING, False, 'container "main" in pod "web" is waiting to start: ContainerCreating'),
    (PULLING, False, 'container "main" in pod "web" is waiting to start: image can\'t be '
                     "pulled"),
    (BACKOFF, False, 'container "main" in pod "web" is waiting to start: trying and failing '
                     "to pull image"),
])
def test_log_container_id_errors(status: dict[str, Any] | None, previous: bool,
                                 message: str) -> None:
    pod = _pod("main", statuses=[status] if status else [])
    with pytest.raises(errors.BadRequest) as e:
        log_container_id(pod, "main", previous)
    assert e.value.message == message


def test_running_container_id_only_for_a_running_container() -> None:
    assert running_container_id(_pod("main", statuses=[RUNNING]), "main") == "cur"
    assert running_container_id(_pod("main", statuses=[CRASHING]), "main") == ""
    assert running_container_id(_pod("main"), "main") == ""


def _node(*addresses: tuple[str, str], port: int = 10250) -> dict[str, Any]:
    return {"status": {"addresses": [{"type": t, "address": a} for t, a in addresses],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


@pytest.mark.parametrize(("node", "expected"), [
    (_node(("InternalIP", "10.0.0.5"), ("Hostname", "n1")), "10.0.0.5:10250"),
    (_node(("Hostname", "n1"), ("InternalIP", "10.0.0.5"), port=4321), "10.0.0.5:4321"),
    (_node(("Hostname", "n1")), "n1:10250"),
    (_node(("InternalIP", "fd00::5")), "[fd00::5]:10250"),
])
def test_node_endpoint_prefers_the_internal_ip(node: dict[str, Any], expected: str) -> None:
    assert node_endpoint(node) == expected


def test_node_endpoint_without_addresses() -> None:
    with pytest.raises(errors.BadRequest) as e:
        node_endpoint(_node())
    assert e.value.message == "no preferred addresses found; known addresses: []"

"""Creating and deleting a workload's pods (client-go's RealPodControl): the Events on
the owner that `jota describe` shows, and expectations lowered for calls that failed,
so the owner is not held waiting for a pod its informer will never see."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.controllers.expectations import ControllerExpectations
from controlplane.controllers.podcontrol import PodControl
from jota.api import errors
from jota.api.meta import Obj

OWNER: Obj = {"kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "ns"}}
KEY = "ns/web"


class Client:
    def __init__(self, fail: errors.APIError | None = None) -> None:
        self.fail = fail

    async def create(self, resource: str, obj: Obj, namespace: str = "") -> Obj:
        if self.fail is not None:
            raise self.fail
        return {**obj, "metadata": {"name": "web-x1", "namespace": namespace}}

    async def delete(self, resource: str, name: str, namespace: str = "") -> None:
        if self.fail is not None:
            raise self.fail


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Obj, type: str, reason: str, message: str) -> None:
        self.events.append((type, reason, message))


def control(fail: errors.APIError | None = None) -> tuple[PodControl, Recorder]:
    recorder = Recorder()
    c: Any = Client(fail)
    r: Any = recorder
    return PodControl(c, r, ControllerExpectations()), recorder


POD: Obj = {"kind": "Pod", "metadata": {"name": "web-x1", "namespace": "ns"}}


async def test_a_created_pod_is_an_event_and_stays_expected() -> None:
    pods, recorder = control()
    pods.expectations.expect_creations(KEY, 1)
    created = await pods.create(KEY, OWNER, {"metadata": {"generateName": "web-"}})
    assert created["metadata"]["name"] == "web-x1"
    assert recorder.events == [("Normal", "SuccessfulCreate", "Created pod: web-x1")]
    assert not pods.expectations.satisfied_expectations(KEY)  # the informer will see it


async def test_a_failed_create_is_a_warning_and_no_longer_expected() -> None:
    pods, recorder = control(errors.Forbidden('pods "web-" is forbidden: exceeded quota'))
    pods.expectations.expect_creations(KEY, 1)
    with pytest.raises(errors.Forbidden):
        await pods.create(KEY, OWNER, {"metadata": {"generateName": "web-"}})
    assert recorder.events == [
        ("Warning", "FailedCreate", 'Error creating: pods "web-" is forbidden: exceeded quota')]
    assert pods.expectations.satisfied_expectations(KEY)


async def test_a_pod_already_gone_counts_as_deleted_without_a_warning() -> None:
    pods, recorder = control(errors.NotFound('pods "web-x1" not found'))
    pods.expectations.expect_deletions(KEY, ["ns/web-x1"])
    await pods.delete(KEY, OWNER, POD)
    assert recorder.events == []
    assert pods.expectations.satisfied_expectations(KEY)


async def test_a_failed_delete_is_a_warning_and_no_longer_expected() -> None:
    pods, recorder = control(errors.ServiceUnavailable("etcd is unavailable"))
    pods.expectations.expect_deletions(KEY, ["ns/web-x1"])
    with pytest.raises(errors.ServiceUnavailable):
        await pods.delete(KEY, OWNER, POD)
    assert recorder.events == [("Warning", "FailedDelete", "Error deleting: etcd is unavailable")]
    assert pods.expectations.satisfied_expectations(KEY)


async def test_a_deleted_pod_is_an_event() -> None:
    pods, recorder = control()
    await pods.delete(KEY, OWNER, POD)
    assert recorder.events == [("Normal", "SuccessfulDelete", "Deleted pod: web-x1")]

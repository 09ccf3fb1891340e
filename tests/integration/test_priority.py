"""Pod priority set by the apiserver's Priority admission, against a real apiserver."""

from __future__ import annotations

import uuid

import pytest

from jota.api import errors
from jota.client.client import Client
from tests.integration.conftest import CLI


def pod(name: str, **spec: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "jota/busybox:latest"}], **spec}}


async def test_priority_class_name_resolves_to_priority(client: Client, namespace: str
                                                        ) -> None:
    name = f"high-{uuid.uuid4().hex[:6]}"
    await client.create("priorityclasses", {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": name}, "value": 1000, "preemptionPolicy": "Never"})
    try:
        created = await client.create("pods", pod("vip", priorityClassName=name), namespace)
        assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (
            1000, "Never")
        plain = await client.create("pods", pod("plain"), namespace)
        assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == (
            0, "PreemptLowerPriority")
        critical = await client.create(
            "pods", pod("crit", priorityClassName="system-node-critical"), namespace)
        assert critical["spec"]["priority"] == 2000001000
        # A later update without the fields keeps them (and the stored pod has them).
        stored = await client.get("pods", "vip", namespace)
        stored["metadata"].setdefault("labels", {})["x"] = "y"
        del stored["spec"]["priority"]
        assert (await client.update("pods", stored, namespace))["spec"]["priority"] == 1000
    finally:
        await client.delete("priorityclasses", name)


async def test_unknown_class_and_own_priority_are_refused(client: Client, namespace: str,
                                                          jota: CLI) -> None:
    with pytest.raises(errors.Forbidden) as e:
        await client.create("pods", pod("x", priorityClassName="foo"), namespace)
    assert e.value.message == 'pods "x" is forbidden: no PriorityClass with name foo was found'
    with pytest.raises(errors.Forbidden) as e:
        await client.create("pods", pod("y", priority=7), namespace)
    assert e.value.message == (
        'pods "y" is forbidden: the integer value of priority (7) must not be provided in '
        "pod spec; priority admission controller computed 0 from the given PriorityClass "
        "name")
    r = jota("run", "z", "--image=jota/busybox:latest", "-n", namespace,
             "--overrides", '{"spec": {"priorityClassName": "foo"}}')
    assert r.code == 1
    assert r.err == ('Error from server (Forbidden): pods "z" is forbidden: no PriorityClass '
                     "with name foo was found\n")


async def test_system_classes_exist_and_are_reserved(client: Client) -> None:
    classes = {c["metadata"]["name"]: c["value"]
               for c in (await client.list("priorityclasses"))["items"]}
    assert classes["system-node-critical"] == 2000001000
    assert classes["system-cluster-critical"] == 2000000000
    with pytest.raises(errors.Invalid) as e:
        await client.create("priorityclasses", {
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": "system-mine"}, "value": 5})
    assert "priority class names with 'system-' prefix are reserved" in e.value.message

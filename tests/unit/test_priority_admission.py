"""Pod priority from PriorityClasses, as kube-apiserver's Priority admission plugin."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.apiserver.priority import (
    admit_pod,
    check_global_default,
    keep_on_update,
    system_priority_classes,
)
from jota.api import errors
from jota.api.registry import by_plural
from jota.api.validation import validate


def pc(name: str, value: int, *, default: bool = False, policy: str | None = None
       ) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                           "metadata": {"name": name}, "value": value}
    if default:
        doc["globalDefault"] = True
    if policy:
        doc["preemptionPolicy"] = policy
    return doc


def pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}


HIGH = pc("high", 1000)
NEVER = pc("polite", 10, policy="Never")
DEFAULT = pc("normal", 7, default=True)


@pytest.mark.parametrize("spec,classes,priority,policy,class_name", [
    ({"priorityClassName": "high"}, [HIGH], 1000, "PreemptLowerPriority", "high"),
    ({"priorityClassName": "polite"}, [NEVER], 10, "Never", "polite"),
    ({}, [HIGH], 0, "PreemptLowerPriority", None),                 # no default class
    ({}, [HIGH, DEFAULT], 7, "PreemptLowerPriority", "normal"),    # the globalDefault
    ({"priorityClassName": "high"}, [HIGH, DEFAULT], 1000, "PreemptLowerPriority", "high"),
    ({"priorityClassName": "high", "priority": 1000}, [HIGH], 1000,
     "PreemptLowerPriority", "high"),                              # matching is fine
    ({}, [pc("a", 9, default=True), pc("b", 3, default=True)], 3,
     "PreemptLowerPriority", "b"),                                 # a race: lowest wins
])
def test_priority_resolves_from_the_class(spec: dict[str, Any], classes: list[Any],
                                          priority: int, policy: str,
                                          class_name: str | None) -> None:
    p = pod(**spec)
    admit_pod(p, {name["metadata"]["name"]: name for name in classes}, classes)
    assert p["spec"]["priority"] == priority
    assert p["spec"]["preemptionPolicy"] == policy
    assert p["spec"].get("priorityClassName") == class_name


@pytest.mark.parametrize("spec,message", [
    ({"priorityClassName": "foo"},
     'pods "x" is forbidden: no PriorityClass with name foo was found'),
    ({"priorityClassName": "high", "priority": 5},
     'pods "x" is forbidden: the integer value of priority (5) must not be provided in pod '
     "spec; priority admission controller computed 1000 from the given PriorityClass name"),
    ({"priority": 5},
     'pods "x" is forbidden: the integer value of priority (5) must not be provided in pod '
     "spec; priority admission controller computed 0 from the given PriorityClass name"),
    ({"priorityClassName": "high", "preemptionPolicy": "Never"},
     'pods "x" is forbidden: the string value of PreemptionPolicy (Never) must not be '
     "provided in pod spec; priority admission controller computed PreemptLowerPriority "
     "from the given PriorityClass name"),
])
def test_a_pod_is_refused_in_kubernetes_words(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.Forbidden) as e:
        admit_pod(pod(**spec), {"high": HIGH}, [HIGH])
    assert e.value.message == message


def test_an_update_keeps_the_admitted_priority() -> None:
    old = pod(priority=1000, preemptionPolicy="Never")
    new = pod()
    keep_on_update(new, old)
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (1000, "Never")


def test_only_one_global_default() -> None:
    check_global_default(pc("other", 1), [DEFAULT], creating=True)  # not a default: fine
    check_global_default(DEFAULT, [DEFAULT], creating=False)         # itself, updated
    with pytest.raises(errors.Forbidden) as e:
        check_global_default(pc("second", 1, default=True), [DEFAULT], creating=True)
    assert e.value.message == (
        'priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass normal is '
        "already marked as default. Only one default can exist")
    with pytest.raises(errors.Forbidden):
        check_global_default(pc("high", 1000, default=True), [HIGH, DEFAULT], creating=False)


def _causes(doc: dict[str, Any]) -> str:
    try:
        validate(by_plural("priorityclasses"), doc, None)
    except errors.Invalid as e:
        return e.message
    return ""


def test_system_classes_are_valid_and_reserved() -> None:
    assert [(c["metadata"]["name"], c["value"]) for c in system_priority_classes()] == [
        ("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000)]
    assert all(_causes(c) == "" for c in system_priority_classes())
    assert _causes(pc("system-mine", 5)) == (
        'PriorityClass "system-mine" is invalid: metadata.name: Forbidden: priority class '
        "names with 'system-' prefix are reserved for system use only. error: system-mine "
        "is not a known system priority class")
    assert _causes(pc("system-node-critical", 5)).endswith(
        "error: value of system-node-critical PriorityClass must be 2000001000")
    assert _causes(pc("huge", 1_000_000_001)) == (
        'PriorityClass "huge" is invalid: value: Forbidden: maximum allowed value of a user '
        "defined priority is 1000000000")


def test_a_priority_of_the_wrong_type_is_left_to_validation() -> None:
    p = pod(priority="high")
    admit_pod(p, {}, [])
    assert p["spec"]["priority"] == "high"
    with pytest.raises(errors.Invalid) as e:
        validate(by_plural("pods"), p, None)
    assert "spec.priority" in e.value.message

"""kube-apiserver's and kube-scheduler's series: labels as Kubernetes gives them."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import generate_latest

from controlplane.apiserver import metrics as api
from controlplane.scheduler import metrics as sched
from controlplane.storage.etcd import key_type
from jota.api import errors


@pytest.mark.parametrize(("error", "verb", "code"), [
    (None, "POST", "201"), (None, "GET", "200"), (None, "WATCH", "200"),
    (errors.NotFound("x"), "GET", "404"), (errors.Conflict("x"), "PUT", "409"),
    (errors.Invalid("x"), "POST", "422"), (errors.BadRequest("x"), "LIST", "400"),
    (errors.Gone("x"), "WATCH", "410"), (errors.TooLarge("x"), "POST", "413"),
    (ValueError("bug"), "GET", "500"),
])
def test_http_code(error: BaseException | None, verb: str, code: str) -> None:
    assert api.http_code(error, verb) == code


@pytest.mark.parametrize(("verb", "namespace", "name", "want"), [
    ("GET", "ns", "x", "resource"), ("POST", "ns", "", "resource"),
    ("LIST", "ns", "", "namespace"), ("LIST", "", "", "cluster"),
    ("WATCH", "", "", "cluster"), ("GET", "", "node-1", "resource"),
])
def test_scope(verb: str, namespace: str, name: str, want: str) -> None:
    assert api.scope(verb, namespace, name) == want


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_request_is_counted_with_group_and_version() -> None:
    labels = {"verb": "POST", "dry_run": "", "group": "apps", "version": "v1",
              "resource": "deployments", "subresource": "", "scope": "resource",
              "component": "apiserver"}
    before = _value("apiserver_request_total", **labels, code="201")
    api.observe_request("POST", "deployments", "", "resource", "", "201", 0.01)
    assert _value("apiserver_request_total", **labels, code="201") == before + 1
    assert _value("apiserver_request_duration_seconds_count", **labels) >= 1


def test_an_unknown_resource_is_not_a_new_series() -> None:
    api.observe_request("GET", "made-up-things", "", "resource", "", "400", 0.01)
    assert "made-up-things" not in generate_latest(REGISTRY).decode()


def test_etcd_key_type() -> None:
    assert key_type(b"/registry/pods/ns/x") == "pods"
    assert key_type(b"/registry/minions/n1") == "nodes"
    assert key_type(b"/registry/services/specs/ns/x") == "services"
    assert key_type(b"\0") == ""


class _Queue:
    def counts(self) -> dict[str, int]:
        return {"active": 2, "backoff": 1, "unschedulable": 4, "gated": 3}


def test_pending_pods_per_queue() -> None:
    collector = sched.PendingPods()
    registry = CollectorRegistry()
    registry.register(collector)
    assert registry.get_sample_value("scheduler_pending_pods", {"queue": "active"}) == 0
    collector.queue = _Queue()
    assert {q: registry.get_sample_value("scheduler_pending_pods", {"queue": q})
            for q in sched.QUEUES} == {"active": 2, "backoff": 1, "unschedulable": 4,
                                       "gated": 3}


def test_attempts_by_result_and_profile() -> None:
    labels = {"result": "scheduled", "profile": "default-scheduler"}
    before = _value("scheduler_schedule_attempts_total", **labels)
    sched.observe_attempt("scheduled", "default-scheduler", 0.003)
    assert _value("scheduler_schedule_attempts_total", **labels) == before + 1
    assert _value("scheduler_scheduling_attempt_duration_seconds_bucket", **labels,
                  le="0.004") >= 1

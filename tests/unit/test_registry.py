"""Users name kinds many ways; every way finds the same type."""

from __future__ import annotations

import pytest

from jota.api import errors
from jota.api.registry import RESOURCES, by_kind, by_plural, in_category, resolve


@pytest.mark.parametrize("typed,plural", [
    ("po", "pods"), ("pod", "pods"), ("pods", "pods"), ("Pod", "pods"),
    ("deploy", "deployments"), ("deployment.apps", "deployments"),
    ("deployments.apps", "deployments"), ("deployments.v1.apps", "deployments"),
    ("svc", "services"), ("rs", "replicasets"), ("ns", "namespaces"), ("cm", "configmaps"),
    ("no", "nodes"), ("ds", "daemonsets"), ("sts", "statefulsets"), ("cj", "cronjobs"),
    ("pv", "persistentvolumes"), ("pvc", "persistentvolumeclaims"), ("ing", "ingresses"),
    ("hpa", "horizontalpodautoscalers"), ("ep", "endpoints"), ("sa", "serviceaccounts"),
    ("ev", "events"),
])
def test_kubectl_short_names(typed: str, plural: str):
    assert resolve(typed).plural == plural


def test_unknown_type_in_kubectls_words():
    with pytest.raises(errors.BadRequest, match='the server doesn\'t have a resource type "foo"'):
        resolve("foo")


def test_every_kind_is_registered_once_with_its_schema():
    from jota.api.schema_data import definition_name

    assert len({r.plural for r in RESOURCES}) == len(RESOURCES)
    for rt in RESOURCES:
        assert definition_name(rt.kind, rt.group, rt.version)
    assert by_plural("deployments").display == "deployment.apps"
    assert by_kind("HorizontalPodAutoscaler", "autoscaling/v1").version == "v2"


def test_get_all_category_matches_kubectl():
    assert [r.plural for r in in_category("all")] == [
        "pods", "services", "deployments", "replicasets", "daemonsets", "statefulsets",
        "jobs", "cronjobs", "horizontalpodautoscalers"]

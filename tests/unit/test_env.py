"""A container's environment, as kubelet builds it: sources, precedence, expansion, errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from node.agent.env import (
    ConfigError,
    expand,
    field_value,
    format_map,
    references,
    resolve_env,
    resource_value,
)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


CONFIGMAPS = {
    "app": {"metadata": {"name": "app"}, "data": {"MODE": "prod", "LEVEL": "debug",
                                                   "bad key": "x", "1NUM": "y"}},
}
SECRETS = {
    "db": {"metadata": {"name": "db"}, "data": {"PASSWORD": b64("s3cr3t"), "USER": b64("app")}},
}


def pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1",
                     "labels": {"app": "web", "tier": "front"},
                     "annotations": {"note": 'say "hi"'}},
        "spec": {"nodeName": "node-a", "serviceAccountName": "default",
                 "containers": [container], **spec},
    }


def env_of(container: dict[str, Any], **kw: Any) -> dict[str, str]:
    container = {"name": "app", "image": "busybox", **container}
    return resolve_env(pod(container), container, configmaps=CONFIGMAPS, secrets=SECRETS,
                       node_name="node-a", pod_ip="10.244.0.5", host_ip="192.168.1.10", **kw)


def value_from(source: dict[str, Any]) -> dict[str, Any]:
    return {"env": [{"name": "V", "valueFrom": source}]}


@pytest.mark.parametrize(("container", "want"), [
    ({"env": [{"name": "A", "value": "1"}]}, {"A": "1"}),
    ({"env": [{"name": "A", "value": ""}]}, {"A": ""}),
    (value_from({"configMapKeyRef": {"name": "app", "key": "MODE"}}), {"V": "prod"}),
    (value_from({"secretKeyRef": {"name": "db", "key": "PASSWORD"}}), {"V": "s3cr3t"}),
    (value_from({"fieldRef": {"fieldPath": "metadata.name"}}), {"V": "web-1"}),
    (value_from({"fieldRef": {"fieldPath": "metadata.namespace"}}), {"V": "default"}),
    (value_from({"fieldRef": {"fieldPath": "metadata.uid"}}), {"V": "u-1"}),
    (value_from({"fieldRef": {"fieldPath": "metadata.labels['app']"}}), {"V": "web"}),
    (value_from({"fieldRef": {"fieldPath": "metadata.labels['nope']"}}), {"V": ""}),
    (value_from({"fieldRef": {"fieldPath": "metadata.annotations['note']"}}), {"V": 'say "hi"'}),
    (value_from({"fieldRef": {"fieldPath": "spec.nodeName"}}), {"V": "node-a"}),
    (value_from({"fieldRef": {"fieldPath": "spec.serviceAccountName"}}), {"V": "default"}),
    (value_from({"fieldRef": {"fieldPath": "status.podIP"}}), {"V": "10.244.0.5"}),
    (value_from({"fieldRef": {"fieldPath": "status.podIPs"}}), {"V": "10.244.0.5"}),
    (value_from({"fieldRef": {"fieldPath": "status.hostIP"}}), {"V": "192.168.1.10"}),
    # optional references that are absent leave the variable out
    (value_from({"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}), {}),
    (value_from({"configMapKeyRef": {"name": "app", "key": "gone", "optional": True}}), {}),
    (value_from({"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}), {}),
    (value_from({"secretKeyRef": {"name": "db", "key": "gone", "optional": True}}), {}),
])
def test_sources(container: dict[str, Any], want: dict[str, str]) -> None:
    assert env_of(container) == want


@pytest.mark.parametrize(("resource", "divisor", "resources", "want"), [
    ("limits.cpu", None, {"limits": {"cpu": "500m"}}, "1"),  # rounded up to whole cores
    ("limits.cpu", "1m", {"limits": {"cpu": "500m"}}, "500"),
    ("limits.cpu", "100m", {"limits": {"cpu": "1.25"}}, "13"),
    ("requests.cpu", "1m", {"requests": {"cpu": "250m"}}, "250"),
    ("limits.memory", None, {"limits": {"memory": "64Mi"}}, "67108864"),
    ("limits.memory", "1Mi", {"limits": {"memory": "64Mi"}}, "64"),
    ("requests.memory", "1Mi", {"requests": {"memory": "1.5Mi"}}, "2"),
    ("limits.memory", "1Mi", {}, "0"),  # unset and no allocatable given: 0
])
def test_resource_field_ref(resource: str, divisor: str | None, resources: dict[str, Any],
                            want: str) -> None:
    ref: dict[str, Any] = {"resource": resource}
    if divisor:
        ref["divisor"] = divisor
    assert env_of({"resources": resources, **value_from({"resourceFieldRef": ref})}) == \
        {"V": want}


def test_unset_limit_reads_allocatable_when_given() -> None:
    container = value_from({"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}})
    assert env_of(container, allocatable={"cpu": "4"}) == {"V": "4000"}


def test_resource_value_rejects_unknown() -> None:
    with pytest.raises(ConfigError, match=r"unsupported container resource : limits\.gpu"):
        resource_value({}, "limits.gpu")


def test_env_from_with_prefix_skips_invalid_names() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "app"}, "prefix": "CM_"},
                              {"secretRef": {"name": "db"}}]})
    # "bad key" is invalid even prefixed; "1NUM" becomes valid with the prefix
    assert env == {"CM_MODE": "prod", "CM_LEVEL": "debug", "CM_1NUM": "y",
                   "PASSWORD": "s3cr3t", "USER": "app"}


def test_env_from_without_prefix_skips_leading_digit() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "app"}}]})
    assert env == {"MODE": "prod", "LEVEL": "debug"}


def test_env_overrides_env_from_and_expands_earlier_values() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "app"}}],
                  "env": [{"name": "MODE", "value": "dev"},
                          {"name": "URL", "value": "http://$(HOST):$(PORT)/$(MODE)"},
                          {"name": "HOST", "value": "db"},
                          {"name": "PORT", "value": "5432"},
                          {"name": "URL2", "value": "$(HOST):$(PORT) $$(HOST) $$$(PORT)"}]})
    assert env["MODE"] == "dev"
    assert env["URL"] == "http://$(HOST):$(PORT)/dev"  # later vars are not visible yet
    assert env["URL2"] == "db:5432 $(HOST) $5432"


def test_optional_env_from_missing_is_skipped() -> None:
    assert env_of({"envFrom": [{"configMapRef": {"name": "gone", "optional": True}},
                               {"secretRef": {"name": "gone", "optional": True}}]}) == {}


def test_service_env_loses_to_container_env() -> None:
    env = env_of({"env": [{"name": "A", "value": "$(WEB_SERVICE_HOST)"},
                          {"name": "WEB_SERVICE_PORT", "value": "mine"}]},
                 service_env={"WEB_SERVICE_HOST": "10.96.0.10", "WEB_SERVICE_PORT": "80"})
    assert env == {"A": "10.96.0.10", "WEB_SERVICE_PORT": "mine",
                   "WEB_SERVICE_HOST": "10.96.0.10"}


@pytest.mark.parametrize(("container", "message"), [
    (value_from({"configMapKeyRef": {"name": "x", "key": "k"}}), 'configmap "x" not found'),
    (value_from({"configMapKeyRef": {"name": "app", "key": "k"}}),
     "couldn't find key k in ConfigMap default/app"),
    (value_from({"secretKeyRef": {"name": "x", "key": "k"}}), 'secret "x" not found'),
    (value_from({"secretKeyRef": {"name": "db", "key": "k"}}),
     "couldn't find key k in Secret default/db"),
    ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
    ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
    (value_from({"fieldRef": {"fieldPath": "spec.nope"}}), "unsupported fieldPath: spec.nope"),
])
def test_missing_references_are_config_errors(container: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        env_of(container)
    assert e.value.reason == "CreateContainerConfigError"
    assert e.value.message == message


@pytest.mark.parametrize(("text", "env", "want"), [
    ("echo $(A)", {"A": "1"}, "echo 1"),
    ("$(A)$(B)", {"A": "1", "B": "2"}, "12"),
    ("$(MISSING)", {}, "$(MISSING)"),
    ("$$(A)", {"A": "1"}, "$(A)"),
    ("$$$(A)", {"A": "1"}, "$1"),
    ("$$", {}, "$"),
    ("a$", {}, "a$"),
    ("$A", {"A": "1"}, "$A"),
    ("$(A", {"A": "1"}, "$(A"),
    ("$()", {}, "$()"),
    ("$($(A))", {"A": "1"}, "$($(A))"),  # the name is "$(A" : unknown, left as written
    ("100$", {}, "100$"),
    ("", {}, ""),
])
def test_expand(text: str, env: dict[str, str], want: str) -> None:
    assert expand(text, env) == want


def test_whole_labels_read_as_sorted_quoted_lines() -> None:
    p = pod({"name": "c"})
    assert field_value(p, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_value(p, "metadata.annotations") == 'note="say \\"hi\\""'
    assert format_map({}) == ""


def test_references_from_env_env_from_volumes_and_pull_secrets() -> None:
    container = {"name": "c", "image": "i",
                 "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm1",
                                                                        "key": "k"}}},
                         {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s1",
                                                                     "key": "k"}}},
                         {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "envFrom": [{"configMapRef": {"name": "cm2"}}, {"secretRef": {"name": "s2"}}]}
    p = pod(container, initContainers=[{"name": "init", "image": "i",
                                        "envFrom": [{"configMapRef": {"name": "cm3"}}]}],
            volumes=[{"name": "v1", "configMap": {"name": "cm4"}},
                     {"name": "v2", "secret": {"secretName": "s3"}},
                     {"name": "v3", "projected": {"sources": [
                         {"configMap": {"name": "cm5"}}, {"secret": {"name": "s4"}},
                         {"downwardAPI": {"items": []}}]}},
                     {"name": "v4", "emptyDir": {}}],
            imagePullSecrets=[{"name": "regcred"}])
    assert references(p) == ({"cm1", "cm2", "cm3", "cm4", "cm5"},
                             {"s1", "s2", "s3", "s4", "regcred"})

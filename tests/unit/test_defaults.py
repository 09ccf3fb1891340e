"""Defaulting fills what Kubernetes fills, and never crashes on malformed input."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jota.api.defaults import DEFAULTERS, apply_defaults
from jota.api.defaults.pod import image_pull_policy
from jota.api.registry import RESOURCES, by_kind


def defaulted(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    apply_defaults(by_kind(doc["kind"]), doc)
    return doc


def pod_template(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}], **spec}}


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template()}}


POD_SPEC_DEFAULTS = {"restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                     "securityContext": {}}
CONTAINER_DEFAULTS = {"name": "web", "image": "nginx:1.25", "imagePullPolicy": "IfNotPresent",
                      "terminationMessagePath": "/dev/termination-log",
                      "terminationMessagePolicy": "File", "resources": {}}


def test_deployment_defaults() -> None:
    spec = defaulted(deployment())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert {k: pod[k] for k in POD_SPEC_DEFAULTS} == POD_SPEC_DEFAULTS
    assert pod["containers"] == [CONTAINER_DEFAULTS]


def test_recreate_strategy_gets_no_rolling_update() -> None:
    doc = deployment()
    doc["spec"]["strategy"] = {"type": "Recreate"}
    assert defaulted(doc)["spec"]["strategy"] == {"type": "Recreate"}


def test_explicit_values_are_kept() -> None:
    doc = deployment()
    doc["spec"]["replicas"] = 0
    doc["spec"]["template"]["spec"]["dnsPolicy"] = "Default"
    spec = defaulted(doc)["spec"]
    assert spec["replicas"] == 0
    assert spec["template"]["spec"]["dnsPolicy"] == "Default"


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:1.0", "IfNotPresent"),
    ("nginx@sha256:abcd", "IfNotPresent"), (None, "IfNotPresent"),
])
def test_image_pull_policy(image: Any, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_ports_and_probes() -> None:
    doc = deployment()
    c = doc["spec"]["template"]["spec"]["containers"][0]
    c["ports"] = [{"containerPort": 80}]
    c["livenessProbe"] = {"httpGet": {"port": 80}}
    c = defaulted(doc)["spec"]["template"]["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 3}


def test_pod_requests_default_to_limits_and_volumes_to_empty_dir() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox",
                                    "resources": {"limits": {"cpu": "1"}}}],
                    "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "x"}}]}}
    spec = defaulted(pod)["spec"]
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}},
                               {"name": "cfg", "configMap": {"name": "x", "defaultMode": 420}}]
    assert spec["enableServiceLinks"] is True


@pytest.mark.parametrize("svc_type,expected", [
    ("ClusterIP", {"type": "ClusterIP", "sessionAffinity": "None",
                   "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}),
    ("NodePort", {"type": "NodePort", "sessionAffinity": "None",
                  "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                  "externalTrafficPolicy": "Cluster"}),
])
def test_service_defaults(svc_type: str, expected: dict[str, Any]) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"type": svc_type, "selector": {"app": "web"},
                    "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}
    spec = defaulted(svc)["spec"]
    ports = spec.pop("ports")
    spec.pop("selector")
    assert spec == expected
    assert ports == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                     {"port": 443, "protocol": "TCP", "targetPort": "https"}]


def test_stateful_set_and_daemon_set_defaults() -> None:
    sts = deployment() | {"kind": "StatefulSet"}
    sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "www"}, "spec": {}}]
    spec = defaulted(sts)["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["volumeClaimTemplates"][0]["spec"] == {"volumeMode": "Filesystem"}
    ds = deployment() | {"kind": "DaemonSet"}
    spec = defaulted(ds)["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert "replicas" not in spec


def test_job_defaults_leave_restart_policy_and_selector_alone() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi"},
           "spec": {"template": pod_template()}}
    out = defaulted(job)
    spec = out["spec"]
    assert {k: spec[k] for k in ("backoffLimit", "completions", "parallelism", "completionMode",
                                 "suspend")} == {"backoffLimit": 6, "completions": 1,
                                                 "parallelism": 1,
                                                 "completionMode": "NonIndexed",
                                                 "suspend": False}
    assert "restartPolicy" not in spec["template"]["spec"]
    assert "selector" not in spec
    assert out["metadata"]["labels"] == {"app": "web"}


def test_parallel_job_keeps_completions_unset() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "q"},
           "spec": {"parallelism": 3, "template": pod_template()}}
    spec = defaulted(job)["spec"]
    assert "completions" not in spec and spec["parallelism"] == 3


def test_cron_job_defaults() -> None:
    cj = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "hello"},
          "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": pod_template()}}}}
    spec = defaulted(cj)["spec"]
    assert {k: spec[k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                 "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1}
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["dnsPolicy"] == "ClusterFirst" and "restartPolicy" not in pod


def test_small_kinds() -> None:
    hpa = defaulted({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": {"name": "h"}, "spec": {"maxReplicas": 3}})
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization",
                                                              "averageUtilization": 80}
    pvc = defaulted({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                     "metadata": {"name": "c"}, "spec": {}})
    assert pvc["spec"]["volumeMode"] == "Filesystem"
    secret = defaulted({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert secret["type"] == "Opaque"
    ns = defaulted({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}})
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "dev"}
    assert "namespace" not in ns["metadata"]


def test_hpa_behavior_gaps_are_filled_only_when_stated() -> None:
    hpa = defaulted({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                     "metadata": {"name": "h"},
                     "spec": {"maxReplicas": 3, "behavior": {"scaleDown": {
                         "stabilizationWindowSeconds": 60}}}})
    behavior = hpa["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert behavior["scaleDown"]["selectPolicy"] == "Max"
    assert behavior["scaleUp"]["policies"][0] == {"type": "Pods", "value": 4, "periodSeconds": 15}


@pytest.mark.parametrize("garbage", [
    None, [], "x", 3, {"spec": None}, {"spec": []}, {"spec": {"template": "x"}},
    {"spec": {"template": {"spec": {"containers": "nginx"}}}},
    {"spec": {"template": {"spec": {"containers": [None, 3, {"ports": [1, None]}]}}}},
    {"spec": {"strategy": 5, "updateStrategy": [], "jobTemplate": 1, "ports": [[1]]}},
    {"metadata": 7, "spec": {"behavior": 1, "metrics": "x", "volumeClaimTemplates": [1]}},
])
@pytest.mark.parametrize("kind", sorted(DEFAULTERS))
def test_malformed_input_never_crashes(kind: str, garbage: Any) -> None:
    apply_defaults(by_kind(kind), copy.deepcopy(garbage))


def test_every_defaulter_is_a_known_kind() -> None:
    assert set(DEFAULTERS) <= {r.kind for r in RESOURCES}

"""PodSpec defaults (SetDefaults_PodSpec, _Container, _Probe, _Volume), applied to a
Pod and to every pod template, so a stored template looks like what `kubectl get
-o yaml` shows for Kubernetes."""

from __future__ import annotations

import copy
from typing import Any

from jota.api.defaults.common import fill, items, sub

_VOLUME_SOURCES_WITH_MODE = ("configMap", "secret", "downwardAPI", "projected")


def default_template(template: Any, *, restart_policy: str | None = "Always") -> None:
    """Defaults of a PodTemplateSpec (`spec.template`, `jobTemplate.spec.template`)."""
    if isinstance(template, dict):
        default_pod_spec(sub(template, "spec"), restart_policy=restart_policy)


def default_pod_spec(spec: Any, *, restart_policy: str | None = "Always",
                     is_pod: bool = False) -> None:
    if not isinstance(spec, dict):
        return
    fill(spec, dnsPolicy="ClusterFirst", terminationGracePeriodSeconds=30,
         securityContext={}, schedulerName="default-scheduler")
    if restart_policy is not None:
        fill(spec, restartPolicy=restart_policy)
    if is_pod:
        fill(spec, enableServiceLinks=True)
    host_network = spec.get("hostNetwork") is True
    for field in ("initContainers", "containers"):
        for c in items(spec, field):
            _container(c, host_network=host_network, is_pod=is_pod)
    for v in items(spec, "volumes"):
        _volume(v)


def image_pull_policy(image: Any) -> str:
    """Always for `:latest` or an untagged image, else IfNotPresent (as Kubernetes)."""
    if not isinstance(image, str):
        return "IfNotPresent"
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container(c: dict[str, Any], *, host_network: bool, is_pod: bool) -> None:
    fill(c, imagePullPolicy=image_pull_policy(c.get("image")),
         terminationMessagePath="/dev/termination-log", terminationMessagePolicy="File",
         resources={})
    for p in items(c, "ports"):
        fill(p, protocol="TCP")
        if host_network and p.get("hostPort") is None:
            p["hostPort"] = p.get("containerPort")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    for e in items(c, "env"):
        field_ref = sub(sub(e, "valueFrom", create=False), "fieldRef", create=False)
        fill(field_ref, apiVersion="v1")
    resources = c.get("resources")
    if is_pod and isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
        # A pod that states only limits requests what it limits (SetDefaults_Pod).
        requests = resources.get("requests")
        if requests is None:
            requests = resources["requests"] = {}
        if isinstance(requests, dict):
            for name, q in resources["limits"].items():
                requests.setdefault(name, copy.deepcopy(q))


def _probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    fill(probe, timeoutSeconds=1, periodSeconds=10, successThreshold=1, failureThreshold=3)
    fill(sub(probe, "httpGet", create=False), path="/", scheme="HTTP")


def _volume(v: dict[str, Any]) -> None:
    if all(val is None for k, val in v.items() if k != "name"):
        v["emptyDir"] = {}
    for source in _VOLUME_SOURCES_WITH_MODE:
        fill(sub(v, source, create=False), defaultMode=420)
    fill(sub(v, "hostPath", create=False), type="")

"""The HorizontalPodAutoscaler on a real stack: pods that burn CPU in Docker, the
agent's /metrics/resource, the apiserver's metrics API, the controller-manager's HPA
controller (sync period 2 s in the session fixture) and the scale subresource."""

from __future__ import annotations

import re
from typing import Any

from jota.client.client import Client
from jota.local.processes import Daemon
from tests.integration.conftest import CLI, NODE
from tests.integration.node_helpers import IMAGE, eventually

TIMEOUT = 240.0

# Burns CPU while /tmp/burn exists (busybox sh's `[` is a builtin: a tight loop).
BURN = "touch /tmp/burn; while true; do if [ -f /tmp/burn ]; then :; else sleep 1; fi; done"


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "burn"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "burn"}},
                     "template": {"metadata": {"labels": {"app": "burn"}}, "spec": {
                         "nodeName": NODE, "terminationGracePeriodSeconds": 1,
                         "containers": [{
                             "name": "burn", "image": IMAGE, "imagePullPolicy": "Never",
                             "command": ["sh", "-c", BURN],
                             "resources": {"requests": {"cpu": "50m"},
                                           "limits": {"cpu": "100m"}}}]}}}}


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "burn"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "burn"},
                "minReplicas": 1, "maxReplicas": 3,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": 50}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}}}}


async def test_hpa_scales_out_under_load_and_back_in(
        client: Client, namespace: str, node_agent: Daemon, controller_manager: Daemon,
        jota: CLI) -> None:
    await client.create("deployments", deployment(), namespace)
    await client.create("horizontalpodautoscalers", HPA, namespace)

    async def busy_pod_in_top() -> str:
        r = jota("top", "pods", "-n", namespace, "--sort-by", "cpu")
        lines = r.out.splitlines()
        if r.code or len(lines) < 2 or lines[0].split() != ["NAME", "CPU(cores)",
                                                             "MEMORY(bytes)"]:
            return ""
        cpu = lines[1].split()[1]
        return lines[1] if re.fullmatch(r"\d+m", cpu) and int(cpu[:-1]) >= 40 else ""

    assert (await eventually(busy_pod_in_top, TIMEOUT, "a busy pod in jota top")
            ).startswith("burn-")

    nodes = jota.ok("top", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert any(re.fullmatch(rf"{NODE}\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%", line)
               for line in nodes[1:]), nodes
    r = jota("top", "pod", "nope", "-n", namespace)
    assert (r.code, r.err) == (1, "Error from server (NotFound): podmetrics.metrics.k8s.io "
                                  f'"{namespace}/nope" not found\n')
    r = jota("delete", "podmetrics", "nope", "-n", namespace)
    assert r.code == 1 and "(MethodNotAllowed): the server does not allow this method on " \
        "the requested resource" in r.err, r.err

    async def replicas(n: int) -> bool:
        d = await client.get("deployments", "burn", namespace)
        return bool(d["spec"]["replicas"] == n)

    await eventually(lambda: replicas(3), TIMEOUT, "scale out to 3")
    hpa = await client.get("horizontalpodautoscalers", "burn", namespace)
    status = hpa["status"]
    assert status["desiredReplicas"] == 3 and status.get("lastScaleTime")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["ScalingActive"]["reason"] == "ValidMetricFound"
    events = (await client.list("events", namespace))["items"]
    assert any(e["reason"] == "SuccessfulRescale" and e["message"] ==
               "New size: 3; reason: cpu resource utilization (percentage of request) "
               "above target" for e in events), [e["message"] for e in events]
    row = jota.ok("get", "hpa", "burn", "-n", namespace).splitlines()[1].split()
    assert row[:2] == ["burn", "Deployment/burn"] and row[2] == "cpu:"
    assert re.fullmatch(r"\d+%/50%", row[3]), row

    # Stop the load in every pod; the HPA scales back in after its 5 s window.
    pods = (await client.list("pods", namespace, label_selector="app=burn"))["items"]
    for p in pods:
        if not p["metadata"].get("deletionTimestamp"):
            jota("exec", p["metadata"]["name"], "-n", namespace, "--", "rm", "-f",
                 "/tmp/burn")
    await eventually(lambda: replicas(1), TIMEOUT, "scale in to 1")
    events = (await client.list("events", namespace))["items"]
    assert any(e["reason"] == "SuccessfulRescale" and e["message"].endswith(
        "reason: All metrics below target") for e in events)
    lines = jota.ok("events", "--for", "hpa/burn", "-n", namespace).splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("SuccessfulRescale" in line and "HorizontalPodAutoscaler/burn" in line
               for line in lines[1:]), lines
    await client.delete("horizontalpodautoscalers", "burn", namespace)
    await client.delete("deployments", "burn", namespace)

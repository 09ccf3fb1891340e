"""`jota autoscale` and `jota get hpa` against a real apiserver; autoscaling/v1 input is
stored as autoscaling/v2."""

from __future__ import annotations

from jota.client.client import Client
from tests.integration.conftest import CLI

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: jota/busybox:latest}]}
"""


async def test_autoscale_then_get_hpa(jota: CLI, client: Client, namespace: str) -> None:
    jota.ok("apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    out = jota.ok("autoscale", "deploy/web", "--cpu-percent=50", "--min=1", "--max=5",
                  "-n", namespace)
    assert out == "horizontalpodautoscaler.autoscaling/web autoscaled\n"
    table = jota.ok("get", "hpa", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                                "REPLICAS", "AGE"]
    assert table[1].split()[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1",
                                    "5", "0"]
    hpa = await client.get("horizontalpodautoscalers", "web", namespace)
    assert hpa["apiVersion"] == "autoscaling/v2"

    # Metrics, once the HPA controller writes them, show as current/target.
    hpa["status"] = {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": 73, "averageValue": "100m"}}}]}
    await client.update_status("horizontalpodautoscalers", hpa, namespace)
    assert jota.ok("get", "hpa", "web", "-n", namespace).splitlines()[1].split()[2:4] == [
        "cpu:", "73%/50%"]

    r = jota("autoscale", "deploy/web", "--max=2", "-n", namespace)
    assert (r.code, r.err) == (1, 'Error from server (AlreadyExists): '
                                  'horizontalpodautoscalers.autoscaling "web" already exists\n')


async def test_v1_autoscaler_is_stored_as_v2(jota: CLI, client: Client, namespace: str) -> None:
    jota.ok("apply", "-n", namespace, "-f", "-", stdin="""
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: old}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  targetCPUUtilizationPercentage: 60
""")
    hpa = await client.get("horizontalpodautoscalers", "old", namespace)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]
    assert "cpu: <unknown>/60%" in jota.ok("get", "hpa", "old", "-n", namespace)

"""A real Prometheus, on deploy/prometheus/prometheus.yml, finds the session's
control plane through the controller-manager's HTTP service discovery and reads
the apiserver's request counters and kube-state-metrics' object state (issue E).

The session's `prometheus` fixture takes fixed file_sd targets; this one must run
the deploy config itself (http_sd), so it starts its own and reuses the fixture's
`Prometheus` query helper.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jota.client.client import Client
from jota.local.processes import Daemon, free_port, start_scheduler
from jota.local.prometheus import REPO_DEPLOY, render_config, start_prometheus
from tests.integration.conftest import Prometheus

pytestmark = pytest.mark.integration

SCHEDULER = "metrics-test-scheduler"  # schedules only pods that ask for it
SCHEDULER_CONFIG = f"""\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: {SCHEDULER}
"""
DEADLINE = 90.0


@pytest.fixture(scope="module")
def scheduler(apiserver: Daemon, scheduler_metrics_port: int,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("metrics-scheduler")
    config = root / "scheduler.yaml"
    config.write_text(SCHEDULER_CONFIG)
    daemon = start_scheduler(apiserver.address, root, config=config,
                             metrics_port=scheduler_metrics_port)
    yield daemon
    daemon.stop()
    assert "Traceback" not in daemon.log.read_text()


@pytest.fixture(scope="module")
def prom(controller_manager: Daemon, scheduler: Daemon,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    root = tmp_path_factory.mktemp("prometheus-deploy")
    config = root / "prometheus.yml"
    config.write_text(render_config(
        (REPO_DEPLOY / "prometheus.yml").read_text(),
        controller_manager=controller_manager.extra["metrics"],
        rules_dir=REPO_DEPLOY / "rules", scrape_interval="1s"))
    daemon = start_prometheus(config, root / "data", root / "prometheus.log",
                              listen=f"127.0.0.1:{free_port()}")
    yield Prometheus(daemon.address, root)
    daemon.stop()


def _wait(what: str, check: Any, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def _value(prom: Prometheus, promql: str) -> float | None:
    result = prom.query(promql)
    return float(result[0]["value"][1]) if result else None


def test_every_control_plane_daemon_is_discovered_and_up(prom: Prometheus) -> None:
    def up() -> dict[str, str]:
        return {r["metric"]["job"]: r["value"][1] for r in prom.query("up")
                if r["metric"]["job"] in ("apiserver", "scheduler", "controller-manager")}

    want = {"apiserver": "1", "scheduler": "1", "controller-manager": "1"}
    _wait("up == 1 for every control-plane job", lambda: up() == want)


def _pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"schedulerName": SCHEDULER, "containers": [
                {"name": "c", "image": "jota/busybox:latest", "imagePullPolicy": "Never"}]}}


def _pod_creates_now(apiserver: Daemon) -> float:
    """The apiserver's own count of successful pod creates, read from its /metrics."""
    url = f"http://{apiserver.extra['metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=30) as r:
        text = r.read().decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "apiserver_request_total" and s.labels["verb"] == "POST"
               and s.labels["resource"] == "pods" and s.labels["code"] == "201")


async def test_pod_creates_raise_apiserver_request_total(prom: Prometheus, client: Client,
                                                         namespace: str,
                                                         apiserver: Daemon) -> None:
    promql = 'sum(apiserver_request_total{verb="POST",resource="pods",code="201"})'
    before = _pod_creates_now(apiserver)
    for i in range(3):
        await client.create("pods", _pod(f"p{i}"), namespace)
    await asyncio.to_thread(_wait, "3 more pod creates in Prometheus",
                            lambda: (_value(prom, promql) or 0.0) >= before + 3)


async def test_deployment_replicas_in_kube_state_metrics(prom: Prometheus, client: Client,
                                                         namespace: str) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "x"}},
                                 "spec": _pod("unused")["spec"]}}}
    await client.create("deployments", dep, namespace)
    promql = f'kube_deployment_spec_replicas{{namespace="{namespace}",deployment="x"}}'
    await asyncio.to_thread(_wait, "spec replicas 2", lambda: _value(prom, promql) == 2)
    await client.patch("deployments", "x", {"spec": {"replicas": 4}}, namespace)
    await asyncio.to_thread(_wait, "spec replicas 4", lambda: _value(prom, promql) == 4)
    phase = (f'sum(kube_pod_status_phase{{namespace="{namespace}",phase="Pending"}})')
    await asyncio.to_thread(_wait, "4 Pending pods of the Deployment",
                            lambda: (_value(prom, phase) or 0) >= 4)


def test_rules_are_loaded(prom: Prometheus) -> None:
    groups = prom.api("/api/v1/rules")["groups"]
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"NodeNotReady", "PodCrashLooping", "DeploymentReplicasMismatch",
            "ContainerMemoryNearLimit"} <= alerts


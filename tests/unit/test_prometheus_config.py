"""deploy/prometheus and deploy/grafana: valid for the tools, and only naming series
Jota serves. promtool is Debian's `prometheus` package (hack/install-deps.sh)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.controllers.metrics.kubestate import FAMILIES as KSM
from jota.local.prometheus import NodeTLS, render_config
from jota.metrics.workqueue import FAMILIES as WORKQUEUE

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "jota.json"

# Every series the rules and the dashboard may name: the control plane's (here), the
# node agent's (node/metrics: cAdvisor's and kubelet's names) and Prometheus' own `up`.
HISTOGRAMS = ("apiserver_request_duration_seconds", "etcd_request_duration_seconds",
              "scheduler_scheduling_attempt_duration_seconds",
              "workqueue_queue_duration_seconds", "workqueue_work_duration_seconds",
              "kubelet_pod_start_duration_seconds")
KNOWN = {*KSM, *WORKQUEUE, "apiserver_request_total", "apiserver_registered_watchers",
         "scheduler_schedule_attempts_total", "scheduler_pending_pods", "up",
         "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
         "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
         "kubelet_running_pods", "kubelet_running_containers",
         *(f"{h}{s}" for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count"))}


def promtool(*args: str, cwd: Path = PROM) -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed (Debian: prometheus; hack/install-deps.sh)"
    proc = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def test_config_is_valid() -> None:
    promtool("check", "config", "prometheus.yml")


def test_rules_are_valid() -> None:
    promtool("check", "rules", *(str(p) for p in sorted((PROM / "rules").glob("*.yml"))))


def test_alerts_fire_on_the_series_that_should_fire_them() -> None:
    out = promtool("test", "rules", "tests/alerts_test.yml")
    assert "SUCCESS" in out


def test_rendered_config_for_a_cluster_is_valid(tmp_path: Path) -> None:
    text = render_config((PROM / "prometheus.yml").read_text(),
                         controller_manager="127.0.0.1:41234", rules_dir=PROM / "rules")
    (tmp_path / "prometheus.yml").write_text(text)
    promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    config = yaml.safe_load(text)
    urls = [sd["url"] for job in config["scrape_configs"] for sd in job["http_sd_configs"]]
    assert urls and all(u.startswith("http://127.0.0.1:41234/sd/") for u in urls)


def test_each_controller_manager_of_an_ha_cluster_is_a_discovery_source(tmp_path: Path
                                                                        ) -> None:
    text = render_config((PROM / "prometheus.yml").read_text(),
                         controller_manager="127.0.0.1:10257,127.0.0.1:10267",
                         rules_dir=PROM / "rules")
    (tmp_path / "prometheus.yml").write_text(text)
    promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    for job in yaml.safe_load(text)["scrape_configs"]:
        hosts = [sd["url"].split("/")[2] for sd in job["http_sd_configs"]]
        assert hosts == ["127.0.0.1:10257", "127.0.0.1:10267"], job["job_name"]


def test_a_tls_cluster_scrapes_its_nodes_over_https_with_a_certificate(tmp_path: Path
                                                                       ) -> None:
    for name in ("ca.crt", "p.crt", "p.key"):
        (tmp_path / name).write_text("")
    text = render_config((PROM / "prometheus.yml").read_text(),
                         controller_manager="127.0.0.1:41234", rules_dir=PROM / "rules",
                         node_tls=NodeTLS(tmp_path / "ca.crt", tmp_path / "p.crt",
                                          tmp_path / "p.key"))
    (tmp_path / "prometheus.yml").write_text(text)
    promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    for name in ("kubelet", "cadvisor"):
        assert jobs[name]["scheme"] == "https"
        assert jobs[name]["tls_config"]["cert_file"] == str(tmp_path / "p.crt")
    assert "scheme" not in jobs["control-plane"]  # the daemons' /metrics stay plain HTTP


_FUNCS_AND_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and",
                    "or", "unless", "bool", "offset", "le", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (good enough for our expressions):
    strings, label matchers, grouping clauses, ranges and function calls removed."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    words = re.findall(r"(\$?[a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr)
    return {w for w, call in words
            if not call and w not in _FUNCS_AND_WORDS and not w.startswith("$")}


def _rule_exprs() -> list[str]:
    exprs = []
    for path in (PROM / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [r["expr"] for r in group["rules"]]
    return exprs


def _records() -> set[str]:
    return {r["record"] for path in (PROM / "rules").glob("*.yml")
            for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]
            if "record" in r}


def test_rules_name_only_series_jota_serves() -> None:
    for expr in _rule_exprs():
        assert metric_names(expr) <= KNOWN | _records(), expr


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out += p.get("panels") or []
    return out


def _dashboard_exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dash) for t in p.get("targets") or []]


def test_dashboard_has_what_grafana_needs() -> None:
    dash = json.loads(DASHBOARD.read_text())
    for field in ("title", "uid", "panels", "schemaVersion", "templating", "time"):
        assert field in dash, field
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in _panels(dash):
        assert p["type"] and p["title"], p
        assert set(p["gridPos"]) == {"h", "w", "x", "y"}, p["title"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), \
                p["title"]
    names = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "node", "namespace", "pod"} <= names
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert rows == ["Cluster", "Node $node", "Pod $namespace/$pod"]


def test_dashboard_names_only_series_jota_serves() -> None:
    dash = json.loads(DASHBOARD.read_text())
    for expr in _dashboard_exprs(dash):
        assert metric_names(expr) <= KNOWN, expr


def test_every_promql_expression_parses(tmp_path: Path) -> None:
    """promtool has no expression check: every dashboard query becomes a recording rule
    (Grafana's variables replaced by values), which `check rules` parses."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = _dashboard_exprs(dash) + [
        re.sub(r"label_values\(([^,]+),.*\)", r"\1", v["query"]["query"])
        for v in dash["templating"]["list"] if v["type"] == "query"]
    rules = [{"record": f"jota:dashboard_query_{i}",
              "expr": expr.replace("$__rate_interval", "5m").replace("$namespace", "ns")
              .replace("$node", ".*").replace("$pod", ".*")}
             for i, expr in enumerate(exprs)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = promtool("check", "rules", str(path), cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in out


@pytest.mark.parametrize(("expr", "want"), [
    ('sum by (phase) (kube_pod_status_phase{x="a b"})', {"kube_pod_status_phase"}),
    ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m])))", {"a_bucket"}),
    ("a / on (x) group_left b > 0.9", {"a", "b"}),
])
def test_metric_names(expr: str, want: set[str]) -> None:
    assert metric_names(expr) == want

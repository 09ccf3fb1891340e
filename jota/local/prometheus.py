"""Prometheus beside a local cluster (`jota local up --prometheus`).

`render_config` (pure) turns deploy/prometheus/prometheus.yml into the cluster's own:
its service discovery pointed at the cluster's controller-manager, its rule files
at absolute paths. `start_prometheus` runs Debian's binary on that file.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jota.local.processes import Daemon, wait_for_port

REPO_DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMETHEUS_PORT = 9090


@dataclass(frozen=True)
class NodeTLS:
    """Files of Prometheus' client certificate for HTTPS scrapes of node agents."""

    ca: Path
    cert: Path
    key: Path


def render_config(template: str, *, controller_manager: str, rules_dir: Path,
                  scrape_interval: str = "", node_tls: NodeTLS | None = None) -> str:
    """The template with every http_sd URL at `controller_manager` (HOST:PORT; with
    several comma-separated, one http_sd per controller-manager, so discovery goes on
    when one is down: Prometheus merges the same target found twice), the
    rule files under `rules_dir` and, if given, another scrape and SD refresh interval
    (the tests scrape every second). With `node_tls`, the node agents' jobs scrape
    over HTTPS with that client certificate (the agents of a TLS cluster ask for one)."""
    config: dict[str, Any] = yaml.safe_load(template)
    if scrape_interval:
        config["global"]["scrape_interval"] = scrape_interval
        config["global"]["scrape_timeout"] = scrape_interval
    config["rule_files"] = [str(rules_dir / Path(f).name) for f in config.get("rule_files")
                            or []]
    managers = [m.strip() for m in controller_manager.split(",") if m.strip()]
    for job in config.get("scrape_configs") or []:
        sds = []
        for template_sd in job.get("http_sd_configs") or []:
            path = "/" + template_sd["url"].split("://", 1)[-1].split("/", 1)[-1]
            for manager in managers:
                sd = {**template_sd, "url": f"http://{manager}{path}"}
                if scrape_interval:
                    sd["refresh_interval"] = scrape_interval
                sds.append(sd)
            if node_tls is not None and path == "/sd/nodes":
                job["scheme"] = "https"
                job["tls_config"] = {"ca_file": str(node_tls.ca),
                                     "cert_file": str(node_tls.cert),
                                     "key_file": str(node_tls.key)}
        if sds:
            job["http_sd_configs"] = sds
    header = ("# Written by `jota local up --prometheus` from deploy/prometheus/prometheus.yml"
              "\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def start_prometheus(config: Path, data_dir: Path, log: Path, *,
                     listen: str = f"127.0.0.1:{PROMETHEUS_PORT}",
                     timeout: float = 60.0) -> Daemon:
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("prometheus is not installed: run `make deps` (Debian: "
                                "prometheus)")
    data_dir.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [binary, f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
           f"--web.listen-address={listen}", "--storage.tsdb.retention.time=2d"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    host, _, port = listen.rpartition(":")
    try:
        wait_for_port(host, int(port), timeout, proc, log)
        _wait_ready(listen, timeout, proc)
    except (RuntimeError, TimeoutError) as e:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise RuntimeError(f"prometheus did not start: {e}; see {log}") from None
    return Daemon("prometheus", proc, listen, log)


def _wait_ready(listen: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    """Prometheus answers 503 until its TSDB is open: wait for /-/ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"it exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://{listen}/-/ready", timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"not ready after {timeout:.0f}s")


def write_config(root: Path, controller_manager: str, node_tls: NodeTLS | None = None
                 ) -> Path:
    """deploy/prometheus rendered for a cluster into `root` (rules copied beside it)."""
    rules = root / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for f in (REPO_DEPLOY / "rules").glob("*.yml"):
        shutil.copy(f, rules / f.name)
    path = root / "prometheus.yml"
    path.write_text(render_config((REPO_DEPLOY / "prometheus.yml").read_text(),
                                  controller_manager=controller_manager, rules_dir=rules,
                                  node_tls=node_tls))
    return path

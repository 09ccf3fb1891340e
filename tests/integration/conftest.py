"""Fixtures that start the real parts: etcd and the apiserver as processes.

Nothing here skips: a missing etcd is a failing test, because `make test`
installs it. Each test gets its own namespace, so tests share one etcd and one
apiserver without seeing each other's objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from jota.client.client import Client
from jota.local.docker import DEFAULT_SOCKET, ensure_dockerd, remove_managed_containers
from jota.local.images import build_test_image
from jota.local.processes import (
    Daemon,
    free_port,
    start_apiserver,
    start_controller_manager,
    start_etcd,
    start_node_agent,
    wait_for_port,
)
from jota.local.prometheus import start_prometheus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    root = tmp_path_factory.mktemp("etcd")
    daemon = start_etcd(root / "data")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def node_metrics_port() -> int:
    """The node agent's --metrics-port, told to the apiserver's metrics API scraper."""
    return free_port()


@pytest.fixture(scope="session")
def apiserver(etcd: Daemon, node_metrics_port: int, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Daemon]:
    logs = tmp_path_factory.mktemp("apiserver")
    daemon = start_apiserver(etcd.address, logs,
                             extra_args=["--watch-bookmark-interval", "1s",
                                         "--metric-resolution", "2s",
                                         "--node-metrics-port", str(node_metrics_port)])
    yield daemon
    daemon.stop()
    _fail_on_tracebacks(daemon)


def _fail_on_tracebacks(daemon: Daemon) -> None:
    """Bad input must never become an internal error: the log proves it."""
    text = daemon.log.read_text()
    assert "Traceback" not in text, f"{daemon.name} logged a traceback:\n{text[-4000:]}"


@pytest.fixture(scope="session")
def scheduler_metrics_port() -> int:
    """Reserved before the controller-manager starts, so that its /sd/control-plane lists
    the scheduler tests/integration/test_control_plane_metrics.py starts (issue E)."""
    return free_port()


@pytest.fixture(scope="session")
def controller_manager(apiserver: Daemon, scheduler_metrics_port: int,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    logs = tmp_path_factory.mktemp("controller-manager")
    others = (f"apiserver={apiserver.extra['metrics']},"
              f"scheduler=127.0.0.1:{scheduler_metrics_port}")
    daemon = start_controller_manager(apiserver.address, logs,
                                      extra_args=["--control-plane-metrics", others,
                                                  "--horizontal-pod-autoscaler-sync-period",
                                                  "2s"])
    yield daemon
    daemon.stop()
    _fail_on_tracebacks(daemon)


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The machine's Docker engine, started if it is not running (no skipping)."""
    ensure_dockerd()
    return DEFAULT_SOCKET


@pytest.fixture(scope="session")
def test_image(docker_engine: str) -> str:
    """jota/busybox:latest, made from Debian's static busybox with `docker import`."""
    return build_test_image(docker_engine)


NODE = "node-1"


@pytest.fixture(scope="session")
def node_agent(apiserver: Daemon, test_image: str, node_metrics_port: int,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A real jota-node running pods in the machine's Docker engine."""
    root = tmp_path_factory.mktemp("node")
    daemon = start_node_agent(apiserver.address, root, node_name=NODE, root_dir=root / "root",
                              metrics_port=node_metrics_port,
                              extra_args=["--v", "debug", "--image-pull-progress-interval", "0"])
    yield daemon
    daemon.stop(timeout=30)
    try:
        _fail_on_tracebacks(daemon)
    finally:
        # Whatever pods this session's tests left go with it (a failed check above
        # too, or they would run on); other clusters' stay.
        remove_managed_containers(cluster=asyncio.run(_cluster_id(apiserver.address)))


async def _cluster_id(server: str) -> str:
    async with Client(server) as c:
        return str((await c.get("namespaces", "kube-system"))["metadata"]["uid"])


@pytest.fixture
async def client(apiserver: Daemon) -> AsyncIterator[Client]:
    c = Client(apiserver.address, timeout=30)
    yield c
    await c.close()


@pytest.fixture
async def namespace(client: Client) -> AsyncIterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": name}})
    yield name


@dataclass
class Result:
    code: int
    out: str
    err: str


class CLI:
    """Runs `jota` as a user would: a separate process, talking to the apiserver."""

    def __init__(self, server: str, home: Path) -> None:
        self.env = {**os.environ, "JOTA_SERVER": server,
                    "JOTA_CONFIG": str(home / "config"), "HOME": str(home)}

    def __call__(self, *args: str, stdin: str | None = None, timeout: float = 60,
                 env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run([sys.executable, "-m", "jota.cli.main", *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=REPO)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        r = self(*args, stdin=stdin)
        assert r.code == 0, f"jota {' '.join(args)} failed ({r.code}):\n{r.out}\n{r.err}"
        return r.out

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "jota.cli.main", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=REPO)


@pytest.fixture
def jota(apiserver: Daemon, tmp_path: Path) -> CLI:
    return CLI(apiserver.address, tmp_path)


# The test registry's one account (issue B: pulls with imagePullSecrets).
USER = "jota"
PASSWORD = "s3cret-pull"


@dataclass
class Registry:
    address: str
    image: str

    @property
    def auth(self) -> dict[str, str]:
        return {"username": USER, "password": PASSWORD, "serveraddress": self.address}


@pytest.fixture(scope="session")
def registry(test_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A password-protected registry on 127.0.0.1 holding test/busybox:1 (not local)."""
    root = tmp_path_factory.mktemp("registry")
    htpasswd = subprocess.run([_which("htpasswd"), "-Bbn", USER, PASSWORD], check=True,
                              capture_output=True, text=True).stdout
    (root / "htpasswd").write_text(htpasswd)
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = {"version": 0.1, "log": {"level": "warn"},
              "storage": {"filesystem": {"rootdirectory": str(root / "data")},
                          "delete": {"enabled": True}},
              "http": {"addr": address},
              "auth": {"htpasswd": {"realm": "jota-test", "path": str(root / "htpasswd")}}}
    (root / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    log = root / "registry.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([_which("docker-registry"), "serve", str(root / "config.yml")],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    api = docker.APIClient()
    reg = Registry(address, f"{address}/test/busybox:1")
    try:
        wait_for_port("127.0.0.1", port, 30, proc, log)
        repository = reg.image.rsplit(":", 1)[0]
        api.tag(test_image, repository, "1")
        for item in api.push(repository, tag="1", stream=True, decode=True,
                             auth_config=reg.auth):
            assert not item.get("error"), item
        untag(api, reg.image)
        yield reg
    finally:
        untag(api, reg.image)
        api.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _which(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (hack/install-deps.sh installs it)"
    return path


def untag(api: Any, image: str) -> None:
    """Drop the registry tag (the layers stay: jota/busybox shares them)."""
    with contextlib.suppress(docker.errors.NotFound):
        api.remove_image(image, force=True)


# ---- Prometheus (issue E): a real one, scraping what the tests point it at -------------------


@dataclass
class Prometheus:
    """A Prometheus server on loopback; targets come from file_sd files, so tests (and
    other fixtures) add scrape targets while it runs."""

    address: str  # "127.0.0.1:<port>"
    sd_dir: Path

    def add_targets(self, job: str, targets: list[str], *, metrics_path: str = "/metrics",
                    labels: dict[str, str] | None = None) -> None:
        """Scrape `targets` ("host:port") at `metrics_path` every second as job `job`;
        writing the same job again replaces its targets."""
        group = {"targets": targets,
                 "labels": {"job": job, "__metrics_path__": metrics_path, **(labels or {})}}
        tmp = self.sd_dir / f".{job}.json.tmp"
        tmp.write_text(json.dumps([group]))
        tmp.rename(self.sd_dir / f"{job}.json")  # atomic, as file_sd wants

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"http://{self.address}{path}?{query}", timeout=30) as r:
            body = json.loads(r.read())
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {labels}, "value": [time, "value"]}]."""
        return list(self.api("/api/v1/query", query=promql)["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/targets")["activeTargets"])


PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: file-sd
    file_sd_configs:
      - files: ["{sd_dir}/*.json"]
        refresh_interval: 1s
"""


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Debian's prometheus, on a free loopback port with its own TSDB in tmp."""
    root = tmp_path_factory.mktemp("prometheus")
    sd_dir = root / "sd"
    sd_dir.mkdir()
    config = root / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(sd_dir=sd_dir))
    daemon = start_prometheus(config, root / "data", root / "prometheus.log",
                              listen=f"127.0.0.1:{free_port()}")
    yield Prometheus(daemon.address, sd_dir)
    daemon.stop()

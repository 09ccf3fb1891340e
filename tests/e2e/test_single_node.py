"""`jota local up` with no flags, what a new user types first: one node on this machine's
own Docker engine, the example app behind an Ingress, and `down` taking it all away.

It makes a cluster of its own, so it runs before every other e2e test (conftest.py
orders it first), while the shared multi-node cluster is not up yet.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import docker
import pytest

from jota.local.docker import DEFAULT_SOCKET, answers

ROOT = Path(__file__).resolve().parents[2]
NODE = "jota-local-1"


def page_through_the_ingress() -> str:
    """GET http://web.example.test/ from this machine's nginx, as curl --resolve does."""
    request = urllib.request.Request("http://127.0.0.1/", headers={"Host": "web.example.test"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.read().decode())


def host_nat_rules() -> str:
    return subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True,
                          text=True, check=True).stdout


def containers_of(namespace: str) -> list[str]:
    api = docker.DockerClient(base_url=DEFAULT_SOCKET, timeout=30)
    try:
        return [c.name for c in api.containers.list(all=True, filters={
            "label": f"io.kubernetes.pod.namespace={namespace}"})]
    finally:
        api.close()


def test_the_default_cluster_runs_the_example_app_and_goes_away(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "JOTA_LOCAL_DIR": str(tmp_path / "local")}

    def jota(*args: str, timeout: float = 120.0) -> str:
        done = subprocess.run([sys.executable, "-m", "jota.cli.main", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert done.returncode == 0, f"jota {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    assert "KUBE-SERVICES" not in host_nat_rules(), "a jota-proxy already runs here"
    try:
        up = jota("local", "up", timeout=300)
        assert f"Node {NODE} joined with a bootstrap token" in up
        assert "context \"jota-local\" written to" in up
        # It ends with the nodes, as `jota get nodes -o wide` shows them.
        assert re.search(rf"^NAME +STATUS +ROLES .+INTERNAL-IP.*\n{NODE} +Ready +", up, re.M), up
        assert jota("get", "nodes", "--no-headers").split()[:2] == [NODE, "Ready"]

        jota("apply", "-f", "examples/")
        assert 'deployment "web" successfully rolled out' in jota(
            "rollout", "status", "deploy/web", "--timeout", "180s", timeout=200)
        rows = [r.split() for r in jota("get", "pods", "-o", "wide", "--no-headers")
                .splitlines()]
        assert len(rows) == 3 and all(r[2] == "Running" and r[6] == NODE for r in rows)
        assert "Hello from Jota" in page_through_the_ingress()
        assert containers_of("default"), "the pods' containers run on this machine's engine"
    finally:
        down = jota("local", "down")
    assert "The local cluster is down." in down
    assert containers_of("default") == []
    assert "KUBE-SERVICES" not in host_nat_rules()  # jota-proxy's rules are gone too
    assert not (tmp_path / "local").exists()
    assert answers(DEFAULT_SOCKET)


@pytest.fixture(autouse=True)
def _no_shared_cluster_yet() -> None:
    """The shared cluster's ingress would hold port 80: this test must run first."""
    assert not Path("/run/jota0").exists(), "the shared e2e cluster is up already"

"""`jota create`: objects built from flags as kubectl builds them, and create -f."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import _generators as gen
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli

DEPLOY_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: web, image: nginx}]
"""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    return install(monkeypatch, tmp_path)


@pytest.mark.parametrize(("image", "name"), [
    ("nginx", "nginx"),
    ("nginx:1.25", "nginx"),
    ("registry.local:5000/team/web:v2", "web"),
    ("busybox@sha256:abc", "busybox"),
])
def test_container_named_after_image_base_name(image: str, name: str) -> None:
    assert gen.container_name(image) == name


def test_container_name_sanitized_with_suffix() -> None:
    name = gen.container_name("my_app:1")
    assert name.startswith("my-app-") and len(name) == len("my-app-") + 5


def test_deployment_shape() -> None:
    d = gen.deployment("web", ["nginx:1.25"], replicas=3, port=8080)
    assert d["metadata"] == {"name": "web", "labels": {"app": "web"}}
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert d["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
    assert d["spec"]["template"]["spec"]["containers"] == [
        {"image": "nginx:1.25", "name": "nginx", "resources": {},
         "ports": [{"containerPort": 8080}]}]


@pytest.mark.parametrize(("spec", "port"), [
    ("80:8080", {"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}),
    ("80", {"name": "80", "port": 80, "protocol": "TCP", "targetPort": 80}),
    ("443:https", {"name": "443-https", "port": 443, "protocol": "TCP",
                   "targetPort": "https"}),
])
def test_parse_tcp(spec: str, port: dict[str, Any]) -> None:
    assert gen.parse_tcp(spec) == port


def test_configmap_from_literal_file_and_dir(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.txt").write_text("A")
    (tmp_path / "conf" / "b.bin").write_bytes(b"\xff\x00")
    (tmp_path / "conf" / "sub").mkdir()
    (tmp_path / "game.properties").write_text("lives=3")
    pairs = gen.read_sources(["k=v=w"], [str(tmp_path / "conf"),
                                         f"cfg={tmp_path / 'game.properties'}"])
    cm = gen.configmap("settings", pairs)
    assert cm["data"] == {"a.txt": "A", "cfg": "lives=3", "k": "v=w"}
    assert cm["binaryData"] == {"b.bin": base64.b64encode(b"\xff\x00").decode()}


@pytest.mark.parametrize(("literals", "files", "message"), [
    (["novalue"], [], "invalid literal source novalue, expected key=value"),
    (["a=1", "a=2"], [], 'cannot add key "a", another key by that name already exists in '
                         'Data for ConfigMap "c"'),
    ([], ["=path"], "key name for file path path missing"),
    ([], ["key="], "file path for key name key missing"),
    ([], ["a=b=c"], "key names or file paths cannot contain '='"),
    ([], ["/no/such/file"], "error reading /no/such/file: no such file or directory"),
    (["bad key=1"], [], '"bad key" is not a valid key name for a ConfigMap'),
])
def test_configmap_errors(literals: list[str], files: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        gen.configmap("c", gen.read_sources(literals, files))
    assert str(info.value).startswith(message)


def test_secret_values_are_base64() -> None:
    s = gen.secret("db", [("password", b"s3cret")], "Opaque")
    assert s["data"] == {"password": base64.b64encode(b"s3cret").decode()}
    assert s["type"] == "Opaque"


def test_create_file_prints_created(fake: FakeClient, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY_YAML)
    assert run_cli(["create", "-f", str(f)]) == 0
    assert capsys.readouterr().out == "deployment.apps/web created\n"
    assert fake.stored("deployments", "web")["metadata"]["namespace"] == "default"


def test_create_existing_fails_in_kubectl_words(fake: FakeClient, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "web.yaml"
    f.write_text(DEPLOY_YAML)
    run_cli(["create", "-f", str(f)])
    capsys.readouterr()
    assert run_cli(["create", "-f", str(f)]) == 1
    assert capsys.readouterr().err == (
        f'Error from server (AlreadyExists): error when creating "{f}": '
        'deployments.apps "web" already exists\n')


def test_create_namespace_and_configmap(fake: FakeClient,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["create", "namespace", "team"]) == 0
    assert run_cli(["create", "configmap", "cfg", "--from-literal=a=1", "-n", "team"]) == 0
    assert capsys.readouterr().out == "namespace/team created\nconfigmap/cfg created\n"
    assert fake.stored("configmaps", "cfg", "team")["data"] == {"a": "1"}


def test_client_dry_run_never_calls_the_server(fake: FakeClient,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli(["create", "secret", "generic", "db", "--from-literal=user=admin",
                    "--type=Opaque", "--dry-run=client", "-o", "json"])
    assert code == 0 and fake.calls == []
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"apiVersion": "v1", "data": {"user": "YWRtaW4="}, "kind": "Secret",
                   "metadata": {"name": "db"}, "type": "Opaque"}


@pytest.mark.parametrize(("argv", "out"), [
    (["create", "deployment", "web", "--image=nginx", "-o", "name"], "deployment.apps/web\n"),
    (["create", "deployment", "web", "--image=nginx", "--dry-run=server"],
     "deployment.apps/web created (server dry run)\n"),
    (["create", "service", "nodeport", "web", "--tcp=80:8080", "--node-port=30080"],
     "service/web created\n"),
    (["create", "sa", "robot"], "serviceaccount/robot created\n"),
])
def test_create_outputs(fake: FakeClient, capsys: pytest.CaptureFixture[str],
                        argv: list[str], out: str) -> None:
    assert run_cli(argv) == 0
    assert capsys.readouterr().out == out


def test_create_deployment_command_after_dash(fake: FakeClient) -> None:
    run_cli(["create", "deployment", "job", "--image=busybox", "--replicas=2", "--",
             "sleep", "3600"])
    d = fake.stored("deployments", "job")
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "3600"]


def test_create_deployment_needs_image(fake: FakeClient,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["create", "deployment", "web"]) == 1
    assert capsys.readouterr().err == 'error: required flag(s) "image" not set\n'

"""The one file shape for the CLI and daemons: server plus kubeconfig credentials."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
import yaml

from jota import pki
from jota.client import kubeconfig
from jota.client.kubeconfig import ConfigError, Credentials


@pytest.fixture(scope="module")
def creds() -> Credentials:
    ca = pki.new_ca()
    pair = pki.issue(ca, "system:kube-scheduler")
    return Credentials(ca.cert, pair.cert, pair.key)


def test_a_written_file_reads_back_and_is_private(tmp_path: Path, creds: Credentials) -> None:
    path = tmp_path / "scheduler.conf"
    kubeconfig.write(path, "10.0.0.1:6443", creds, name="jota")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kubeconfig.load(path) == ("10.0.0.1:6443", creds)
    doc = yaml.safe_load(path.read_text())
    settings = doc["contexts"][0]["context"]
    assert base64.b64decode(settings["certificate-authority-data"]) == creds.ca


def test_files_are_read_relative_to_the_config(tmp_path: Path, creds: Credentials) -> None:
    (tmp_path / "pki").mkdir()
    for name, data in (("ca.crt", creds.ca), ("me.crt", creds.cert), ("me.key", creds.key)):
        (tmp_path / "pki" / name).write_bytes(data)
    settings = {"certificate-authority": "pki/ca.crt", "client-certificate": "pki/me.crt",
                "client-key": "pki/me.key"}
    assert kubeconfig.credentials_of(settings, tmp_path) == creds


def test_plaintext_when_no_ca_is_given() -> None:
    assert Credentials().channel() is None
    assert not Credentials().tls


@pytest.mark.parametrize(("settings", "message"), [
    ({"client-certificate-data": "eA=="}, "client-certificate and client-key must be given"),
    ({"token": "abcdef.0123456789abcdef"}, "certificate-authority is required"),
    ({"certificate-authority-data": "!!"}, "certificate-authority-data: not base64"),
    ({"certificate-authority": "/nonexistent/ca.crt"},
     "certificate-authority: No such file or directory: /nonexistent/ca.crt"),
])
def test_bad_settings_name_the_field(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        kubeconfig.credentials_of(settings)


def test_a_file_without_its_context_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.write_text("current-context: x\ncontexts: []\n")
    with pytest.raises(ConfigError, match="no current context"):
        kubeconfig.load(path)
    with pytest.raises(ConfigError, match="No such file"):
        kubeconfig.load(tmp_path / "absent")

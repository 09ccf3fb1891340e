"""`jota cp` to and from a real container, through the apiserver's exec stream."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jota.client.client import Client
from tests.integration.conftest import CLI
from tests.integration.node_helpers import container, pod, wait_running

pytestmark = pytest.mark.usefixtures("node_agent")


async def test_a_directory_goes_in_and_comes_back_the_same(client: Client, namespace: str,
                                                           jota: CLI, tmp_path: Path) -> None:
    await client.create("pods", pod("box", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "box", namespace)
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    (src / "index.html").write_text("<h1>hello</h1>\n")
    (src / "css" / "main.css").write_text("body { color: red }\n")
    blob = os.urandom(300_000)
    (src / "blob.bin").write_bytes(blob)
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o755)

    jota.ok("cp", str(src), f"{namespace}/box:/srv")
    # In the container: the tree as sent, the mode kept.
    listing = jota.ok("exec", "-n", namespace, "box", "--", "sh", "-c",
                      "cat /srv/index.html /srv/css/main.css; ls -l /srv/run.sh; "
                      "wc -c < /srv/blob.bin")
    assert "<h1>hello</h1>" in listing and "color: red" in listing
    assert "-rwxr-xr-x" in listing and "300000" in listing

    # Into an existing directory, a file keeps its name.
    jota.ok("cp", str(src / "index.html"), "box:/tmp", "-n", namespace)
    assert jota.ok("exec", "-n", namespace, "box", "--", "cat", "/tmp/index.html") == \
        "<h1>hello</h1>\n"

    back = tmp_path / "back"
    result = jota("cp", "-n", namespace, "box:/srv", str(back))
    assert result.code == 0, result.err
    assert "Removing leading" in result.err
    assert (back / "index.html").read_text() == "<h1>hello</h1>\n"
    assert (back / "css" / "main.css").read_text() == "body { color: red }\n"
    assert (back / "blob.bin").read_bytes() == blob
    assert os.access(back / "run.sh", os.X_OK)


async def test_errors_read_as_kubectl_s(client: Client, namespace: str, jota: CLI,
                                        tmp_path: Path) -> None:
    await client.create("pods", pod("box2", container("main", "sleep", "3600")), namespace)
    await wait_running(client, "box2", namespace)
    missing = jota("cp", "-n", namespace, "box2:/no/such/file", str(tmp_path / "x"))
    assert missing.code != 0
    assert "No such file or directory" in missing.err
    assert not (tmp_path / "x").exists()
    both_local = jota("cp", str(tmp_path), str(tmp_path / "y"))
    assert both_local.code == 1
    assert both_local.err == "error: one of src or dest must be a remote file specification\n"
    gone = jota("cp", "-n", namespace, str(tmp_path), "nosuchpod:/tmp")
    assert gone.code == 1
    assert gone.err == 'Error from server (NotFound): pods "nosuchpod" not found\n'

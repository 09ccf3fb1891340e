"""`jota logs`, `jota exec` and `jota port-forward` end to end.

The CLI talks only to the apiserver, which proxies each stream to the node
agent's own gRPC service; the agent serves it from Docker. Real etcd,
apiserver, dockerd and agent (the `node_agent` fixture); pods name their node.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from jota.api import errors
from jota.client import streams
from jota.client.client import Client
from jota.local.processes import free_port
from tests.integration.conftest import CLI, REPO
from tests.integration.node_helpers import (
    container,
    container_status,
    eventually,
    pod,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")

# stdout and stderr reach the log through two pipes: a pause keeps their order certain.
LINES = "for i in 1 2 3 4 5; do echo line $i; done; sleep 2; echo oops >&2; sleep 3600"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 1$")


async def _running(client: Client, namespace: str, name: str, *containers: dict[str, Any],
                   labels: dict[str, str] | None = None) -> None:
    manifest = pod(name, *containers)
    if labels:
        manifest["metadata"]["labels"] = labels
    await client.create("pods", manifest, namespace)
    await wait_running(client, name, namespace)


async def _readline(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stdout is not None
    return await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)


async def test_logs_tail_timestamps_selector_and_errors(client: Client, namespace: str,
                                                        jota: CLI):
    await _running(client, namespace, "web", container("main", "sh", "-c", LINES),
                   labels={"app": "web"})
    expected = "".join(f"line {i}\n" for i in range(1, 6)) + "oops\n"
    seen: list[str] = []

    async def complete() -> bool:
        seen.append((await asyncio.to_thread(jota, "logs", "-n", namespace, "web")).out)
        return seen[-1] == expected

    try:
        await eventually(complete, what="all lines")
    except AssertionError:
        raise AssertionError(f"the log never read {expected!r}; last: {seen[-1:]!r}") from None
    assert jota.ok("logs", "-n", namespace, "web", "--tail", "2") == "line 5\noops\n"
    assert jota.ok("logs", "-n", namespace, "pod/web", "-c", "main", "--tail=1") == "oops\n"
    first = jota.ok("logs", "-n", namespace, "web", "--timestamps").splitlines()[0]
    assert STAMP.match(first), first
    assert jota.ok("logs", "-n", namespace, "-l", "app=web", "--prefix", "--tail", "1") == \
        "[pod/web/main] oops\n"
    assert jota.ok("logs", "-n", namespace, "web", "--since", "1h").startswith("line 1\n")
    await client.create("services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, namespace)
    assert jota.ok("logs", "-n", namespace, "svc/web", "--tail", "1") == "oops\n"

    missing = jota("logs", "-n", namespace, "nope")
    assert missing.code == 1
    assert missing.err == 'Error from server (NotFound): pods "nope" not found\n'
    bad = jota("logs", "-n", namespace, "web", "-c", "other")
    assert bad.err == "Error from server (BadRequest): container other is not valid for " \
                      "pod web\n"
    none = jota("logs", "-n", namespace, "web", "--previous")
    assert none.err == 'Error from server (BadRequest): previous terminated container "main" ' \
                       'in pod "web" not found\n'


async def test_logs_needs_a_container_name_when_there_are_several(client: Client,
                                                                   namespace: str, jota: CLI):
    await _running(client, namespace, "two", container("a", "sh", "-c", "echo from-a; sleep 3600"),
                   container("b", "sh", "-c", "echo from-b; sleep 3600"))
    r = jota("logs", "-n", namespace, "two")
    assert r.code == 1
    assert r.err == ("Error from server (BadRequest): a container name must be specified for "
                     "pod two, choose one of: [a b]\n")
    assert jota.ok("logs", "-n", namespace, "two", "-c", "b") == "from-b\n"
    assert jota.ok("logs", "-n", namespace, "two", "a") == "from-a\n"


async def test_logs_follow_sees_a_new_line(client: Client, namespace: str, jota: CLI):
    script = "echo first; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo second; sleep 3600"
    await _running(client, namespace, "tail", container("main", "sh", "-c", script))
    proc = jota.popen("logs", "-f", "-n", namespace, "tail")
    try:
        assert await _readline(proc) == "first\n"
        jota.ok("exec", "-n", namespace, "tail", "--", "touch", "/tmp/go")
        assert await _readline(proc) == "second\n"
        assert proc.poll() is None  # still following
    finally:
        proc.kill()
        proc.wait()


async def test_logs_previous_after_a_crash(client: Client, namespace: str, jota: CLI):
    script = ("n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; "
              "echo attempt $n; sleep 5; exit 1")
    manifest = pod("crash", container("main", "sh", "-c", script,
                                      volumeMounts=[{"name": "data", "mountPath": "/data"}]),
                   volumes=[{"name": "data", "emptyDir": {}}])
    await client.create("pods", manifest, namespace)

    async def restarted() -> bool:
        cs = await container_status(client, "crash", namespace)
        return cs.get("restartCount", 0) >= 1 and bool(
            (cs.get("lastState") or {}).get("terminated", {}).get("containerID"))

    await eventually(restarted, timeout=120, what="a restart")
    cs = await container_status(client, "crash", namespace)
    previous = jota.ok("logs", "-n", namespace, "crash", "--previous")
    assert previous == f"attempt {cs['restartCount']}\n"


async def test_exec_streams_output_and_passes_the_exit_code(client: Client, namespace: str,
                                                             jota: CLI):
    await _running(client, namespace, "box", container("main", "sleep", "3600"))
    r = jota("exec", "-n", namespace, "box", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.code == 3
    assert r.out == "out\n"
    assert r.err == "err\ncommand terminated with exit code 3\n"
    assert jota.ok("exec", "-n", namespace, "box", "--", "hostname") == "box\n"

    piped = jota("exec", "-i", "-n", namespace, "box", "--", "sh", "-c",
                 "read a; read b; echo got $b $a", stdin="one\ntwo\n")
    assert (piped.code, piped.out) == (0, "got two one\n")
    echoed = jota("exec", "-i", "-n", namespace, "box", "--", "cat", stdin="x" * 100_000)
    assert echoed.out == "x" * 100_000
    warned = jota("exec", "-it", "-n", namespace, "box", "--", "cat", stdin="hi\n")
    assert (warned.code, warned.out) == (0, "hi\n")
    assert warned.err == "Unable to use a TTY - input is not a terminal or the right kind " \
                         "of file\n"

    missing = jota("exec", "-n", namespace, "nope", "--", "true")
    assert missing.err == 'Error from server (NotFound): pods "nope" not found\n'
    no_command = jota("exec", "-n", namespace, "box")
    assert no_command.err.startswith("error: you must specify at least one command")


async def test_exec_through_the_client_library(client: Client, namespace: str):
    await _running(client, namespace, "lib", container("main", "sleep", "3600"))
    session = await streams.exec_(client, namespace, "lib", ["sh", "-c", "cat; exit 7"],
                                  stdin=True)
    await session.write(b"ping\n")
    await session.close_stdin()
    out = [data async for _, data in session.output()]
    assert (b"".join(out), session.exit_code) == (b"ping\n", 7)
    chunks = [c async for c in streams.logs(client, namespace, "lib")]
    assert chunks == []
    with pytest.raises(errors.NotFound):
        [c async for c in streams.logs(client, namespace, "absent")]


async def test_port_forward_reaches_an_httpd_in_the_pod(client: Client, namespace: str,
                                                        jota: CLI):
    script = "mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -f -p 80 -h /www"
    await _running(client, namespace, "httpd", container(
        "main", "sh", "-c", script, ports=[{"name": "http", "containerPort": 80}]))
    local = free_port()
    proc = jota.popen("port-forward", "-n", namespace, "httpd", f"{local}:http")
    try:
        assert await _readline(proc) == f"Forwarding from 127.0.0.1:{local} -> 80\n"

        def fetch() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=10) as r:
                return str(r.read().decode())

        assert await asyncio.to_thread(fetch) == "hello-from-pod\n"
        assert await asyncio.to_thread(fetch) == "hello-from-pod\n"  # a second connection
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
    assert code == 0
    assert proc.stdout is not None
    assert f"Handling connection for {local}" in proc.stdout.read()

    closed = jota("port-forward", "-n", namespace, "httpd", "9:nope")
    assert closed.err == "error: Pod 'httpd' does not have a named port 'nope'\n"


async def test_exec_with_a_terminal(client: Client, namespace: str, jota: CLI):
    await _running(client, namespace, "term", container("main", "sleep", "3600"))
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jota.cli.main", "exec", "-it", "-n", namespace, "term", "--",
         "sh", "-c", "tty; read x; echo got-$x; exit 4"],
        stdin=slave, stdout=slave, stderr=slave, env=jota.env, cwd=REPO)
    os.close(slave)
    seen = b""
    try:
        while b"/dev/pts" not in seen:
            seen += await asyncio.wait_for(asyncio.to_thread(os.read, master, 4096), 30)
        os.write(master, b"abc\r")
        while proc.poll() is None or b"exit code" not in seen:
            try:
                seen += await asyncio.wait_for(asyncio.to_thread(os.read, master, 4096), 30)
            except OSError:  # the terminal closed with the process
                break
    finally:
        os.close(master)
        code = proc.wait(10)
    assert code == 4
    assert b"got-abc" in seen
    assert b"command terminated with exit code 4" in seen

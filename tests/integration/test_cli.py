"""The `jota` command end to end, as a separate process against a real apiserver."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import CLI

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: frontend}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: httpd
          image: busybox:1.36
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "web.yaml"
    path.write_text(DEPLOY)
    return path


def test_apply_create_unchanged_configured(jota: CLI, namespace: str, manifest: Path):
    assert jota.ok("apply", "-f", str(manifest), "-n", namespace) == \
        "deployment.apps/web created\n"
    assert jota.ok("apply", "-f", str(manifest), "-n", namespace) == \
        "deployment.apps/web unchanged\n"
    manifest.write_text(DEPLOY.replace("replicas: 2", "replicas: 3"))
    assert jota.ok("apply", "-f", str(manifest), "-n", namespace) == \
        "deployment.apps/web configured\n"
    assert jota.ok("get", "deploy", "web", "-n", namespace, "-o",
                   "jsonpath={.spec.replicas}") == "3\n"


def test_apply_removes_what_left_the_manifest_and_keeps_what_others_set(
        jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    assert jota.ok("label", "deploy", "web", "owner=ops", "-n", namespace) == \
        "deployment.apps/web labeled\n"
    # The manifest drops env B and the tier label.
    manifest.write_text(DEPLOY.replace('            - {name: B, value: "2"}\n', "")
                        .replace(", tier: frontend", ""))
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    live = json.loads(jota.ok("get", "deploy/web", "-n", namespace, "-o", "json"))
    assert live["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"}]
    assert live["metadata"]["labels"] == {"app": "web", "owner": "ops"}


def test_get_tables_and_formats(jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    table = jota.ok("get", "deployments", "-n", namespace).splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    # No node runs these pods: READY stays 0/2 whatever the controllers have done.
    assert table[1].split()[:2] == ["web", "0/2"]
    wide = jota.ok("get", "deploy", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert jota.ok("get", "deploy", "-n", namespace, "-o", "name") == \
        "deployment.apps/web\n"
    doc = yaml.safe_load(jota.ok("get", "deploy", "web", "-n", namespace, "-o", "yaml"))
    assert doc["kind"] == "Deployment" and doc["metadata"]["name"] == "web"
    labels = jota.ok("get", "deploy", "-n", namespace, "--show-labels").splitlines()
    assert labels[1].split()[-1] == "app=web,tier=frontend"
    cols = jota.ok("get", "deploy", "-n", namespace, "-o",
                   "custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec."
                   "containers[*].image").splitlines()
    assert [c.split() for c in cols] == [["NAME", "IMAGE"], ["web", "busybox:1.36"]]
    assert namespace in jota.ok("get", "deploy", "-A")
    assert jota.ok("get", "deploy", "-n", namespace, "-l", "tier=frontend",
                   "-o", "name") == "deployment.apps/web\n"
    r = jota("get", "deploy", "-n", namespace, "-l", "tier=backend")
    assert (r.code, r.out, r.err) == (0, "", f"No resources found in {namespace} namespace.\n")


def test_errors_in_kubectls_words(jota: CLI, namespace: str):
    r = jota("get", "pods", "nope", "-n", namespace)
    assert (r.code, r.err) == (1, 'Error from server (NotFound): pods "nope" not found\n')
    r = jota("get", "bogus")
    assert r.code == 1
    # Client-side, as kubectl's (its discovery knows no such type): no "from server".
    assert r.err == 'error: the server doesn\'t have a resource type "bogus"\n'
    bad = textwrap.dedent("""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: bad}
        spec:
          replicas: -1
          selector: {matchLabels: {app: bad}}
          template:
            metadata: {labels: {app: bad}}
            spec: {containers: [{name: c, image: busybox}]}
        """)
    r = jota("apply", "-f", "-", "-n", namespace, stdin=bad)
    assert r.code == 1
    assert r.err == ('Error from server (Invalid): Deployment "bad" is invalid: '
                     "spec.replicas: Invalid value: -1: must be greater than or equal to 0\n")
    r = jota("get", "pods", "--server", "127.0.0.1:1")
    assert r.code == 1 and "The connection to the server 127.0.0.1:1 was refused" in r.err


def test_describe_shows_the_object(jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    out = jota.ok("describe", "deploy", "web", "-n", namespace)
    assert out.startswith("Name:                   web\n")
    assert "Replicas:               2 desired | " in out
    assert " | 0 available | " in out
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in out


def test_delete_by_name_file_and_label(jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    assert jota.ok("delete", "-f", str(manifest), "-n", namespace) == \
        'deployment.apps "web" deleted\n'
    jota.ok("create", "configmap", "a", "--from-literal=k=v", "-n", namespace)
    jota.ok("label", "cm", "a", "group=x", "-n", namespace)
    assert jota.ok("delete", "cm", "-l", "group=x", "-n", namespace) == \
        'configmap "a" deleted\n'
    r = jota("delete", "cm", "a", "-n", namespace)
    assert (r.code, r.err) == (1, 'Error from server (NotFound): configmaps "a" not found\n')


def test_get_watch_prints_changes(jota: CLI, namespace: str):
    jota.ok("create", "configmap", "w", "--from-literal=k=v", "-n", namespace)
    proc = jota.popen("get", "cm", "-w", "-n", namespace)
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert header.split() == ["NAME", "DATA", "AGE"]
        assert proc.stdout.readline().split()[:2] == ["w", "1"]
        time.sleep(0.5)
        jota.ok("create", "configmap", "w2", "--from-literal=a=1",
                "--from-literal=b=2", "-n", namespace)
        assert proc.stdout.readline().split()[:2] == ["w2", "2"]
        jota.ok("delete", "cm", "w2", "-n", namespace)
        assert proc.stdout.readline().split()[:2] == ["w2", "2"]
    finally:
        proc.kill()
        proc.wait()


def test_get_all_and_empty_namespace(jota: CLI, namespace: str, manifest: Path):
    r = jota("get", "all", "-n", namespace)
    assert (r.code, r.out, r.err) == (0, "", f"No resources found in {namespace} namespace.\n")
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    out = jota.ok("get", "all", "-n", namespace)
    assert "deployment.apps/web" in out


def test_config_contexts_choose_the_server(jota: CLI, apiserver, tmp_path: Path):
    env = {"JOTA_SERVER": ""}
    jota.ok("config", "set-context", "mine", "--server", apiserver.address,
            "--namespace", "kube-system")
    assert jota("config", "use-context", "mine", env=env).out == \
        'Switched to context "mine".\n'
    r = jota("get", "ns", "kube-system", "-o", "name", env=env)
    assert r.out == "namespace/kube-system\n"


def test_edit_with_an_editor(jota: CLI, namespace: str, manifest: Path, tmp_path: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 5/' \"$1\"\n")
    editor.chmod(0o755)
    r = jota("edit", "deploy/web", "-n", namespace, env={"EDITOR": str(editor)})
    assert (r.code, r.out) == (0, "deployment.apps/web edited\n"), r.err
    assert jota.ok("get", "deploy", "web", "-n", namespace, "-o",
                   "jsonpath={.spec.replicas}") == "5\n"
    noop = tmp_path / "noop.sh"
    noop.write_text("#!/bin/sh\nexit 0\n")
    noop.chmod(0o755)
    r = jota("edit", "deploy/web", "-n", namespace, env={"EDITOR": str(noop)})
    assert r.code == 0 and "Edit cancelled, no changes made." in r.out + r.err


def test_diff_shows_what_apply_would_change(jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    r = jota("diff", "-f", str(manifest), "-n", namespace)
    assert (r.code, r.out) == (0, "")
    manifest.write_text(DEPLOY.replace("replicas: 2", "replicas: 4"))
    r = jota("diff", "-f", str(manifest), "-n", namespace)
    assert r.code == 1
    assert "-  replicas: 2" in r.out and "+  replicas: 4" in r.out
    # Nothing was changed by diff.
    assert jota.ok("get", "deploy", "web", "-n", namespace, "-o",
                   "jsonpath={.spec.replicas}") == "2\n"


def test_wait_patch_and_scale(jota: CLI, namespace: str, manifest: Path):
    jota.ok("apply", "-f", str(manifest), "-n", namespace)
    waiter = jota.popen("wait", "deploy/web", "-n", namespace,
                        "--for=jsonpath={.spec.replicas}=7", "--timeout=60s")
    time.sleep(1)
    assert jota.ok("scale", "deploy/web", "--replicas=7", "-n", namespace) == \
        "deployment.apps/web scaled\n"
    out, err = waiter.communicate(timeout=60)
    assert (waiter.returncode, out) == (0, "deployment.apps/web condition met\n"), err
    assert jota.ok("patch", "deploy", "web", "-n", namespace, "--type=merge", "-p",
                   '{"spec":{"replicas":1}}') == "deployment.apps/web patched\n"
    r = jota("wait", "deploy/web", "-n", namespace, "--for=condition=Available",
             "--timeout=2s")
    assert r.code == 1
    assert r.err == "error: timed out waiting for the condition on deployments/web\n"


def test_discovery_explain_version(jota: CLI):
    resources = jota.ok("api-resources").splitlines()
    assert resources[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert any(line.split()[:5] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
               for line in resources)
    explained = jota.ok("explain", "deploy.spec.replicas")
    assert "FIELD: replicas <integer>" in explained
    assert jota.ok("version").startswith("Client Version: v0.1.0\nServer Version: v0.1.0")


def test_get_sorts_by_a_field(jota: CLI, namespace: str):
    for name, rank in (("mid", "2"), ("last", "10"), ("first", "1")):
        jota.ok("create", "configmap", name, f"--from-literal=rank={rank}", "-n", namespace)
    out = jota.ok("get", "configmaps", "-n", namespace, "--sort-by=.data.rank", "-o", "name")
    names = [line for line in out.splitlines() if line != "configmap/kube-root-ca.crt"]
    assert names == ["configmap/first", "configmap/mid", "configmap/last"]
    bad = jota("get", "configmaps", "-n", namespace, "--sort-by={.data[")
    assert bad.code == 1 and bad.err.startswith("error: couldn't parse --sort-by")

"""`jota cordon|uncordon|drain`: kubectl's filters, PodDisruptionBudget arithmetic and
output words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jota.cli.commands import cordon
from jota.cli.commands.cordon import (
    filter_pods,
)
from tests.unit.fakeclient import FakeClient, install, run_cli


def pod(name: str, *, owner: str | None = "ReplicaSet", ready: bool = True,
        labels: dict[str, str] | None = None, node: str = "n1", emptydir: bool = False,
        phase: str = "Running", mirror: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "default", "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner, "name": "o",
                                  "uid": "u", "controller": True}]
    if mirror:
        md["annotations"] = {"kubernetes.io/config.mirror": "x"}
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}
    if emptydir:
        spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec,
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


WEB = {"app": "web"}


def test_filters_name_what_blocks_a_drain_in_kubectls_words() -> None:
    pods = [pod("ds", owner="DaemonSet"), pod("bare", owner=None), pod("tmp", emptydir=True),
            pod("mirror", owner=None, mirror=True), pod("done", owner=None, phase="Succeeded"),
            pod("web")]
    strict = filter_pods(pods, ignore_daemonsets=False, delete_emptydir=False, force=False)
    assert strict.error_text() == (
        "[cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/ds, "
        "cannot delete Pods that declare no controller (use --force to override): "
        "default/bare, "
        "cannot delete Pods with local storage (use --delete-emptydir-data to override): "
        "default/tmp]")
    loose = filter_pods(pods, ignore_daemonsets=True, delete_emptydir=True, force=True)
    assert not loose.errors
    assert [p["metadata"]["name"] for p in loose.pods] == ["bare", "tmp", "done", "web"]
    assert loose.warning_text() == (
        "ignoring DaemonSet-managed Pods: default/ds; "
        "deleting Pods that declare no controller: default/bare; "
        "deleting Pods with local storage: default/tmp")


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {}}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(dict(NODE))
    return f


def test_cordon_and_uncordon(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["cordon", "n1"]) == 0
    assert fake.stored("nodes", "n1", "")["spec"]["unschedulable"] is True
    assert run_cli(["cordon", "node/n1"]) == 0
    assert run_cli(["uncordon", "n1"]) == 0
    assert "unschedulable" not in fake.stored("nodes", "n1", "")["spec"]
    assert run_cli(["uncordon", "n1"]) == 0
    assert capsys.readouterr().out == ("node/n1 cordoned\nnode/n1 already cordoned\n"
                                       "node/n1 uncordoned\nnode/n1 already uncordoned\n")


def test_cordon_a_missing_node(fake: FakeClient, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["cordon", "nope"]) == 1
    assert capsys.readouterr().err == 'Error from server (NotFound): nodes "nope" not found\n'


def test_drain_evicts_and_skips_daemonsets(fake: FakeClient,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(pod("web"))
    fake.add(pod("ds", owner="DaemonSet"))
    fake.add(pod("elsewhere", node="n2"))
    assert run_cli(["drain", "n1", "--ignore-daemonsets"]) == 0
    out, err = capsys.readouterr()
    assert out == ("node/n1 cordoned\nevicting pod default/web\npod/web evicted\n"
                   "node/n1 drained\n")
    assert err == "Warning: ignoring DaemonSet-managed Pods: default/ds\n"
    assert ("evict", ("web", "default")) in fake.calls
    assert fake.stored("pods", "elsewhere")


def test_drain_refuses_unmanaged_pods(fake: FakeClient,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    fake.add(pod("bare", owner=None))
    assert run_cli(["drain", "n1"]) == 1
    out, err = capsys.readouterr()
    assert out == "node/n1 cordoned\n"
    msg = "cannot delete Pods that declare no controller (use --force to override): default/bare"
    assert err == (f'error: unable to drain node "n1" due to error: {msg}, continuing '
                   f"command...\nThere are pending nodes to be drained:\n n1\nerror: {msg}\n")
    assert fake.stored("pods", "bare")


def test_drain_waits_for_the_budget_then_times_out(
        fake: FakeClient, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cordon, "RETRY_SECONDS", 0.05)
    fake.add(pod("web", labels=WEB))
    fake.evictions_refused["web"] = -1
    assert run_cli(["drain", "n1", "--timeout", "1s"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("node/n1 cordoned\nevicting pod default/web\nevicting pod "
                          "default/web\n")
    assert ('error when evicting pods/"web" -n "default" (will retry after 0.05s): Cannot '
            "evict pod as it would violate the pod's disruption budget.\n") in err
    assert err.endswith('error: error when evicting pods/"web" -n "default": global timeout '
                        "reached: 1s\n")
    assert fake.stored("pods", "web")


def test_drain_retries_a_refused_eviction_until_it_is_allowed(
        fake: FakeClient, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cordon, "RETRY_SECONDS", 0.01)
    fake.add(pod("web", labels=WEB))
    fake.evictions_refused["web"] = 2
    assert run_cli(["drain", "n1"]) == 0
    out, err = capsys.readouterr()
    assert out == ("node/n1 cordoned\n" + "evicting pod default/web\n" * 3
                   + "pod/web evicted\nnode/n1 drained\n")
    assert err == ('error when evicting pods/"web" -n "default" (will retry after 0.01s): '
                   "Cannot evict pod as it would violate the pod's disruption budget.\n") * 2

"""`jota rollout ...` and `jota set image`: kubectl's words, against the fake client."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from jota.api.meta import Obj
from jota.cli.commands.rollout import rollback_patch, status_message
from jota.cli.commands.set_image import image_patch
from jota.cli.context import UsageError
from tests.unit.fakeclient import FakeClient, install, run_cli

REVISION = "deployment.kubernetes.io/revision"
V1: Obj = {"metadata": {"labels": {"app": "web"}},
      "spec": {"containers": [{"name": "web", "image": "nginx:1"}]}}


def template(image: str, hash_: str = "") -> Obj:
    t = copy.deepcopy(V1)
    t["spec"]["containers"][0]["image"] = image
    if hash_:
        t["metadata"]["labels"]["pod-template-hash"] = hash_
    return t


def deployment(image: str = "nginx:2", status: Obj | None = None, paused: bool = False,
               generation: int = 2) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "d-uid", "generation": generation,
                         "annotations": {REVISION: "2", "keep": "me"}},
            "spec": {"replicas": 3, "paused": paused, "template": template(image)},
            "status": status if status is not None else {}}


def replica_set(name: str, revision: str, image: str, cause: str = "") -> Obj:
    ann = {REVISION: revision, "deployment.kubernetes.io/desired-replicas": "3"}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "annotations": ann,
                         "ownerReferences": [{"uid": "d-uid", "controller": True,
                                              "kind": "Deployment", "name": "web"}]},
            "spec": {"replicas": 0, "template": template(image, name[-3:])}}


@pytest.mark.parametrize(("status", "generation", "line", "done"), [
    ({"observedGeneration": 1}, 2, "Waiting for deployment spec update to be observed...",
     False),
    ({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 4}, 2,
     'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been '
     'updated...', False),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 5}, 2,
     'Waiting for deployment "web" rollout to finish: 2 old replicas are pending '
     'termination...', False),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 1},
     2, 'Waiting for deployment "web" rollout to finish: 1 of 3 updated replicas are '
        'available...', False),
    ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3},
     2, 'deployment "web" successfully rolled out', True),
])
def test_status_lines(status: Obj, generation: int, line: str, done: bool) -> None:
    assert status_message(deployment(status=status, generation=generation)) == (line, done)


def test_status_of_a_timed_out_rollout_is_an_error() -> None:
    d = deployment(status={"observedGeneration": 2, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]})
    with pytest.raises(UsageError, match='deployment "web" exceeded its progress deadline'):
        status_message(d)
    with pytest.raises(UsageError, match=r"desired revision \(5\) is different from the "
                                         r"running revision \(2\)"):
        status_message(deployment(), revision=5)


def test_rollback_restores_template_and_annotations() -> None:
    d = deployment()
    rs = replica_set("web-abc", "1", "nginx:1", cause="first")
    assert rollback_patch(d, rs) == [
        {"op": "replace", "path": "/spec/template", "value": V1},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {REVISION: "2", "kubernetes.io/change-cause": "first"}}]
    assert rollback_patch(d, replica_set("web-def", "2", "nginx:2")) is None


@pytest.mark.parametrize(("images", "expected"), [
    ({"web": "nginx:3"}, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:3"}]}}}}),
    ({"*": "nginx:3"}, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:3"}]}}}}),
    ({"web": "nginx:2"}, None),
])
def test_image_patch(images: dict[str, str], expected: Obj | None) -> None:
    assert image_patch("deployments", deployment(), images) == expected


def test_image_patch_for_an_unknown_container() -> None:
    with pytest.raises(UsageError, match='unable to find container named "db"'):
        image_patch("deployments", deployment(), {"db": "x"})


# ---- through the command line --------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeClient:
    f = install(monkeypatch, tmp_path)
    f.add(deployment())
    f.add(replica_set("web-abc", "1", "nginx:1", cause="first"))
    f.add(replica_set("web-def", "2", "nginx:2"))
    return f


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_history_table(fake: FakeClient, capsys: Any) -> None:
    assert cli(capsys, "rollout", "history", "deploy/web") == (0, (
        "deployment.apps/web \nREVISION  CHANGE-CAUSE\n1         first\n2         <none>\n\n"),
        "")


def test_history_of_one_revision(fake: FakeClient, capsys: Any) -> None:
    code, out, _ = cli(capsys, "rollout", "history", "deploy/web", "--revision=1")
    assert code == 0
    assert out.startswith("deployment.apps/web with revision #1\nPod Template:\n")
    assert "nginx:1" in out and "first" in out


def test_undo_to_the_previous_revision(fake: FakeClient, capsys: Any) -> None:
    assert cli(capsys, "rollout", "undo", "deployment/web") == (
        0, "deployment.apps/web rolled back\n", "")
    live = fake.stored("deployments", "web")
    assert live["spec"]["template"] == V1
    assert live["metadata"]["annotations"] == {REVISION: "2",
                                               "kubernetes.io/change-cause": "first"}


@pytest.mark.parametrize(("argv", "out", "err"), [
    (["--to-revision=2"], "deployment.apps/web skipped rollback (current template already "
                          "matches revision 2)\n", ""),
    (["--to-revision=7"], "", "error: unable to find specified revision 7 in history\n"),
])
def test_undo_to_a_revision(fake: FakeClient, capsys: Any, argv: list[str], out: str,
                            err: str) -> None:
    code, o, e = cli(capsys, "rollout", "undo", "deploy/web", *argv)
    assert (o, e) == (out, err)
    assert code == (1 if err else 0)


def test_pause_resume_and_their_errors(fake: FakeClient, capsys: Any) -> None:
    assert cli(capsys, "rollout", "resume", "deploy/web") == (
        1, "", 'error: deployments.apps "web" is not paused\n')
    assert cli(capsys, "rollout", "pause", "deploy/web") == (
        0, "deployment.apps/web paused\n", "")
    assert fake.stored("deployments", "web")["spec"]["paused"] is True
    assert cli(capsys, "rollout", "pause", "deploy/web") == (
        1, "", 'error: deployments.apps "web" is already paused\n')
    code, _, err = cli(capsys, "rollout", "undo", "deploy/web")
    assert code == 1 and "you cannot rollback a paused deployment" in err
    code, _, err = cli(capsys, "rollout", "restart", "deploy/web")
    assert (code, err) == (1, "error: can't restart paused deployment (run rollout resume "
                              "first)\n")
    assert cli(capsys, "rollout", "resume", "deploy/web") == (
        0, "deployment.apps/web resumed\n", "")
    assert "paused" not in fake.stored("deployments", "web")["spec"]


def test_restart_stamps_the_template(fake: FakeClient, capsys: Any) -> None:
    assert cli(capsys, "rollout", "restart", "deploy/web") == (
        0, "deployment.apps/web restarted\n", "")
    ann = fake.stored("deployments", "web")["spec"]["template"]["metadata"]["annotations"]
    assert set(ann) == {"kubectl.kubernetes.io/restartedAt"}


def test_status_once_and_until_done(fake: FakeClient, capsys: Any) -> None:
    fake.modify("deployments", "web", lambda d: d.__setitem__("status", {
        "observedGeneration": 2, "updatedReplicas": 1, "replicas": 3}))
    line = 'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have ' \
           'been updated...\n'
    assert cli(capsys, "rollout", "status", "deploy/web", "--watch=false") == (0, line, "")

    def finish(f: FakeClient) -> None:
        f.modify("deployments", "web", lambda d: d.__setitem__("status", {
            "observedGeneration": 2, "updatedReplicas": 3, "replicas": 3,
            "availableReplicas": 3}))

    fake.on_watch.append(finish)
    assert cli(capsys, "rollout", "status", "deploy/web") == (
        0, line + 'deployment "web" successfully rolled out\n', "")


def test_status_times_out(fake: FakeClient, capsys: Any) -> None:
    code, _, err = cli(capsys, "rollout", "status", "deploy/web", "--timeout=0.05s")
    assert (code, err) == (1, "error: timed out waiting for the condition\n")


def test_rollout_of_an_unsupported_kind(fake: FakeClient, capsys: Any) -> None:
    fake.add({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    assert cli(capsys, "rollout", "history", "pod/p") == (
        1, "", "error: no history viewer has been implemented for Pod\n")


def test_set_image(fake: FakeClient, capsys: Any) -> None:
    assert cli(capsys, "set", "image", "deploy/web", "web=nginx:3") == (
        0, "deployment.apps/web image updated\n", "")
    assert fake.stored("deployments", "web")["spec"]["template"]["spec"]["containers"][0][
        "image"] == "nginx:3"
    assert cli(capsys, "set", "image", "deploy/web", "nope=x") == (
        1, "", 'error: unable to find container named "nope"\n')
    assert cli(capsys, "set", "image", "deploy/web") == (
        1, "", "error: at least one image update is required\n")

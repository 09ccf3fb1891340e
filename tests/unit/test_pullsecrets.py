"""imagePullSecrets to the credentials a pull hands to Docker."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from node.agent.pullsecrets import config_entries, pull_auth, registry_of


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dockerconfigjson(auths: dict[str, Any]) -> dict[str, Any]:
    return {"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": b64(json.dumps({"auths": auths}))}}


def dockercfg(auths: dict[str, Any]) -> dict[str, Any]:
    return {"type": "kubernetes.io/dockercfg", "data": {".dockercfg": b64(json.dumps(auths))}}


def pod_with(*names: str) -> dict[str, Any]:
    return {"spec": {"imagePullSecrets": [{"name": n} for n in names]}}


@pytest.mark.parametrize("image,expected", [
    ("busybox", ("docker.io", "library/busybox")),
    ("busybox:1.36", ("docker.io", "library/busybox")),
    ("team/app:v1", ("docker.io", "team/app")),
    ("docker.io/team/app", ("docker.io", "team/app")),
    ("index.docker.io/team/app", ("docker.io", "team/app")),
    ("localhost/app", ("localhost", "app")),
    ("127.0.0.1:5000/test/busybox:1", ("127.0.0.1:5000", "test/busybox")),
    ("reg.example.com/a/b@sha256:abc", ("reg.example.com", "a/b")),
    ("Reg.Example.com:443/a", ("reg.example.com:443", "a")),
])
def test_registry_of(image: str, expected: tuple[str, str]) -> None:
    assert registry_of(image) == expected


REG = "127.0.0.1:5000"
IMG = f"{REG}/test/busybox:1"


@pytest.mark.parametrize("secret,image,expected", [
    (dockerconfigjson({REG: {"username": "u", "password": "p"}}), IMG,
     {"username": "u", "password": "p", "serveraddress": REG}),
    (dockerconfigjson({f"http://{REG}": {"auth": b64("u:p:colon")}}), IMG,
     {"username": "u", "password": "p:colon", "serveraddress": REG}),
    (dockerconfigjson({"https://index.docker.io/v1/": {"username": "hub", "password": "x"}}),
     "team/app", {"username": "hub", "password": "x",
                  "serveraddress": "https://index.docker.io/v1/"}),
    (dockercfg({REG: {"username": "old", "password": "cfg", "email": "a@b"}}), IMG,
     {"username": "old", "password": "cfg", "serveraddress": REG}),
    (dockerconfigjson({"*.example.com": {"username": "w", "password": "g"}}),
     "reg.example.com/a", {"username": "w", "password": "g",
                           "serveraddress": "reg.example.com"}),
])
def test_pull_auth_finds_the_registry_entry(secret: dict[str, Any], image: str,
                                            expected: dict[str, str]) -> None:
    assert pull_auth(image, pod_with("creds"), {"creds": secret}) == expected


@pytest.mark.parametrize("secret,image", [
    (dockerconfigjson({"127.0.0.1:5001": {"username": "u", "password": "p"}}), IMG),
    (dockerconfigjson({REG: {"username": "u", "password": "p"}}), "busybox"),
    (dockerconfigjson({"*.example.com": {"username": "u", "password": "p"}}),
     "a.b.example.com/x"),
    (dockerconfigjson({f"{REG}/other": {"username": "u", "password": "p"}}), IMG),
    (dockerconfigjson({REG: {"auth": "not base64!"}}), IMG),
    (dockerconfigjson({REG: {"email": "only@mail"}}), IMG),
    ({"type": "Opaque", "data": {".dockerconfigjson": b64(json.dumps(
        {"auths": {REG: {"username": "u", "password": "p"}}}))}}, IMG),
    ({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "@@"}}, IMG),
    ({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("[1]")}},
     IMG),
    ({"type": "kubernetes.io/dockerconfigjson"}, IMG),
])
def test_no_matching_entry_pulls_anonymously(secret: dict[str, Any], image: str) -> None:
    assert pull_auth(image, pod_with("creds"), {"creds": secret}) is None


def test_longest_repository_prefix_wins_then_first_secret() -> None:
    secrets = {
        "broad": dockerconfigjson({REG: {"username": "broad", "password": "1"}}),
        "team": dockerconfigjson({f"{REG}/test": {"username": "team", "password": "2"}}),
        "dup": dockerconfigjson({REG: {"username": "dup", "password": "3"}}),
    }

    def user(*names: str) -> str:
        return (pull_auth(IMG, pod_with(*names), secrets) or {}).get("username", "")

    assert user("broad", "team") == "team"
    assert user("broad", "dup") == "broad"
    assert user("dup", "broad") == "dup"


def test_missing_secrets_and_no_references_pull_anonymously() -> None:
    assert pull_auth(IMG, pod_with("absent"), {}) is None
    assert pull_auth(IMG, {"spec": {}}, {"x": dockerconfigjson({REG: {"auth": b64("u:p")}})}) \
        is None


def test_config_entries_ignores_non_object_entries() -> None:
    assert config_entries(dockerconfigjson({REG: "junk", "r2": {"auth": b64("a:b")}})) == {
        "r2": {"auth": b64("a:b")}}

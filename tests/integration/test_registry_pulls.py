"""Image pulls from a real registry on loopback, with basic auth.

Debian's `docker-registry` (the distribution registry) serves on 127.0.0.1, which
Docker treats as an insecure registry (plain HTTP) by default; htpasswd makes it ask for
credentials, so a pull works only with the pod's imagePullSecrets. The test image is
pushed there and its local tag removed, so the node has to pull it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from typing import Any

import docker
import pytest

from jota.client.client import Client
from tests.integration.conftest import PASSWORD, USER, Registry, untag
from tests.integration.node_helpers import (
    container,
    container_status,
    events_for,
    eventually,
    pod,
    wait_running,
)

pytestmark = pytest.mark.usefixtures("node_agent")

def pull_secret(name: str, reg: Registry, password: str = PASSWORD) -> dict[str, Any]:
    config = {"auths": {reg.address: {
        "username": USER, "password": password,
        "auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


async def reasons(client: Client, name: str, ns: str) -> list[tuple[str, str]]:
    return [(e["reason"], e.get("message", "")) for e in await events_for(client, name, ns)]


async def test_a_private_image_without_credentials_fails_to_pull(
        client: Client, namespace: str, registry: Registry) -> None:
    with docker.APIClient() as api:
        untag(api, registry.image)
    await client.create("pods", pod("anon", container(
        "main", "sleep", "3600", image=registry.image, imagePullPolicy="IfNotPresent")),
        namespace)

    async def pull_failed() -> dict[str, Any] | None:
        waiting = (await container_status(client, "anon", namespace)).get("state", {}) \
            .get("waiting") or {}
        return waiting if waiting.get("reason") == "ErrImagePull" else None

    waiting = await eventually(pull_failed, interval=0.1, what="ErrImagePull")
    assert "no basic auth credentials" in waiting["message"]

    async def failed_event() -> list[str]:
        return [m for r, m in await reasons(client, "anon", namespace)
                if r == "Failed" and m.startswith(f'Failed to pull image "{registry.image}"')]

    messages = await eventually(failed_event, what="Failed to pull event")
    assert "no basic auth credentials" in messages[0]
    assert PASSWORD not in json.dumps(await events_for(client, "anon", namespace))


async def test_a_pull_secret_lets_the_node_pull(client: Client, namespace: str,
                                                registry: Registry) -> None:
    with docker.APIClient() as api:
        untag(api, registry.image)
    await client.create("secrets", pull_secret("regcred", registry), namespace)
    await client.create("pods", pod(
        "private", container("main", "sleep", "3600", image=registry.image,
                             imagePullPolicy="IfNotPresent"),
        imagePullSecrets=[{"name": "regcred"}]), namespace)
    await wait_running(client, "private", namespace)
    seen = await reasons(client, "private", namespace)
    assert ("Pulling", f'Pulling image "{registry.image}"') in seen
    pulled = [m for r, m in seen if r == "Pulled"]
    assert pulled, seen
    assert pulled[0].startswith(f'Successfully pulled image "{registry.image}" in '), seen
    assert "including waiting). Image size: " in pulled[0] and not pulled[0].endswith(" 0 bytes.")


async def test_always_pulls_again_though_the_image_is_present(
        client: Client, namespace: str, registry: Registry) -> None:
    with docker.APIClient() as api:
        repository, tag = registry.image.rsplit(":", 1)
        api.pull(repository, tag=tag, auth_config=registry.auth)
        assert api.inspect_image(registry.image)
    await client.create("secrets", pull_secret("regcred", registry), namespace)
    await client.create("pods", pod(
        "always", container("main", "sleep", "3600", image=registry.image,
                            imagePullPolicy="Always"),
        imagePullSecrets=[{"name": "regcred"}]), namespace)
    await wait_running(client, "always", namespace)
    seen = await reasons(client, "always", namespace)
    assert ("Pulling", f'Pulling image "{registry.image}"') in seen
    assert not any("already present" in m for _, m in seen), seen


async def test_a_wrong_password_fails_to_pull(client: Client, namespace: str,
                                              registry: Registry) -> None:
    await client.create("secrets", pull_secret("badcred", registry, password="wrong"),
                        namespace)
    await client.create("pods", pod(
        "badpw", container("main", "sleep", "3600", image=registry.image,
                           imagePullPolicy="Always"),
        imagePullSecrets=[{"name": "badcred"}]), namespace)

    async def failed_event() -> list[str]:
        return [m for r, m in await reasons(client, "badpw", namespace)
                if r == "Failed" and m.startswith("Failed to pull image")]

    messages = await eventually(failed_event, what="Failed to pull event")
    assert "unauthorized" in messages[0].lower()


def two_layer_image(reg: Registry) -> str:
    """test/layered:1 in the registry only: the test image plus one layer of 3 MB of
    random bytes, which the node must download (the base layer it has already)."""
    image = f"{reg.address}/test/layered:1"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM jota/busybox:latest\nCOPY blob /blob\n"),
                           ("blob", os.urandom(3_000_000))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    with docker.APIClient() as api:
        for item in api.build(fileobj=context, custom_context=True, tag=image, rm=True,
                              decode=True):
            assert not item.get("error"), item
        for item in api.push(image.rsplit(":", 1)[0], tag="1", stream=True, decode=True,
                             auth_config=reg.auth):
            assert not item.get("error"), item
        untag(api, image)
    return image


async def test_a_pull_tells_its_progress_layer_by_layer(client: Client, namespace: str,
                                                        registry: Registry) -> None:
    image = two_layer_image(registry)
    try:
        await client.create("secrets", pull_secret("regcred", registry), namespace)
        await client.create("pods", pod(
            "layered", container("main", "sleep", "3600", image=image,
                                 imagePullPolicy="IfNotPresent"),
            imagePullSecrets=[{"name": "regcred"}]), namespace)
        await wait_running(client, "layered", namespace)
        seen = [m for r, m in await reasons(client, "layered", namespace) if r == "Pulling"]
        # The fixture's agent tells every step (--image-pull-progress-interval 0): the
        # base layer found on the node, then the random one downloaded.
        assert seen[0] == f'Pulling image "{image}"', seen
        assert any(m.startswith(f'Pulling image "{image}": 2 of 2 layers done, ')
                   and m.endswith("MB of 3.0MB") for m in seen), seen
    finally:
        await client.delete("pods", "layered", namespace)
        with docker.APIClient() as api:
            untag(api, image)

"""Bad input never hurts the server: a clear error, nothing half-written, no crash.

Every test here also relies on the session fixture's check that the apiserver
logged no traceback.
"""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jota.api import errors
from jota.api.gen import resources_pb2 as pb
from jota.api.gen import resources_pb2_grpc as pb_grpc
from jota.client.client import Client
from jota.local.processes import Daemon

ALLOWED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED,
           grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED}


async def raw_create(server: str, resource: str, body: bytes, namespace: str = "default"
                     ) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(server) as channel:
        stub = pb_grpc.ResourcesStub(channel)
        try:
            await stub.Create(pb.CreateRequest(
                ref=pb.ResourceRef(resource=resource, namespace=namespace), body=body),
                timeout=30)
        except grpc.aio.AioRpcError as e:
            return e.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("body", [
    b"{not json", b"\xff\xfe", b"[1, 2, 3]", b'"a string"', b"null",
    b"[" * 100_000 + b"]" * 100_000,
    json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "oops"}).encode(),
    json.dumps({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s"}, "data": {"k": "not base64!"}}).encode(),
])
async def test_malformed_documents_are_refused(apiserver: Daemon, namespace: str,
                                               body: bytes):
    code = await raw_create(apiserver.address, "configmaps", body, namespace)
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_unknown_resource(apiserver: Daemon):
    code = await raw_create(apiserver.address, "foos", b"{}")
    assert code == grpc.StatusCode.INVALID_ARGUMENT


async def test_oversized_objects_are_refused_and_not_stored(client: Client, namespace: str):
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
           "data": {"blob": "x" * (2 * 1024 * 1024)}}
    with pytest.raises(errors.Invalid, match="data: Too long"):
        await client.create("configmaps", big, namespace)
    # No per-kind limit on a Deployment: the 1.5 MiB storage limit refuses it.
    env = [{"name": f"V{i}", "value": "x" * 1000} for i in range(1700)]
    huge = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "env": env}]}}}}
    with pytest.raises(errors.TooLarge, match="is too large"):
        await client.create("deployments", huge, namespace)
    for resource in ("configmaps", "deployments"):
        with pytest.raises(errors.NotFound):
            await client.get(resource, "big", namespace)


async def test_wrong_types_name_the_field(client: Client, namespace: str):
    d = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w"},
         "spec": {"replicas": "three", "selector": {"matchLabels": {"app": "w"}},
                  "template": {"metadata": {"labels": {"app": "w"}},
                               "spec": {"contaners": []}}}}
    with pytest.raises(errors.Invalid) as e:
        await client.create("deployments", d, namespace)
    message = str(e.value)
    assert message.startswith('Deployment "w" is invalid: ')
    assert "spec.replicas" in message
    assert 'unknown field "spec.template.spec.contaners"' in message


async def test_huge_label_set(client: Client, namespace: str):
    labels = {f"k{i}": "v" for i in range(20_000)}
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "labels", "labels": labels}}
    try:
        created = await client.create("configmaps", obj, namespace)
    except (errors.TooLarge, errors.BadRequest):
        return
    assert len(created["metadata"]["labels"]) == 20_000


async def test_failed_update_changes_nothing(client: Client, namespace: str):
    cm = await client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "keep"},
                                            "data": {"a": "1"}}, namespace)
    bad = json.loads(json.dumps(cm))
    bad["data"] = {"a": "2", "bad key!": "x"}
    with pytest.raises(errors.Invalid):
        await client.update("configmaps", bad, namespace)
    assert await client.get("configmaps", "keep", namespace) == cm


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)
doc_keys = st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status", "data",
                            "stringData", "type", "items", "immutable"])
documents = st.dictionaries(doc_keys, json_values, max_size=6).map(
    lambda d: {**d, "metadata": d.get("metadata") if isinstance(d.get("metadata"), dict)
               else {"name": "fuzz"}})
RESOURCES = ["pods", "deployments", "services", "configmaps", "secrets", "jobs", "namespaces"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(resource=st.sampled_from(RESOURCES), doc=documents,
       verb=st.sampled_from(["create", "update", "patch-merge", "patch-json",
                             "patch-strategic"]))
def test_fuzzed_writes_never_fail_internally(apiserver: Daemon, resource: str, doc: dict,
                                             verb: str):
    async def attempt() -> None:
        async with Client(apiserver.address, retries=0) as c:
            try:
                if verb == "create":
                    await c.create(resource, doc, "default")
                elif verb == "update":
                    await c.update(resource, {**doc, "metadata": {
                        **doc["metadata"], "name": "fuzz-target"}}, "default")
                else:
                    kind = verb.split("-")[1]
                    patch = list(doc.values()) if kind == "json" else doc
                    await c.patch(resource, "fuzz-target", patch, "default",
                                  patch_type=kind)
            except (errors.BadRequest, errors.NotFound, errors.AlreadyExists,
                    errors.Conflict, errors.TooLarge, errors.Forbidden):
                pass

    asyncio.run(attempt())

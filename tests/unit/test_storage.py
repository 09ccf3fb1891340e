"""Storage layout and codec, without etcd."""

from __future__ import annotations

from controlplane.storage import keys
from controlplane.storage.codec import Codec
from controlplane.storage.etcd import prefix_end
from controlplane.storage.store import _decode_continue, _encode_continue
from jota.api.registry import by_plural


def test_keys_follow_kube_apiserver_layout():
    assert keys.object_key(by_plural("pods"), "default", "web") == b"/registry/pods/default/web"
    assert keys.object_key(by_plural("nodes"), "", "n1") == b"/registry/minions/n1"
    assert keys.object_key(by_plural("deployments"), "a", "b") == \
        b"/registry/deployments/a/b"
    assert keys.namespace_prefix(by_plural("pods"), "") == b"/registry/pods/"


def test_prefix_end_covers_exactly_the_prefix():
    assert prefix_end(b"/registry/pods/") == b"/registry/pods0"
    assert prefix_end(b"a\xff") == b"b"


def test_resource_version_is_not_stored_but_restored():
    codec = Codec()
    obj = {"metadata": {"name": "x", "resourceVersion": "5"}, "data": {"k": "v"}}
    data = codec.encode(obj, b"k")
    assert b"resourceVersion" not in data
    assert obj["metadata"]["resourceVersion"] == "5"  # the caller's object is untouched
    assert codec.decode(data, b"k", 42)["metadata"]["resourceVersion"] == "42"


def test_continue_token_round_trip():
    prefix = b"/registry/pods/default/"
    token = _encode_continue(17, prefix + b"web-3\0", prefix)
    assert _decode_continue(token, prefix) == (17, prefix + b"web-3\0")

"""Where each object lives in etcd: kube-apiserver's layout, `/registry/<resource>/<ns>/<name>`.

Keeping Kubernetes' layout means `etcdctl get --prefix /registry/pods` reads the
same way on Jota as on a Kubernetes cluster.
"""

from __future__ import annotations

from jota.api.registry import ResourceType

ROOT = b"/registry/"


def _resource_dir(rt: ResourceType) -> str:
    # kube-apiserver stores a few kinds under historical names; keep the plural otherwise.
    return {"services": "services/specs", "endpoints": "services/endpoints",
            "nodes": "minions"}.get(rt.plural, rt.plural)


def resource_prefix(rt: ResourceType) -> bytes:
    return ROOT + _resource_dir(rt).encode() + b"/"


def namespace_prefix(rt: ResourceType, namespace: str) -> bytes:
    """All objects of a type in one namespace (or all of them, for ""/cluster-scoped)."""
    if rt.namespaced and namespace:
        return resource_prefix(rt) + namespace.encode() + b"/"
    return resource_prefix(rt)


def object_key(rt: ResourceType, namespace: str, name: str) -> bytes:
    if rt.namespaced:
        return resource_prefix(rt) + f"{namespace}/{name}".encode()
    return resource_prefix(rt) + name.encode()

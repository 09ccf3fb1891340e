"""Objects are plain JSON documents (`dict`s); these helpers read their metadata.

A typed model for 30 kinds would be a second copy of Kubernetes' schema to keep
in step; the schema itself (see `schema.py`) is what validates a document.
"""

from __future__ import annotations

from typing import Any, TypeAlias

Obj: TypeAlias = dict[str, Any]


def metadata(obj: Obj) -> dict[str, Any]:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def namespace_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def labels_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def resource_version_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def key_of(obj: Obj) -> str:
    """The workqueue/informer key: "namespace/name", or "name" when cluster-scoped."""
    ns, name = namespace_of(obj), name_of(obj)
    return f"{ns}/{name}" if ns else name


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name

"""Kubernetes' OpenAPI definitions, as shipped by `kubernetes-validate`.

Loaded once per process. Every `$ref` is rewritten to the local form
`#/$defs/<name>` so a definition can be handed to any JSON Schema tool with the
definitions table beside it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

# The Kubernetes version whose schemas we serve; strict = unknown fields are rejected.
KUBERNETES_VERSION = "v1.31.0"
_REF_PREFIX = "/api/_definitions.json#/$defs/"


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """All definitions by their OpenAPI name (`io.k8s.api.core.v1.PodSpec`)."""
    folder = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    path = folder / f"{KUBERNETES_VERSION}-local-strict" / "_definitions.json"
    text = path.read_text().replace(_REF_PREFIX, "#/$defs/")
    defs: dict[str, dict[str, Any]] = json.loads(text)["$defs"]
    return defs


def ref_name(ref: str) -> str:
    """`#/$defs/io.k8s.api.core.v1.PodSpec` -> `io.k8s.api.core.v1.PodSpec`."""
    return ref.rsplit("/", 1)[-1]


@functools.cache
def definition_name(kind: str, group: str, version: str) -> str:
    """The definition of a kind, found by its x-kubernetes-group-version-kind."""
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            if (gvk.get("kind"), gvk.get("group", ""), gvk.get("version")) == (
                kind, group, version
            ):
                return name
    raise KeyError(f"no schema for {group}/{version} {kind}")

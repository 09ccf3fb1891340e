"""What every command gets: a connected client, the namespace, and where to print."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import ResourceType, by_kind, in_category, resolve
from jota.client.client import Client


def report_error(e: BaseException) -> None:
    """kubectl's two shapes: `Error from server (Reason): ...` and `error: ...`."""
    if isinstance(e, errors.APIError):
        if isinstance(e, errors.ServiceUnavailable) and "connection to the server" in str(e):
            sys.stderr.write(f"{e.message}\n")
        elif isinstance(e, errors.Unauthorized):
            sys.stderr.write(f"error: You must be logged in to the server ({e.message})\n")
        else:
            sys.stderr.write(f"Error from server ({e.reason}): {e.message}\n")
    else:
        sys.stderr.write(f"error: {e}\n")
    sys.stderr.flush()


class UsageError(Exception):
    """A mistake on the command line: printed as `error: ...`, exit code 1."""


def resource_type(name: str) -> ResourceType:
    """The type a user typed (`po`, `deploy`, `deployments.apps`); an unknown one is
    kubectl's client-side `error: the server doesn't have a resource type "x"`."""
    try:
        return resolve(name)
    except errors.BadRequest as e:
        raise UsageError(e.message) from None


@dataclass
class Context:
    client: Client
    namespace: str
    all_namespaces: bool = False
    explicit_namespace: bool = False
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def print(self, text: str = "") -> None:
        self.out.write(text if text.endswith("\n") or not text else text + "\n")
        if not text:
            self.out.write("\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def ns_for(self, rt: ResourceType) -> str:
        """The namespace a request goes to: "" for cluster-scoped kinds and -A."""
        if not rt.namespaced or self.all_namespaces:
            return ""
        return self.namespace

    def ns_of_manifest(self, rt: ResourceType, doc: Obj) -> str:
        if not rt.namespaced:
            return ""
        in_doc = (doc.get("metadata") or {}).get("namespace")
        if in_doc and self.explicit_namespace and in_doc != self.namespace:
            raise UsageError(
                f"the namespace from the provided object \"{in_doc}\" does not match the "
                f"namespace \"{self.namespace}\". You must pass '--namespace={in_doc}' to "
                f"perform this operation.")
        return str(in_doc or self.namespace)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def type_of(doc: Obj) -> ResourceType:
    return by_kind(str(doc.get("kind", "")), str(doc.get("apiVersion", "")))


def split_targets(args: list[str]) -> list[tuple[ResourceType, list[str]]]:
    """kubectl's ways of naming objects: `KIND`, `KIND NAME...`, `KIND/NAME...`,
    `KIND1,KIND2`. Returns (type, names) pairs; empty names means "all of that kind"."""
    if not args:
        raise UsageError("You must specify the type of resource to get. Use \"jota "
                         "api-resources\" for a complete list of supported resources.")
    if any("/" in a for a in args):
        pairs: dict[str, tuple[ResourceType, list[str]]] = {}
        for a in args:
            if "/" not in a:
                raise UsageError("there is no need to specify a resource type as a separate "
                                 "argument when passing arguments in resource/name form "
                                 "(e.g. 'jota get resource/<resource_name>' instead of "
                                 "'jota get resource resource/<resource_name>'")
            kind, _, name = a.partition("/")
            if not name:
                raise UsageError(f"arguments in resource/name form must have a single "
                                 f"resource and name: {a!r}")
            rt = resource_type(kind)
            pairs.setdefault(rt.plural, (rt, []))[1].append(name)
        return list(pairs.values())
    kinds, names = args[0], args[1:]
    result: list[tuple[ResourceType, list[str]]] = []
    for kind in kinds.split(","):
        if kind == "all":
            result.extend((rt, list(names)) for rt in in_category("all"))
        elif kind:
            result.append((resource_type(kind), list(names)))
    return result

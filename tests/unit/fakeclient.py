"""An in-memory stand-in for `jota.client.client.Client`, for CLI tests.

It serves create/get/list/update/patch/delete/watch and the scale subresource
over a dict, with resourceVersions, uids and kubectl's error words, so a verb
can run end to end through `jota.cli.main.main([...])` without a server:

    fake = FakeClient()
    monkeypatch.setattr("jota.cli.main.Client", fake.factory)
    fake.add(deployment)

`on_watch` holds callbacks run (in order) when a watch starts, so a test can
change an object "while" a verb is waiting on it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from jota.api import errors
from jota.api.gen import resources_pb2 as pb
from jota.api.meta import Obj
from jota.api.patch import json_patch, merge_patch
from jota.api.registry import RESOURCES, by_kind, by_plural
from jota.api.strategic import strategic_merge_patch

Key = tuple[str, str, str]  # (plural, namespace, name)


def _matches_labels(obj: Obj, selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k) == v:
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.rstrip("=")) != v.lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _matches_fields(obj: Obj, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        field, _, value = term.partition("=")
        node: Any = obj
        for part in field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if str(node or "") != value:
            return False
    return True


class FakeClient:
    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self.rv = 100
        self.log: list[tuple[int, str, str, Obj]] = []  # (rv, type, plural, obj)
        self.calls: list[tuple[str, Any]] = []
        self.on_watch: list[Callable[[FakeClient], None]] = []
        self.server_version = "v0.1.0"
        self.explained: list[tuple[str, bool]] = []
        self.fail_next: dict[str, errors.APIError] = {}
        # pod name -> evictions still refused with 429 (-1: always), as a budget would
        self.evictions_refused: dict[str, int] = {}
        self.closed = False

    def factory(self, *args: Any, **kwargs: Any) -> FakeClient:
        """Stands in for the `Client` class: every "connection" is this one store."""
        return self

    # ---- test helpers ------------------------------------------------------------------

    def add(self, obj: Obj) -> Obj:
        rt = by_kind(obj["kind"])
        md = obj.setdefault("metadata", {})
        if rt.namespaced:
            md.setdefault("namespace", "default")
        return self._store(rt.plural, copy.deepcopy(obj), "ADDED", new=True)

    def stored(self, plural: str, name: str, namespace: str = "default") -> Obj:
        rt = by_plural(plural)
        return self.objects[(plural, namespace if rt.namespaced else "", name)]

    def modify(self, plural: str, name: str, change: Callable[[Obj], None],
               namespace: str = "default") -> None:
        obj = copy.deepcopy(self.stored(plural, name, namespace))
        change(obj)
        self._store(plural, obj, "MODIFIED")

    def remove(self, plural: str, name: str, namespace: str = "default") -> None:
        rt = by_plural(plural)
        obj = self.objects.pop((plural, namespace if rt.namespaced else "", name))
        self.rv += 1
        self.log.append((self.rv, "DELETED", plural, copy.deepcopy(obj)))

    # ---- internals ---------------------------------------------------------------------

    def _key(self, plural: str, namespace: str, name: str) -> Key:
        return plural, namespace if by_plural(plural).namespaced else "", name

    def _store(self, plural: str, obj: Obj, event: str, new: bool = False) -> Obj:
        self.rv += 1
        md = obj["metadata"]
        if new:
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
            md.setdefault("generation", 1)
        md["resourceVersion"] = str(self.rv)
        key = self._key(plural, md.get("namespace", ""), md["name"])
        old = self.objects.get(key)
        if old is not None and old.get("spec") != obj.get("spec"):
            md["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self.objects[key] = obj
        self.log.append((self.rv, event, plural, copy.deepcopy(obj)))
        return copy.deepcopy(obj)

    def _get(self, plural: str, name: str, namespace: str) -> Obj:
        rt = by_plural(plural)
        obj = self.objects.get(self._key(plural, namespace, name))
        if obj is None:
            raise errors.NotFound.of(rt.qualified, name)
        return obj

    def _fail(self, verb: str) -> None:
        if verb in self.fail_next:
            raise self.fail_next.pop(verb)

    # ---- the Client surface ------------------------------------------------------------

    async def close(self) -> None:
        self.closed = True

    async def create(self, resource: str, obj: Obj, namespace: str = "", *,
                     dry_run: bool = False) -> Obj:
        self.calls.append(("create", (resource, namespace, dry_run)))
        self._fail("create")
        rt = by_plural(resource)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if rt.namespaced:
            md["namespace"] = namespace or md.get("namespace") or "default"
        obj.pop("status", None)
        if self._key(resource, md.get("namespace", ""), md.get("name", "")) in self.objects:
            raise errors.AlreadyExists.of(rt.qualified, md.get("name", ""))
        if dry_run:
            md.setdefault("uid", "dry-run-uid")
            md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")
            return obj
        return self._store(resource, obj, "ADDED", new=True)

    async def get(self, resource: str, name: str, namespace: str = "") -> Obj:
        self.calls.append(("get", (resource, name, namespace)))
        return copy.deepcopy(self._get(resource, name, namespace))

    async def list(self, resource: str, namespace: str = "", *, label_selector: str = "",
                   field_selector: str = "", **_: Any) -> Obj:
        self.calls.append(("list", (resource, namespace, label_selector, field_selector)))
        rt = by_plural(resource)
        items = [copy.deepcopy(o) for (plural, ns, _), o in sorted(self.objects.items())
                 if plural == resource and (not namespace or ns == namespace)
                 and _matches_labels(o, label_selector) and _matches_fields(o, field_selector)]
        return {"apiVersion": rt.api_version, "kind": f"{rt.kind}List",
                "metadata": {"resourceVersion": str(self.rv)}, "items": items}

    async def list_all(self, resource: str, namespace: str = "", *, label_selector: str = "",
                       field_selector: str = "", page: int = 500) -> Obj:
        return await self.list(resource, namespace, label_selector=label_selector,
                               field_selector=field_selector)

    async def update(self, resource: str, obj: Obj, namespace: str = "", *,
                     dry_run: bool = False) -> Obj:
        self.calls.append(("update", (resource, namespace, dry_run)))
        self._fail("update")
        name = obj["metadata"]["name"]
        live = self._get(resource, name, namespace)
        rv = obj["metadata"].get("resourceVersion")
        if rv and rv != live["metadata"]["resourceVersion"]:
            raise errors.Conflict.stale(by_plural(resource).qualified, name)
        new = copy.deepcopy(obj)
        new["status"] = copy.deepcopy(live.get("status"))
        if new == live:
            return copy.deepcopy(live)
        return new if dry_run else self._store(resource, new, "MODIFIED")

    async def patch(self, resource: str, name: str, patch: Any, namespace: str = "", *,
                    patch_type: str = "strategic", status: bool = False,
                    dry_run: bool = False) -> Obj:
        self.calls.append(("patch", (resource, name, patch, patch_type, dry_run)))
        self._fail("patch")
        live = self._get(resource, name, namespace)
        doc = json.loads(patch) if isinstance(patch, str) else patch
        if patch_type == "json":
            new = json_patch(live, doc)
        elif patch_type == "merge":
            new = merge_patch(live, doc)
        else:
            new = strategic_merge_patch(live, doc, by_plural(resource))
        if new == live:
            return copy.deepcopy(live)
        return new if dry_run else self._store(resource, new, "MODIFIED")

    async def delete(self, resource: str, name: str, namespace: str = "", **_: Any) -> Obj:
        self.calls.append(("delete", (resource, name, namespace)))
        obj = copy.deepcopy(self._get(resource, name, namespace))
        self.remove(resource, name, namespace or "default")
        return obj

    async def evict(self, name: str, namespace: str, **_: Any) -> Obj:
        self.calls.append(("evict", (name, namespace)))
        self._get("pods", name, namespace)
        left = self.evictions_refused.get(name, 0)
        if left:
            self.evictions_refused[name] = left - 1 if left > 0 else left
            raise errors.TooManyRequests("Cannot evict pod as it would violate the pod's "
                                         "disruption budget.")
        self.remove("pods", name, namespace or "default")
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    async def watch(self, resource: str, namespace: str = "", *, resource_version: str = "",
                    label_selector: str = "", field_selector: str = "",
                    **_: Any) -> AsyncIterator[tuple[str, Obj]]:
        self.calls.append(("watch", (resource, namespace, resource_version, field_selector)))
        start = int(resource_version or self.rv)
        while self.on_watch:
            self.on_watch.pop(0)(self)
        for rv, kind, plural, obj in list(self.log):
            md = obj["metadata"]
            if rv > start and plural == resource and (
                    not namespace or md.get("namespace") == namespace) and \
                    _matches_labels(obj, label_selector) and _matches_fields(obj, field_selector):
                yield kind, copy.deepcopy(obj)
        await asyncio.sleep(3600)  # a quiet stream; the caller's timeout ends it

    async def get_scale(self, resource: str, name: str, namespace: str) -> Obj:
        obj = self._get(resource, name, namespace)
        return {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": name, "namespace": namespace,
                             "resourceVersion": obj["metadata"]["resourceVersion"]},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)}}

    async def update_scale(self, resource: str, name: str, namespace: str,
                           replicas: int) -> Obj:
        self.calls.append(("update_scale", (resource, name, namespace, replicas)))
        self._get(resource, name, namespace)
        self.modify(resource, name, lambda o: o["spec"].__setitem__("replicas", replicas),
                    namespace)
        return await self.get_scale(resource, name, namespace)

    async def discovery(self) -> pb.DiscoveryResponse:
        return pb.DiscoveryResponse(server_version=self.server_version, resources=[
            pb.APIResource(name=r.plural, singular_name=r.singular, kind=r.kind,
                           group=r.group, version=r.version, namespaced=r.namespaced,
                           short_names=list(r.short_names), verbs=list(r.verbs),
                           categories=list(r.categories)) for r in RESOURCES])

    async def explain(self, path: str, recursive: bool = False) -> str:
        self.explained.append((path, recursive))
        return f"KIND:     {path.split('.')[0]}\n\nFIELDS:\n"


def install(monkeypatch: Any, tmp_path: Any) -> FakeClient:
    """A fresh fake behind `jota.cli.main.Client`, and an empty config file."""
    fake = FakeClient()
    monkeypatch.setattr("jota.cli.main.Client", fake.factory)
    monkeypatch.setenv("JOTA_CONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("JOTA_SERVER", raising=False)
    return fake


def run_cli(argv: list[str]) -> int:
    """`jota ARGV` in-process; the exit code it would end with."""
    from jota.cli.main import main
    try:
        main(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0

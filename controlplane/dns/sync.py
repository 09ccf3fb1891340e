"""Informers -> the index: each Service, EndpointSlice or Namespace change recomputes the
one Service (or namespace) it touches, as soon as the informer delivers it.

No workqueue: recomputing a Service is a pure function over the informers' caches that
cannot fail, so a handler does it inline; the index is current when the informer is,
which is what "a Service created after the client pod started resolves at once" needs.
"""

from __future__ import annotations

from controlplane.dns.index import SERVICE_NAME_LABEL, Index, service_record
from jota.api.meta import Obj
from jota.client import DeletedObj, ListerWatcher, SharedInformerFactory, object_of

BY_SERVICE = "by-service"


def _service_key(obj: Obj) -> list[str]:
    md = obj.get("metadata") or {}
    name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{md.get('namespace') or 'default'}/{name}"] if name else []


class IndexSync:
    """Keeps `index` in step with Services, EndpointSlices and Namespaces."""

    def __init__(self, lw: ListerWatcher, index: Index | None = None) -> None:
        self.index = index or Index()
        self.factory = SharedInformerFactory(lw)
        self.services = self.factory.informer_for("services", "")
        self.slices = self.factory.informer_for("endpointslices", "",
                                                indexers={BY_SERVICE: _service_key})
        self.namespaces = self.factory.informer_for("namespaces", "")
        self.services.add_event_handler(on_add=self._on_object,
                                        on_update=lambda _o, n: self._on_object(n),
                                        on_delete=self._on_deleted)
        self.slices.add_event_handler(on_add=self._on_slice,
                                      on_update=self._on_slice_update,
                                      on_delete=lambda o: self._on_slice(object_of(o)))
        self.namespaces.add_event_handler(
            on_add=lambda o: self.index.namespaces.add(_name(o)),
            on_update=lambda _o, n: self.index.namespaces.add(_name(n)),
            on_delete=lambda o: self.index.namespaces.discard(_name(object_of(o))))

    async def start(self) -> None:
        self.factory.start()
        await self.factory.wait_for_cache_sync()

    async def stop(self) -> None:
        await self.factory.shutdown()

    def refresh(self, namespace: str, name: str) -> None:
        svc = self.services.store.get_by_key(f"{namespace}/{name}")
        if svc is None:
            self.index.remove(namespace, name)
            return
        slices = self.slices.store.by_index(BY_SERVICE, f"{namespace}/{name}")
        self.index.put(service_record(svc, slices))

    def _on_object(self, obj: Obj) -> None:
        md = obj.get("metadata") or {}
        self.refresh(str(md.get("namespace") or "default"), str(md.get("name") or ""))

    def _on_deleted(self, obj: DeletedObj) -> None:
        self._on_object(object_of(obj))

    def _on_slice(self, obj: Obj) -> None:
        for key in _service_key(obj):
            ns, _, name = key.partition("/")
            self.refresh(ns, name)

    def _on_slice_update(self, old: Obj, new: Obj) -> None:
        if _service_key(old) != _service_key(new):
            self._on_slice(old)
        self._on_slice(new)


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


__all__ = ["IndexSync"]

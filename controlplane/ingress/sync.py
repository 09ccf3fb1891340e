"""Informers -> one queue -> nginx, Ingress status and Warning events.

Every change to an Ingress, IngressClass, Service, EndpointSlice or Secret queues the
one key CONFIG: the queue folds a burst of changes (a rollout's endpoint updates) into
one rebuild, which is a pure `model.build` + `render.render` over the caches; nginx is
only reloaded when the text differs. An Ingress change also queues the Ingress's own
key, whose sync writes `status.loadBalancer.ingress` (the publish address) when it
differs. A failed apply (nginx refused the config, could not start) is retried with
the queue's backoff; the running nginx keeps the last good config meanwhile.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from dataclasses import dataclass

from controlplane.ingress import model
from controlplane.ingress.nginx import Nginx, NginxError
from controlplane.ingress.render import Settings, render
from jota.api.meta import Obj
from jota.client import (
    WARNING,
    DeletedObj,
    EventRecorder,
    RateLimitingQueue,
    RetryLater,
    SharedInformerFactory,
    run_workers,
)
from jota.client.client import Client

logger = logging.getLogger("jota-ingress")

CONFIG = "<nginx.conf>"  # not an object key: no Ingress can be named so
BY_SERVICE = "by-service"


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name') or ''}"


def _service_key(obj: Obj) -> list[str]:
    md = obj.get("metadata") or {}
    name = (md.get("labels") or {}).get(model.SERVICE_NAME_LABEL)
    return [f"{md.get('namespace') or 'default'}/{name}"] if name else []


def load_balancer_status(publish: str) -> list[Obj]:
    """`status.loadBalancer.ingress`: an IP, or else a host name."""
    try:
        ipaddress.ip_address(publish)
    except ValueError:
        return [{"hostname": publish}]
    return [{"ip": publish}]


@dataclass(frozen=True)
class Options:
    class_name: str
    publish_address: str
    settings: Settings


class IngressSync:
    def __init__(self, client: Client, options: Options, nginx: Nginx,
                 recorder: EventRecorder) -> None:
        self.client = client
        self.options = options
        self.nginx = nginx
        self.recorder = recorder
        self.queue = RateLimitingQueue("ingress")
        self.factory = SharedInformerFactory(client)
        self.ingresses = self.factory.informer_for("ingresses", "")
        self.classes = self.factory.informer_for("ingressclasses", "")
        self.services = self.factory.informer_for("services", "")
        self.slices = self.factory.informer_for("endpointslices", "",
                                                indexers={BY_SERVICE: _service_key})
        self.secrets = self.factory.informer_for("secrets", "")
        self.warned: set[model.Problem] = set()
        for inf in (self.classes, self.services, self.slices, self.secrets):
            inf.add_event_handler(on_add=self._changed, on_update=lambda _o, _n: self._changed(),
                                  on_delete=self._changed)
        self.ingresses.add_event_handler(on_add=self._ingress,
                                         on_update=lambda _o, n: self._ingress(n),
                                         on_delete=self._changed)
        self.config: model.Config = model.Config()

    def _changed(self, _obj: Obj | DeletedObj | None = None) -> None:
        self.queue.add(CONFIG)

    def _ingress(self, obj: Obj) -> None:
        self.queue.add(CONFIG)
        self.queue.add(_key(obj))

    async def start(self) -> None:
        self.factory.start()
        await self.factory.wait_for_cache_sync()
        self.queue.add(CONFIG)

    async def run(self) -> None:
        await run_workers(self.queue, self.sync, workers=1)

    async def stop(self) -> None:
        self.queue.shut_down()
        await self.factory.shutdown()

    # ---- the syncs -------------------------------------------------------------------

    def _is_default(self) -> bool:
        return model.is_default_class(
            self.classes.store.get_by_key(self.options.class_name))

    def ours(self) -> list[Obj]:
        default = self._is_default()
        return [i for i in self.ingresses.store.list()
                if model.is_ours(i, self.options.class_name, default)
                and not (i.get("metadata") or {}).get("deletionTimestamp")]

    def build(self) -> model.Config:
        slices: dict[str, list[Obj]] = {}
        for es in self.slices.store.list():
            for key in _service_key(es):
                slices.setdefault(key, []).append(es)
        return model.build(self.ours(),
                           {_key(s): s for s in self.services.store.list()}, slices,
                           {_key(s): s for s in self.secrets.store.list()
                            if s.get("type") == model.TLS_SECRET_TYPE})

    async def sync(self, key: str) -> None:
        if key == CONFIG:
            await self.sync_config()
        else:
            await self.sync_status(key)

    async def sync_config(self) -> None:
        config = self.build()
        self._warn(config.warnings)
        text = render(config, self.options.settings)
        try:
            applied = await self.nginx.apply(config, text)
        except NginxError as e:
            logger.error("%s", e)  # nginx keeps serving the last good config
            raise RetryLater(str(e)) from None
        if applied:
            logger.info("nginx serves %d server(s), %d upstream(s) for %d Ingress(es)",
                        len(config.servers), len(config.upstreams), len(config.ingresses))
        self.config = config

    def _warn(self, warnings: tuple[model.Problem, ...]) -> None:
        """One Warning event per new problem (not one per rebuild); a problem that went
        away and comes back is reported again."""
        current = set(warnings)
        for w in warnings:
            if w in self.warned:
                continue
            ing = self.ingresses.store.get_by_key(w.ingress)
            logger.warning("Ingress %s: %s", w.ingress, w.message)
            if ing is not None:
                self.recorder.event(ing, WARNING, w.reason, w.message)
        self.warned = current

    async def sync_status(self, key: str) -> None:
        ing = self.ingresses.store.get_by_key(key)
        if ing is None or not model.is_ours(ing, self.options.class_name, self._is_default()):
            return
        want = load_balancer_status(self.options.publish_address)
        status = ing.get("status") or {}
        if (status.get("loadBalancer") or {}).get("ingress") == want:
            return
        updated = copy.deepcopy(ing)
        updated.setdefault("status", {})["loadBalancer"] = {"ingress": want}
        ns = key.partition("/")[0]
        await self.client.update_status("ingresses", updated, ns)
        logger.info("Ingress %s: status.loadBalancer.ingress = %s", key, want)

__all__ = ["CONFIG", "IngressSync", "Options", "load_balancer_status"]

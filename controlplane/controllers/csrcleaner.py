"""The csrcleaner controller: old CertificateSigningRequests go away.

As kube-controller-manager's csrcleaner: a request is deleted once it is no longer of
use, so that nodes renewing their certificates do not pile requests up: issued or
approved, denied or failed an hour after that decision; pending a day after it was
made; and any request whose certificate has expired. `due` is pure; the controller
deletes what is due and looks again when the next request will be.
"""

from __future__ import annotations

import contextlib
import datetime
import logging

from jota import pki
from jota.api import certificates, errors
from jota.api.meta import Obj, name_of
from jota.client import (
    Client,
    RateLimitingQueue,
    SharedInformerFactory,
    object_of,
    run_workers,
)
from jota.client.events import utcnow
from jota.client.store import meta_namespace_key

logger = logging.getLogger(__name__)

PENDING = datetime.timedelta(hours=24)
DECIDED = datetime.timedelta(hours=1)  # approved (issued or not), denied, failed


def _time(value: object) -> datetime.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def due(csr: Obj) -> datetime.datetime | None:
    """When `csr` may be deleted (None: it carries no time to count from)."""
    created = _time((csr.get("metadata") or {}).get("creationTimestamp"))
    times: list[datetime.datetime] = []
    decided = [certificates.condition(csr, kind) for kind in
               (certificates.APPROVED, certificates.DENIED, certificates.FAILED)]
    for cond in filter(None, decided):
        when = _time(cond.get("lastUpdateTime")) or _time(cond.get("lastTransitionTime")) \
            or created
        if when is not None:
            times.append(when + DECIDED)
    if not any(decided) and created is not None:
        times.append(created + PENDING)
    cert = certificates.certificate(csr)
    if cert:
        with contextlib.suppress(ValueError):
            times.append(pki.expires(cert))
    return min(times) if times else None


class CSRCleaner:
    name = "csrcleaner"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.informer = factory.informer_for(certificates.RESOURCE)
        self.queue = RateLimitingQueue("csrcleaner")
        self.informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new))

    def _enqueue(self, csr: Obj) -> None:
        self.queue.add(meta_namespace_key(object_of(csr)))

    async def run(self, workers: int = 1) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        csr = self.informer.store.get_by_key(key)
        if csr is None:
            return
        when = due(csr)
        if when is None:
            return
        left = (when - utcnow()).total_seconds()
        if left > 0:
            self.queue.add_after(key, left + 1)
            return
        try:
            await self.client.delete(certificates.RESOURCE, name_of(csr))
        except errors.NotFound:
            return
        logger.info("deleted old certificate signing request", extra={"csr": key})

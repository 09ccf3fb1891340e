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

from controlplane.controllers.runloop import ObjectController
from jota import pki
from jota.api import certificates
from jota.api.meta import Obj, name_of
from jota.client import Client, SharedInformerFactory
from jota.client.events import utcnow

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


class CSRCleaner(ObjectController):
    name = "csrcleaner"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        super().__init__(client, factory.informer_for(certificates.RESOURCE), "csrcleaner")

    async def reconcile(self, key: str, csr: Obj) -> None:
        when = due(csr)
        if when is None:
            return
        left = (when - utcnow()).total_seconds()
        if left > 0:
            self.queue.add_after(key, left + 1)
            return
        await self.client.delete(certificates.RESOURCE, name_of(csr))
        logger.info("deleted old certificate signing request", extra={"csr": key})

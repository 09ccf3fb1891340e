"""The tokencleaner controller: expired bootstrap tokens go away.

As kube-controller-manager's tokencleaner: a bootstrap-token Secret in kube-system is
deleted once its expiration has passed. (The apiserver already refuses an expired
token; this keeps `jota token list` and the Secrets tidy.) A token not yet expired is
looked at again when it expires.
"""

from __future__ import annotations

import datetime
import logging

from controlplane.controllers.runloop import ObjectController
from jota.api import bootstraptoken
from jota.api.meta import Obj, name_of
from jota.client import Client, SharedInformerFactory
from jota.client.events import utcnow

logger = logging.getLogger(__name__)


def seconds_left(secret: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the token expires (0 or less: delete it); None: it never does or
    the Secret is no bootstrap token."""
    if not bootstraptoken.is_token_secret(secret):
        return None
    when = bootstraptoken.expiration(secret)
    return None if when is None else (when - now).total_seconds()


class TokenCleaner(ObjectController):
    name = "tokencleaner"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        super().__init__(client, factory.informer_for("secrets", bootstraptoken.NAMESPACE),
                         "token_cleaner")

    def wants(self, secret: Obj) -> bool:
        return bootstraptoken.is_token_secret(secret)

    async def reconcile(self, key: str, secret: Obj) -> None:
        left = seconds_left(secret, utcnow())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left + 1)
            return
        await self.client.delete("secrets", name_of(secret), bootstraptoken.NAMESPACE)
        logger.info("deleted expired bootstrap token", extra={"secret": key})

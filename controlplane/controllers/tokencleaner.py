"""The tokencleaner controller: expired bootstrap tokens go away.

As kube-controller-manager's tokencleaner: a bootstrap-token Secret in kube-system is
deleted once its expiration has passed. (The apiserver already refuses an expired
token; this keeps `jota token list` and the Secrets tidy.) A token not yet expired is
looked at again when it expires.
"""

from __future__ import annotations

import datetime
import logging

from jota.api import bootstraptoken, errors
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


def seconds_left(secret: Obj, now: datetime.datetime) -> float | None:
    """Seconds until the token expires (0 or less: delete it); None: it never does or
    the Secret is no bootstrap token."""
    if not bootstraptoken.is_token_secret(secret):
        return None
    when = bootstraptoken.expiration(secret)
    return None if when is None else (when - now).total_seconds()


class TokenCleaner:
    name = "tokencleaner"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        self.client = client
        self.informer = factory.informer_for("secrets", bootstraptoken.NAMESPACE)
        self.queue = RateLimitingQueue("token_cleaner")
        self.informer.add_event_handler(
            on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new))

    def _enqueue(self, secret: Obj) -> None:
        secret = object_of(secret)
        if bootstraptoken.is_token_secret(secret):
            self.queue.add(meta_namespace_key(secret))

    async def run(self, workers: int = 1) -> None:
        await run_workers(self.queue, self.sync, workers)

    async def sync(self, key: str) -> None:
        secret = self.informer.store.get_by_key(key)
        if secret is None:
            return
        left = seconds_left(secret, utcnow())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left + 1)
            return
        try:
            await self.client.delete("secrets", name_of(secret), bootstraptoken.NAMESPACE)
        except errors.NotFound:
            return
        logger.info("deleted expired bootstrap token", extra={"secret": key})

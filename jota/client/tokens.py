"""Creating a bootstrap token through the API: `jota token create` and `jota local up`
(which makes one for its nodes to join with) both store tokens this way."""

from __future__ import annotations

import datetime

from jota.api import bootstraptoken, errors
from jota.client.client import Client
from jota.client.events import utcnow

ATTEMPTS = 5  # random ids drawn before giving up (36^6 of them: a clash is rare)


class TokenExists(ValueError):
    """The given token's id is taken already."""


async def create(client: Client, *, token: str = "",
                 ttl: datetime.timedelta | None = bootstraptoken.DEFAULT_TTL,
                 description: str = "",
                 groups: tuple[str, ...] = (bootstraptoken.DEFAULT_GROUP,)) -> str:
    """Store `token` (a random one when "") as kube-system/bootstrap-token-<id> and return
    it; ValueError for a malformed token or group, TokenExists when its id is taken."""
    for _ in range(ATTEMPTS):
        value = token or bootstraptoken.new_token()
        secret = bootstraptoken.secret_for(value, now=utcnow(), ttl=ttl,
                                           description=description, groups=groups)
        try:
            await client.create("secrets", secret, bootstraptoken.NAMESPACE)
        except errors.AlreadyExists:
            if token:
                raise TokenExists(f'a token with id "{token.split(".")[0]}" already '
                                  f"exists") from None
            continue  # a random id taken already: draw again
        return value
    raise ValueError("could not find a free token id")

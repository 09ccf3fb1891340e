"""Bootstrap tokens: the shared secret a joining node presents before it has a certificate.

kubeadm's format and storage, which the apiserver's token authenticator reads: a
token `abcdef.0123456789abcdef` (6-character public id, 16-character secret, both
[a-z0-9]) lives in the Secret kube-system/bootstrap-token-<id> of type
bootstrap.kubernetes.io/token, with its expiration (RFC 3339), its usages, and the
extra groups its holder gets. `jota token create|list|delete` and the
controller-manager's tokencleaner use these pure helpers.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import secrets

from jota.api.meta import Obj

NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_ID = re.compile(r"^[a-z0-9]{6}$")
GROUP = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
DEFAULT_GROUP = "system:bootstrappers:jota:default-node-token"
DEFAULT_TTL = datetime.timedelta(hours=24)
USAGES = ("authentication", "signing")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def new_token() -> str:
    """A fresh random token, kubeadm's shape."""
    def pick(n: int) -> str:
        return "".join(secrets.choice(_ALPHABET) for _ in range(n))
    return f"{pick(6)}.{pick(16)}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def rfc3339(when: datetime.datetime) -> str:
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_for(token: str, *, now: datetime.datetime,
               ttl: datetime.timedelta | None = DEFAULT_TTL, description: str = "",
               groups: tuple[str, ...] = (DEFAULT_GROUP,)) -> Obj:
    """The Secret that makes `token` valid (ttl None or zero: it never expires)."""
    match = TOKEN.match(token)
    if match is None:
        raise ValueError(f'token "{token}" was not of form '
                         r'"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"')
    token_id, token_secret = match.groups()
    for group in groups:
        if not GROUP.match(group):
            raise ValueError(f'--groups: "{group}" must match {GROUP.pattern}')
    data = {"token-id": token_id, "token-secret": token_secret,
            "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
            "auth-extra-groups": ",".join(groups)}
    if description:
        data["description"] = description
    if ttl:
        data["expiration"] = rfc3339(now + ttl)
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": SECRET_PREFIX + token_id, "namespace": NAMESPACE},
            "data": {k: _b64(v) for k, v in data.items()}}


def field(secret: Obj, key: str) -> str:
    """A decoded data field ("" when absent or not base64 text)."""
    value = (secret.get("data") or {}).get(key) if isinstance(secret, dict) else None
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def is_token_secret(secret: Obj) -> bool:
    return isinstance(secret, dict) and secret.get("type") == SECRET_TYPE and \
        str((secret.get("metadata") or {}).get("name", "")).startswith(SECRET_PREFIX)


def expiration(secret: Obj) -> datetime.datetime | None:
    """When the token stops working; None if never. An unreadable date counts as already
    expired (the authenticator refuses it too)."""
    text = field(secret, "expiration")
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.UTC)


def is_expired(secret: Obj, now: datetime.datetime) -> bool:
    when = expiration(secret)
    return when is not None and when <= now


def token_id_of(text: str) -> str:
    """The id in `abcdef` or `abcdef.0123456789abcdef`, or ValueError in kubeadm's words."""
    match = TOKEN.match(text)
    if match:
        return match.group(1)
    if TOKEN_ID.match(text):
        return text
    raise ValueError('given token didn\'t match pattern "[a-z0-9]{6}" or '
                     '"[a-z0-9]{6}\\.[a-z0-9]{16}"')


def list_row(secret: Obj, now: datetime.datetime) -> list[str]:
    """kubeadm token list's TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS."""
    token = f"{field(secret, 'token-id')}.{field(secret, 'token-secret')}"
    when = expiration(secret)
    if when is None:
        ttl, expires = "<forever>", "<never>"
    elif when <= now:
        ttl, expires = "<invalid>", rfc3339(when)
    else:
        ttl, expires = _ttl(when - now), rfc3339(when)
    usages = ",".join(u for u in USAGES if field(secret, f"usage-bootstrap-{u}") == "true")
    return [token, ttl, expires, usages or "<none>", field(secret, "description") or "<none>",
            field(secret, "auth-extra-groups") or "<none>"]


def _ttl(left: datetime.timedelta) -> str:
    """Go's Duration rounded to whole units as kubeadm's humanized TTL (`23h`, `59m`)."""
    seconds = int(left.total_seconds())
    if seconds >= 3600:
        return f"{round(seconds / 3600)}h"
    if seconds >= 60:
        return f"{round(seconds / 60)}m"
    return f"{seconds}s"


def parse_ttl(text: str) -> datetime.timedelta:
    """`24h`, `30m`, `1h30m`, `0` (never expires): kubeadm's --ttl."""
    if text.strip() == "0":
        return datetime.timedelta(0)
    total, number = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    for ch in text.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            raise ValueError(f'invalid duration "{text}"')
    if number or total <= 0:
        raise ValueError(f'invalid duration "{text}"')
    return datetime.timedelta(seconds=total)


"""Who is calling, and may they: the apiserver's one gate, before any verb runs.

A TLS apiserver knows a caller by the client certificate gRPC has already verified
against `--client-ca-file` (CommonName = user, Organizations = groups, as Kubernetes),
or by a bootstrap token (`authorization: Bearer abcdef.0123456789abcdef`) matching a
`bootstrap.kubernetes.io/token` Secret in kube-system, as kubeadm's join does. Anyone
else is refused with UNAUTHENTICATED ("Unauthorized").

An apiserver started without TLS flags serves plaintext on loopback only (main.py
refuses anything else) and treats every caller as an admin: that is the development
and test mode, as kube-apiserver's old insecure port was.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from controlplane.apiserver.authz import Request, User, authorize
from jota import pki
from jota.api import errors
from jota.api.meta import Obj
from jota.api.registry import by_plural

TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
TOKEN_SECRET_PREFIX = "bootstrap-token-"
TOKEN_SECRET_TYPE = "bootstrap.kubernetes.io/token"
DEV_ADMIN = User("system:admin", (pki.MASTERS, "system:authenticated"))

# gRPC method -> (RBAC verb, subresource). Discovery and Explain need only a known caller.
VERBS = {"Create": ("create", ""), "Get": ("get", ""), "List": ("list", ""),
         "Watch": ("watch", ""), "Update": ("update", ""), "UpdateStatus": ("update", "status"),
         "UpdateApproval": ("update", "approval"),
         "Patch": ("patch", ""), "Delete": ("delete", ""), "Bind": ("create", "binding"),
         "GetScale": ("get", "scale"), "UpdateScale": ("update", "scale"),
         "Evict": ("create", "eviction"), "Logs": ("get", "log"), "Exec": ("create", "exec"),
         "PortForward": ("create", "portforward")}

SecretLookup = Callable[[str], Awaitable[Obj | None]]  # name in kube-system -> Secret
# (namespace, name) -> spec.nodeName ("" unbound), None when the pod does not exist.
PodNode = Callable[[str, str], Awaitable[str | None]]


def _decoded(secret: Obj, key: str) -> str:
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return ""
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def token_user(token: str, secret: Obj | None, now: datetime.datetime) -> User | None:
    """The identity a bootstrap token stands for, checked against its Secret (pure)."""
    match = TOKEN.match(token)
    if match is None or secret is None or secret.get("type") != TOKEN_SECRET_TYPE:
        return None
    token_id, token_secret = match.groups()
    if _decoded(secret, "token-id") != token_id or _decoded(
            secret, "usage-bootstrap-authentication") != "true":
        return None
    if not hmac.compare_digest(_decoded(secret, "token-secret"), token_secret):
        return None
    expiration = _decoded(secret, "expiration")
    if expiration:
        try:
            if datetime.datetime.fromisoformat(expiration.replace("Z", "+00:00")) <= now:
                return None
        except ValueError:
            return None
    extra = tuple(g for g in _decoded(secret, "auth-extra-groups").split(",")
                  if g.startswith("system:bootstrappers:"))
    return User(f"system:bootstrap:{token_id}", (pki.BOOTSTRAPPERS, *extra))


def user_of_cert(pem: bytes) -> User:
    identity = pki.identity_of(pem)
    return User(identity.user, identity.groups)


class Gate:
    """Authenticate, then authorize, one call. `secure=False` is the loopback dev mode."""

    def __init__(self, *, secure: bool, secret: SecretLookup | None = None,
                 pod_node: PodNode | None = None,
                 clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(
                     datetime.UTC)) -> None:
        self.secure = secure
        self.secret = secret
        self.pod_node = pod_node
        self.clock = clock

    async def authenticate(self, context: Any) -> User:
        if not self.secure:
            return DEV_ADMIN
        auth: Mapping[str, Any] = context.auth_context() or {}
        pems = list(auth.get("x509_pem_cert") or [])
        if pems:
            return user_of_cert(pems[0])
        metadata = dict(context.invocation_metadata() or ())
        header = str(metadata.get("authorization", ""))
        if header.startswith("Bearer ") and self.secret is not None:
            token = header[len("Bearer "):].strip()
            match = TOKEN.match(token)
            if match:
                user = token_user(token, await self.secret(TOKEN_SECRET_PREFIX +
                                                           match.group(1)), self.clock())
                if user is not None:
                    return user
        raise errors.Unauthorized("Unauthorized")

    async def check(self, method: str, ref: Any, context: Any, *, status: bool = False,
                    group: str = "") -> User:
        """The caller, if it may call `method` on `ref` (a pb ObjectRef or PodTarget)."""
        user = await self.authenticate(context)
        if method not in VERBS or not self.secure:
            return user
        verb, subresource = VERBS[method]
        resource = getattr(ref, "resource", "") or "pods"
        if not group:
            with contextlib.suppress(errors.BadRequest):
                group = by_plural(resource).group
        if status:
            subresource = "status"
        request = Request(verb, resource, group, getattr(ref, "namespace", ""),
                          getattr(ref, "name", "") or getattr(ref, "pod", ""), subresource)
        if user.node and resource == "pods" and verb not in ("get", "list", "watch") \
                and self.pod_node is not None and request.name:
            bound = await self.pod_node(request.namespace, request.name)
            if bound is None and verb != "create":
                # Gone already (a node finishing a deletion twice): say so, as a node
                # may read every pod anyway; a Forbidden would look like a real refusal.
                raise errors.NotFound.of("pods", request.name)
            request = Request(verb, resource, group, request.namespace, request.name,
                              subresource, bound or "")
        authorize(user, request)
        return user

"""Who may do what: Kubernetes' Node authorizer and bootstrap rules, as pure functions.

`authorize(user, request)` raises Forbidden with kube-apiserver's wording or returns.
The rules, in the order kube-apiserver's authorizers would reach them:

- `system:masters` (the admin certificate) may do anything;
- a joining node holds only a bootstrap token (`system:bootstrappers`): it may create
  a CertificateSigningRequest and read it back, nothing else;
- a node (`system:node:NAME` in `system:nodes`) reads what it needs, and writes only its
  own Node and Lease, the status of pods bound to it, pod deletion once its pods have
  stopped, events, and CSRs for its next certificate (the Node authorizer + NodeRestriction);
- any other authenticated identity (the control-plane daemons, jota-proxy, jota-dns)
  may do anything: Jota has no RBAC yet, so their certificates are as good as admin's.
  docs/architecture.md says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from jota import pki
from jota.api import errors

READS = frozenset({"get", "list", "watch"})
NODE_LEASES = "kube-node-lease"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()

    @property
    def node(self) -> str:
        """The node's name for a node's identity, else ""."""
        if pki.NODES in self.groups and self.name.startswith(pki.NODE_PREFIX):
            return self.name[len(pki.NODE_PREFIX):]
        return ""


@dataclass(frozen=True)
class Request:
    """One API call, in RBAC's words (verb: get, list, watch, create, update, patch,
    delete; subresource: status, binding, scale, eviction, log, exec, portforward)."""

    verb: str
    resource: str
    group: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    # For writes to pods by a node: the node the pod is bound to (spec.nodeName), looked
    # up by the caller; "" when the pod does not exist.
    bound_node: str = ""


def forbidden(user: User, req: Request, why: str = "") -> errors.Forbidden:
    """kube-apiserver's message: `nodes "b" is forbidden: User "system:node:a" cannot
    patch resource "nodes/status" in API group "" at the cluster scope: <why>` (the
    subject is the group-qualified resource, the subresource is in the verb's part)."""
    resource = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    qualified = f"{req.resource}.{req.group}" if req.group else req.resource
    subject = f'{qualified} "{req.name}"' if req.name else qualified
    scope = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{user.name}" cannot {req.verb} resource '
               f'"{resource}" in API group "{req.group}" {scope}')
    return errors.Forbidden(message + (f": {why}" if why else ""))


def authorize(user: User, req: Request) -> None:
    if pki.MASTERS in user.groups:
        return
    if pki.BOOTSTRAPPERS in user.groups:
        if req.resource == "certificatesigningrequests" and not req.subresource and \
                req.verb in READS | {"create"}:
            return
        raise forbidden(user, req)
    node = user.node
    if node:
        _authorize_node(user, node, req)
        return
    if pki.NODES in user.groups:  # in the group, but no node name: refuse as upstream
        raise forbidden(user, req, "unknown node")
    if user.name:
        return
    raise forbidden(user, req)


def _authorize_node(user: User, node: str, req: Request) -> None:
    if req.verb in READS and req.subresource in ("", "status"):
        return
    if req.resource == "nodes":
        if req.name in ("", node) and req.verb in ("create", "update", "patch") \
                and req.subresource in ("", "status"):
            return
        raise forbidden(user, req, f"node '{node}' cannot modify node '{req.name}'")
    if req.resource == "leases":
        if req.namespace == NODE_LEASES and req.name in ("", node) and \
                req.verb in ("create", "update", "patch"):
            return
        raise forbidden(user, req, "can only access node lease with the same name as "
                                   "the requesting node")
    if req.resource == "pods":
        writes_own = req.bound_node == node
        if req.subresource == "status" and req.verb in ("update", "patch") and writes_own:
            return
        if not req.subresource and req.verb == "delete" and writes_own:
            return
        raise forbidden(user, req, f"node '{node}' can only update pods bound to it")
    if req.resource == "events" and req.verb in ("create", "update", "patch"):
        return
    if req.resource == "certificatesigningrequests" and req.verb == "create":
        return
    raise forbidden(user, req)

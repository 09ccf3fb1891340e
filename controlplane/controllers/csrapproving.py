"""The csrapproving controller: approve the client certificates nodes ask for.

As kube-controller-manager's csrapproving controller (the "sarapprove" approver): a
request for signer kubernetes.io/kube-apiserver-client-kubelet whose subject is a
node's (CN system:node:NAME, O system:nodes, no SANs, client-auth usages) is approved
when a joining node asked with a bootstrap token (system:bootstrappers, kube's
"nodeclient") or when that same node asks again to renew (kube's "selfnodeclient").
Everything else stays Pending for a human (`jota certificate approve`). Jota has no
RBAC, so kube's SubjectAccessReview becomes the group and name checks below.

`decide` is pure; the controller (an `ObjectController`) only reads the cache and
writes the approval.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from controlplane.controllers.runloop import ObjectController
from jota import pki
from jota.api import certificates
from jota.api.meta import Obj
from jota.client import Client, SharedInformerFactory
from jota.client.events import format_time, utcnow

logger = logging.getLogger(__name__)

REASON = "AutoApproved"
NODE_CLIENT_MESSAGE = "Auto approving kubelet client certificate after SubjectAccessReview."
SELF_NODE_CLIENT_MESSAGE = ("Auto approving self kubelet client certificate after "
                            "SubjectAccessReview.")
REQUIRED_USAGES = frozenset({"client auth"})
ALLOWED_USAGES = frozenset({"client auth", "digital signature", "key encipherment"})


@dataclass(frozen=True)
class Decision:
    """Approve with `message`, or leave the request alone (`why` says why, for logs)."""

    approve: bool
    message: str = ""
    why: str = ""


def node_client_problem(csr: Obj) -> str:
    """"" when `csr` is a well-formed node client request (kube's
    ValidateKubeletClientCSR), else what is wrong with it."""
    if (csr.get("spec") or {}).get("signerName") != certificates.KUBELET_CLIENT:
        return "not a kubelet client signer"
    try:
        request = pki.read_csr(certificates.request(csr))
    except ValueError as e:
        return str(e)
    identity = request.identity
    if identity.groups != (pki.NODES,):
        return f"subject organization is not {pki.NODES}"
    if not identity.user.startswith(pki.NODE_PREFIX) or \
            len(identity.user) == len(pki.NODE_PREFIX):
        return f'subject common name does not begin with "{pki.NODE_PREFIX}"'
    if request.hosts:
        return "DNS or IP subjectAltNames are not allowed"
    usages = set((csr.get("spec") or {}).get("usages") or [])
    if not usages >= REQUIRED_USAGES or not usages <= ALLOWED_USAGES:
        return f"usages must be a subset of {sorted(ALLOWED_USAGES)} with client auth"
    return ""


def decide(csr: Obj) -> Decision:
    """What the approver does with one request (pure)."""
    if certificates.has_condition(csr, certificates.APPROVED) or \
            certificates.has_condition(csr, certificates.DENIED):
        return Decision(False, why="already decided")
    if (csr.get("status") or {}).get("certificate"):
        return Decision(False, why="already issued")
    problem = node_client_problem(csr)
    if problem:
        return Decision(False, why=problem)
    spec = csr.get("spec") or {}
    username, groups = str(spec.get("username") or ""), list(spec.get("groups") or [])
    if pki.BOOTSTRAPPERS in groups:
        return Decision(True, NODE_CLIENT_MESSAGE)
    subject = pki.read_csr(certificates.request(csr)).identity.user
    if username == subject and pki.NODES in groups:
        return Decision(True, SELF_NODE_CLIENT_MESSAGE)
    return Decision(False, why=f"requestor {username!r} may not ask for {subject!r}")


class CSRApprovingController(ObjectController):
    name = "csrapproving"

    def __init__(self, client: Client, factory: SharedInformerFactory) -> None:
        super().__init__(client, factory.informer_for(certificates.RESOURCE), "certificate")

    async def reconcile(self, key: str, csr: Obj) -> None:
        decision = decide(csr)
        if not decision.approve:
            return
        approved = certificates.with_condition(
            csr, certificates.APPROVED, REASON, decision.message, format_time(utcnow()))
        await self.client.update_approval(certificates.RESOURCE, approved)
        logger.info("approved", extra={"csr": key, "requestor":
                                       (csr.get("spec") or {}).get("username", "")})

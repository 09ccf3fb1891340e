"""The csrsigning controller: issue the certificates of approved requests.

As kube-controller-manager's csrsigning controller with `--cluster-signing-cert-file`
and `--cluster-signing-key-file`: the cluster CA signs approved requests of three
signers, kubernetes.io/kube-apiserver-client-kubelet (node client certificates),
kubernetes.io/kubelet-serving (node serving certificates, approved by a person) and
kubernetes.io/kube-apiserver-client (any client; only once a person approved it, never
on the auto-approver's word). The certificate lasts `--cluster-signing-duration`
(8760h), or less when the request's spec.expirationSeconds asks for less. A request
the signer cannot honour gets a Failed condition (SignerValidationFailure), as kube's.

`plan` is pure; the controller (an `ObjectController`) only reads the cache and
writes status.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from controlplane.controllers.csrapproving import ALLOWED_USAGES, REASON, node_client_problem
from controlplane.controllers.runloop import ObjectController
from jota import pki
from jota.api import certificates
from jota.api.meta import Obj
from jota.client import Client, SharedInformerFactory
from jota.client.events import format_time, utcnow

logger = logging.getLogger(__name__)

DEFAULT_DURATION = datetime.timedelta(hours=8760)
SIGNERS = (certificates.KUBELET_CLIENT, certificates.KUBE_APISERVER_CLIENT,
           certificates.KUBELET_SERVING)
SERVING_USAGES = frozenset({"digital signature", "key encipherment", "server auth"})
FAILURE_REASON = "SignerValidationFailure"


@dataclass(frozen=True)
class SigningConfig:
    """The cluster CA (PEM) and how long what it signs lasts."""

    ca: pki.KeyPair
    duration: datetime.timedelta = DEFAULT_DURATION


@dataclass(frozen=True)
class Plan:
    """Sign for `lifetime`, fail with `failure`, or (neither) leave the request alone."""

    lifetime: datetime.timedelta | None = None
    failure: str = ""


def lifetime(csr: Obj, duration: datetime.timedelta) -> datetime.timedelta:
    """The cluster's duration, capped by spec.expirationSeconds."""
    seconds = (csr.get("spec") or {}).get("expirationSeconds")
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0:
        return min(duration, datetime.timedelta(seconds=seconds))
    return duration


def _client_problem(csr: Obj) -> str:
    usages = set((csr.get("spec") or {}).get("usages") or [])
    if "client auth" not in usages or not usages <= ALLOWED_USAGES:
        return (f"invalid usage for client certificate: usages must be a subset of "
                f"{sorted(ALLOWED_USAGES)} with client auth")
    try:
        pki.read_csr(certificates.request(csr))
    except ValueError as e:
        return str(e)
    return ""


def serving_problem(csr: Obj) -> str:
    """"" for a well-formed node serving request (kube's ValidateKubeletServingCSR): a
    node's subject, DNS or IP names only, at least one, server-auth usages."""
    usages = set((csr.get("spec") or {}).get("usages") or [])
    if "server auth" not in usages or not usages <= SERVING_USAGES:
        return (f"invalid usage for serving certificate: usages must be a subset of "
                f"{sorted(SERVING_USAGES)} with server auth")
    try:
        request = pki.read_csr(certificates.request(csr))
    except ValueError as e:
        return str(e)
    identity = request.identity
    if identity.groups != (pki.NODES,) or not identity.user.startswith(pki.NODE_PREFIX):
        return f'subject must be "{pki.NODE_PREFIX}NAME" in organization {pki.NODES}'
    if not request.hosts:
        return "at least one DNS or IP subjectAltName is required"
    return ""


def plan(csr: Obj, duration: datetime.timedelta = DEFAULT_DURATION) -> Plan:
    """What the signer does with one request (pure)."""
    spec = csr.get("spec") or {}
    signer = spec.get("signerName")
    if signer not in SIGNERS or (csr.get("status") or {}).get("certificate"):
        return Plan()
    if not certificates.has_condition(csr, certificates.APPROVED) or \
            certificates.has_condition(csr, certificates.DENIED) or \
            certificates.has_condition(csr, certificates.FAILED):
        return Plan()
    if signer == certificates.KUBELET_CLIENT:
        problem = node_client_problem(csr)
    elif signer == certificates.KUBELET_SERVING:
        problem = serving_problem(csr)
    else:
        approval = certificates.condition(csr, certificates.APPROVED) or {}
        if approval.get("reason") == REASON:
            return Plan()  # a client certificate for anyone needs a person's approval
        problem = _client_problem(csr)
    if problem:
        return Plan(failure=problem)
    return Plan(lifetime=lifetime(csr, duration))


class CSRSigningController(ObjectController):
    name = "csrsigning"

    def __init__(self, client: Client, factory: SharedInformerFactory,
                 config: SigningConfig) -> None:
        super().__init__(client, factory.informer_for(certificates.RESOURCE), "csrsigning")
        self.config = config

    async def reconcile(self, key: str, csr: Obj) -> None:
        decided = plan(csr, self.config.duration)
        if decided.failure:
            new = certificates.with_condition(csr, certificates.FAILED, FAILURE_REASON,
                                              decided.failure, format_time(utcnow()))
        elif decided.lifetime is not None:
            serving = (csr.get("spec") or {}).get("signerName") == \
                certificates.KUBELET_SERVING
            cert = pki.sign_csr(self.config.ca, certificates.request(csr),
                                server=serving, client=not serving,
                                lifetime=decided.lifetime)
            new = dict(csr, status={**(csr.get("status") or {}),
                                    "certificate": certificates.encode(cert)})
        else:
            return
        await self.client.update_status(certificates.RESOURCE, new)
        if decided.failure:
            logger.warning("refused to sign", extra={"csr": key, "reason": decided.failure})
        else:
            logger.info("signed", extra={"csr": key})

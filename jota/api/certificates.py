"""CertificateSigningRequests (certificates.k8s.io/v1): the words every part agrees on.

A joining node asks for its certificate with a CSR; the controller-manager approves
node client requests it recognizes and signs approved ones; `jota certificate
approve|deny` is a human's decision; `jota get csr` prints the result. All of them
read a CSR through these pure helpers, so "approved", "issued" and the printed
CONDITION mean the same thing everywhere (Kubernetes' certificates/v1 helpers).
"""

from __future__ import annotations

import base64
import binascii
import copy
import secrets
from typing import Any

from jota.api.meta import Obj

RESOURCE = "certificatesigningrequests"
API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"

# Kubernetes' built-in signers.
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
KNOWN_SIGNERS = (KUBE_APISERVER_CLIENT, KUBELET_CLIENT, KUBELET_SERVING)

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"

# certificates.k8s.io/v1 KeyUsage values.
KEY_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment",
    "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
    "decipher only", "any", "server auth", "client auth", "code signing", "email protection",
    "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping",
    "ocsp signing", "microsoft sgc", "netscape sgc")
NODE_CLIENT_USAGES = ("digital signature", "client auth")  # kubelet's request
NODE_SERVING_USAGES = ("digital signature", "server auth")


def conditions(csr: Obj) -> list[dict[str, Any]]:
    raw = (csr.get("status") or {}).get("conditions") if isinstance(csr, dict) else None
    return [c for c in raw or [] if isinstance(c, dict)]


def has_condition(csr: Obj, kind: str) -> bool:
    """A condition of this type with status True (Approved/Denied/Failed are only True)."""
    return any(c.get("type") == kind and c.get("status", "True") == "True"
               for c in conditions(csr))


def condition(csr: Obj, kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions(csr) if c.get("type") == kind), None)


def certificate(csr: Obj) -> bytes:
    """The issued certificate (PEM), b"" until the signer has written one."""
    value = (csr.get("status") or {}).get("certificate") if isinstance(csr, dict) else None
    return decode(value) if isinstance(value, str) else b""


def request(csr: Obj) -> bytes:
    """The PEM request of spec.request, b"" when absent or not base64."""
    value = (csr.get("spec") or {}).get("request") if isinstance(csr, dict) else None
    return decode(value) if isinstance(value, str) else b""


def decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def condition_text(csr: Obj) -> str:
    """kubectl's CONDITION column (extractCSRStatus): `Approved,Issued`, `Denied`,
    `Pending`, `Approved,Failed`."""
    kinds = {c.get("type") for c in conditions(csr)}
    text = DENIED if DENIED in kinds else APPROVED if APPROVED in kinds else "Pending"
    if FAILED in kinds:
        text += ",Failed"
    if (csr.get("status") or {}).get("certificate"):
        text += ",Issued"
    return text


def with_condition(csr: Obj, kind: str, reason: str, message: str, now: str) -> Obj:
    """A copy of the CSR with one more condition of `kind` (replacing one of the same
    type), as kubectl certificate approve and the approver write it."""
    out = copy.deepcopy(csr)
    kept = [c for c in conditions(out) if c.get("type") != kind]
    kept.append({"type": kind, "status": "True", "reason": reason, "message": message,
                 "lastUpdateTime": now, "lastTransitionTime": now})
    if not isinstance(out.get("status"), dict):
        out["status"] = {}
    out["status"]["conditions"] = kept
    return out


def node_csr(request_pem: bytes, *, name: str = "",
             expiration_seconds: int | None = None) -> Obj:
    """The CSR a node sends for its client certificate (kubelet's, named node-csr-...)."""
    spec: dict[str, Any] = {"request": encode(request_pem), "signerName": KUBELET_CLIENT,
                            "usages": list(NODE_CLIENT_USAGES)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name or "node-csr-" + random_suffix()}, "spec": spec}


def serving_csr(request_pem: bytes) -> Obj:
    """The CSR a node sends for its serving certificate (kubelet's csr-...)."""
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "csr-" + random_suffix(5)},
            "spec": {"request": encode(request_pem), "signerName": KUBELET_SERVING,
                     "usages": list(NODE_SERVING_USAGES)}}


def random_suffix(n: int = 11) -> str:
    """Lowercase letters and digits: a valid name suffix, as kubelet's random CSR names."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))

"""Rules for CertificateSigningRequests (Kubernetes' certificates validation, v1).

The request must be a PEM CSR whose signature holds; the signer a qualified name
(and, under kubernetes.io/, one Kubernetes has); usages known and given once;
Approved and Denied exclusive; an issued certificate PEM, never changed once set,
and an approval never withdrawn.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from jota.api import certificates, errors, names
from jota.api.errors import FieldError
from jota.api.meta import Obj
from jota.api.validation.common import (
    Errs,
    arr,
    as_int,
    as_str,
    duplicate,
    index,
    obj,
)

MIN_EXPIRATION_SECONDS = 600
_REQUEST_SHOWN = "<request data>"
_CERT_SHOWN = "<certificate data>"
_EXCLUSIVE = (certificates.APPROVED, certificates.DENIED)
_TRUE_ONLY = (certificates.APPROVED, certificates.DENIED, certificates.FAILED)


def _invalid(path: str, shown: str, detail: str) -> FieldError:
    return FieldError(path, f"{shown}: {detail}", type="Invalid value", has_value=False)


def validate_csr(o: Obj, old: Obj | None) -> Errs:
    spec = obj(o.get("spec"))
    errs = _request("spec.request", spec.get("request"))
    errs += _signer("spec.signerName", spec.get("signerName"))
    errs += _usages("spec.usages", spec.get("usages"))
    seconds = as_int(spec.get("expirationSeconds"))
    if seconds is not None and seconds < MIN_EXPIRATION_SECONDS:
        errs.append(errors.invalid("spec.expirationSeconds", seconds,
                                   "may not specify a duration less than 600 seconds "
                                   "(10 minutes)"))
    status = obj(o.get("status"))
    errs += _conditions("status.conditions", arr(status.get("conditions")))
    errs += _certificate("status.certificate", status.get("certificate"))
    if old is not None:
        errs += _update(o, old)
    return errs


def _request(path: str, value: Any) -> Errs:
    text = as_str(value)
    if text is None:
        return []
    pem = certificates.decode(text)
    if b"-----BEGIN CERTIFICATE REQUEST-----" not in pem:
        return [_invalid(path, _REQUEST_SHOWN, "PEM block type must be CERTIFICATE REQUEST")]
    try:
        csr = x509.load_pem_x509_csr(pem)
        valid = csr.is_signature_valid
    except ValueError as e:
        return [_invalid(path, _REQUEST_SHOWN, f"x509: {e}")]
    if not valid:
        return [_invalid(path, _REQUEST_SHOWN, "x509: the request's signature does not "
                                               "match its public key")]
    return []


def _signer(path: str, value: Any) -> Errs:
    signer = as_str(value)
    if not signer:
        return [errors.required(path)] if value is None or value == "" else []
    if signer == certificates.LEGACY_UNKNOWN:
        return [errors.invalid(path, signer,
                               "the legacy signerName is not allowed via this API version")]
    domain, slash, rest = signer.partition("/")
    if not slash or not rest or "." not in domain or names.is_dns1123_subdomain(domain):
        return [errors.invalid(path, signer, "must be a fully qualified domain and path of "
                                             "the form 'example.com/signer-name'")]
    if domain == "kubernetes.io" and signer not in certificates.KNOWN_SIGNERS:
        return [errors.unsupported(path, signer, list(certificates.KNOWN_SIGNERS))]
    return []


def _usages(path: str, value: Any) -> Errs:
    usages = arr(value)
    if not usages:
        return [errors.required(path, "usages must be provided")]
    errs: Errs = []
    seen: set[str] = set()
    for i, usage in enumerate(usages):
        if usage not in certificates.KEY_USAGES:
            errs.append(errors.unsupported(index(path, i), usage,
                                           list(certificates.KEY_USAGES)))
        elif usage in seen:
            errs.append(duplicate(index(path, i), usage))
        seen.add(str(usage))
    return errs


def _conditions(path: str, conditions: list[Any]) -> Errs:
    errs: Errs = []
    seen: set[str] = set()
    for i, c in enumerate(conditions):
        c = obj(c)
        kind, status = as_str(c.get("type")), c.get("status")
        at = index(path, i)
        if not kind:
            errs.append(errors.required(f"{at}.type"))
            continue
        if kind in _TRUE_ONLY:
            if kind in seen:
                errs.append(duplicate(f"{at}.type", kind))
            if status in (None, ""):
                errs.append(errors.required(f"{at}.status"))
            elif status != "True":
                errs.append(errors.unsupported(f"{at}.status", status, ["True"]))
        seen.add(kind)
    if all(k in seen for k in _EXCLUSIVE):
        errs.append(errors.invalid(path, certificates.DENIED,
                                   "Approved and Denied conditions are mutually exclusive"))
    return errs


def _certificate(path: str, value: Any) -> Errs:
    text = as_str(value)
    if not text:
        return []
    pem = certificates.decode(text)
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        return [_invalid(path, _CERT_SHOWN, "must contain at least one CERTIFICATE PEM "
                                            "block")]
    return []


def _update(new: Obj, old: Obj) -> Errs:
    errs: Errs = []
    old_cert = obj(old.get("status")).get("certificate")
    if old_cert and obj(new.get("status")).get("certificate") != old_cert:
        errs.append(errors.forbidden("status.certificate",
                                     "updates may not modify existing certificate content"))
    for kind in _EXCLUSIVE:
        if certificates.has_condition(old, kind) and not certificates.has_condition(new,
                                                                                   kind):
            errs.append(errors.forbidden("status.conditions",
                                         f"updates may not remove a condition of type "
                                         f'"{kind}"'))
    return errs

"""The cluster CA and the identities its certificates carry."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from jota import pki


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.new_ca()


def test_a_node_certificate_names_the_node_and_its_group(ca: pki.KeyPair) -> None:
    pair = pki.issue(ca, pki.node_user("worker-1"), organizations=[pki.NODES],
                     hosts=["172.31.0.2", "worker-1"], server=True)
    assert pki.identity_of(pair.cert) == pki.Identity("system:node:worker-1", (pki.NODES,))
    cert = x509.load_pem_x509_certificate(pair.cert)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(i) for i in sans.get_values_for_type(x509.IPAddress)] == ["172.31.0.2"]
    assert sans.get_values_for_type(x509.DNSName) == ["worker-1"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u.dotted_string for u in usages} == {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}


def test_certificates_chain_to_the_ca(ca: pki.KeyPair) -> None:
    pair = pki.issue(ca, "admin", organizations=[pki.MASTERS])
    cert = x509.load_pem_x509_certificate(pair.cert)
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    assert cert.issuer == ca_cert.subject
    public = ca_cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    cert.verify_directly_issued_by(ca_cert)
    other = pki.new_ca("someone-else")
    with pytest.raises(ValueError):
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(other.cert))


def test_a_csr_is_read_checked_and_signed(ca: pki.KeyPair) -> None:
    csr, key = pki.new_csr("system:node:w2", [pki.NODES], hosts=["10.0.0.9"])
    request = pki.read_csr(csr)
    assert request.identity == pki.Identity("system:node:w2", (pki.NODES,))
    assert request.hosts == ("10.0.0.9",)
    cert = pki.sign_csr(ca, csr)
    assert pki.identity_of(cert) == request.identity
    assert b"PRIVATE KEY" in key


def test_garbage_is_not_a_csr() -> None:
    with pytest.raises(ValueError, match="not a PEM-encoded certificate signing request"):
        pki.read_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
                     b"REQUEST-----\n")


def test_lifetimes_are_backdated_a_little_and_last_a_year(ca: pki.KeyPair) -> None:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    pair = pki.issue(ca, "x", now=now)
    cert = x509.load_pem_x509_certificate(pair.cert)
    assert cert.not_valid_before_utc == now - pki.BACKDATE
    assert pki.expires(pair.cert) == now - pki.BACKDATE + datetime.timedelta(days=365)

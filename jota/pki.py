"""The cluster's certificates: one CA, and a certificate per component and node.

Identities follow Kubernetes' conventions, because its authorizers read them: the
subject's CommonName is the user (`system:node:worker-1`, `system:kube-scheduler`,
`admin`), its Organizations the groups (`system:nodes`, `system:masters`). Keys are
ECDSA P-256: small, fast to make, and accepted by gRPC's BoringSSL and by etcd.

Everything here is pure (bytes in, bytes out, clock injectable); writing the files
is for `jota local up` and deploy/'s scripts.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 365
BACKDATE = datetime.timedelta(minutes=5)  # clocks of VMs a little apart still agree

# Kubernetes' well-known identities.
MASTERS = "system:masters"
NODES = "system:nodes"
NODE_PREFIX = "system:node:"
BOOTSTRAPPERS = "system:bootstrappers"
APISERVER_KUBELET_CLIENT = "kube-apiserver-kubelet-client"


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, PEM-encoded."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class Identity:
    """Who a certificate says its holder is."""

    user: str
    groups: tuple[str, ...] = ()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sans(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def new_ca(common_name: str = "jota-ca", *, now: datetime.datetime | None = None) -> KeyPair:
    key = new_key()
    start = (now or _now()) - BACKDATE
    name = _name(common_name)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def _sign(ca: KeyPair, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, *,
          hosts: Iterable[str], server: bool, client: bool, days: int,
          now: datetime.datetime | None,
          lifetime: datetime.timedelta | None = None) -> bytes:
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key must be an ECDSA key")
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
             ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
    moment = now or _now()
    if lifetime is None:
        start, end = moment - BACKDATE, moment - BACKDATE + datetime.timedelta(days=days)
    else:  # a signer's exact lifetime from now, backdated at most 1% of it
        start, end = moment - min(BACKDATE, lifetime / 100), moment + lifetime
    # Never past the CA's own end: a certificate cannot outlive the one that vouches for it.
    end = min(end, ca_cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True,
                                            content_commitment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    sans = _sans(hosts)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def issue(ca: KeyPair, common_name: str, *, organizations: Iterable[str] = (),
          hosts: Iterable[str] = (), server: bool = False, client: bool = True,
          days: int = CERT_DAYS, now: datetime.datetime | None = None) -> KeyPair:
    """A new key and a certificate for it signed by `ca`."""
    key = new_key()
    cert = _sign(ca, _name(common_name, organizations), key.public_key(), hosts=hosts,
                 server=server, client=client, days=days, now=now)
    return KeyPair(cert, key_pem(key))


def new_csr(common_name: str, organizations: Iterable[str] = (),
            hosts: Iterable[str] = ()) -> tuple[bytes, bytes]:
    """(CSR PEM, key PEM): what a joining node sends, and the key it keeps."""
    key = new_key()
    return csr_for_key(key_pem(key), common_name, organizations, hosts), key_pem(key)


def csr_for_key(key: bytes, common_name: str, organizations: Iterable[str] = (),
                hosts: Iterable[str] = ()) -> bytes:
    """A CSR over a key kept from an earlier attempt (a node asks again with the same key,
    as kubelet keeps its pending key across restarts)."""
    private = serialization.load_pem_private_key(key, password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError("only ECDSA keys are used")
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        _name(common_name, organizations))
    sans = _sans(hosts)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(private, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Request:
    """What a CSR asks for, read and checked."""

    identity: Identity
    hosts: tuple[str, ...]


def read_csr(pem: bytes) -> Request:
    """Parse and verify a CSR's own signature; ValueError says what is wrong."""
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError:
        raise ValueError("the request is not a PEM-encoded certificate signing request") \
            from None
    try:
        valid = csr.is_signature_valid
    except ValueError:  # a key the library cannot read is as bad as a wrong signature
        valid = False
    if not valid:
        raise ValueError("the request's signature does not match its key")
    hosts: list[str] = []
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        hosts += sans.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        pass
    return Request(identity_of_name(csr.subject), tuple(hosts))


def sign_csr(ca: KeyPair, pem: bytes, *, server: bool = False, client: bool = True,
             days: int = CERT_DAYS, now: datetime.datetime | None = None,
             lifetime: datetime.timedelta | None = None) -> bytes:
    """A certificate for the request's subject and key, valid `lifetime` (else `days`)."""
    csr = x509.load_pem_x509_csr(pem)
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise ValueError("only ECDSA keys are signed")
    hosts = read_csr(pem).hosts
    return _sign(ca, csr.subject, public_key, hosts=hosts, server=server, client=client,
                 days=days, now=now, lifetime=lifetime)


def check_pair(pair: KeyPair) -> None:
    """ValueError unless `pair` is a PEM certificate and the ECDSA key it was made for."""
    try:
        cert = x509.load_pem_x509_certificate(pair.cert)
    except ValueError:
        raise ValueError("the certificate is not PEM") from None
    try:
        key = serialization.load_pem_private_key(pair.key, password=None)
    except (ValueError, TypeError):
        raise ValueError("the key is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the key must be an ECDSA key")
    if key.public_key() != cert.public_key():
        raise ValueError("the key does not match the certificate")


def identity_of_name(name: x509.Name) -> Identity:
    cn = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    orgs = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return Identity(str(cn[0].value) if cn else "", tuple(str(o.value) for o in orgs))


def identity_of(cert_pem: bytes) -> Identity:
    return identity_of_name(x509.load_pem_x509_certificate(cert_pem).subject)


def expires(cert_pem: bytes) -> datetime.datetime:
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def node_user(node: str) -> str:
    return NODE_PREFIX + node

"""`jota describe csr`: kubectl's describeCertificateSigningRequest layout.

The requesting user, signer, requested duration and status, then the subject and
subject alternative names read from the PEM request itself, as kubectl parses it.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from jota.api import certificates
from jota.api.meta import Obj
from jota.cli.printers.age import human_duration, rfc1123z
from jota.cli.printers.describe_common import Writer, describe_events
from jota.cli.printers.fields import as_dict, format_labels

_SUBJECT = (("Organization", NameOID.ORGANIZATION_NAME),
            ("Organizational Unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
            ("Country", NameOID.COUNTRY_NAME), ("Locality", NameOID.LOCALITY_NAME),
            ("Province", NameOID.STATE_OR_PROVINCE_NAME),
            ("StreetAddress", NameOID.STREET_ADDRESS), ("PostalCode", NameOID.POSTAL_CODE))


def _list(w: Writer, title: str, values: list[str]) -> None:
    """printListHelper: one value per line under a tab-aligned title."""
    if values:
        w.write(0, f"\t{title}:\t" + "\n\t\t".join(values) + "\n")


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def describe_csr(csr: Obj, events: list[Obj] | None, now: datetime) -> str:
    md, spec = as_dict(csr.get("metadata")), as_dict(csr.get("spec"))
    w = Writer()
    w.write(0, f"Name:\t{md.get('name', '')}\n")
    w.write(0, f"Labels:\t{format_labels(md.get('labels'))}\n")
    w.write(0, f"Annotations:\t{format_labels(md.get('annotations'))}\n")
    w.write(0, f"CreationTimestamp:\t{rfc1123z(md.get('creationTimestamp'), now)}\n")
    w.write(0, f"Requesting User:\t{spec.get('username', '')}\n")
    if spec.get("signerName"):
        w.write(0, f"Signer:\t{spec['signerName']}\n")
    seconds = spec.get("expirationSeconds")
    if isinstance(seconds, int):
        w.write(0, f"Requested Duration:\t{human_duration(seconds)}\n")
    w.write(0, f"Status:\t{certificates.condition_text(csr)}\n")
    try:
        request = x509.load_pem_x509_csr(certificates.request(csr))
    except ValueError:
        w.write(0, "Subject:\t<unparseable request>\n")
        describe_events(w, events, now)
        return w.text()
    w.write(0, "Subject:\n")
    cn = _values(request.subject, NameOID.COMMON_NAME)
    w.write(1, f"Common Name:\t{cn[0] if cn else ''}\n")
    serial = _values(request.subject, NameOID.SERIAL_NUMBER)
    w.write(1, f"Serial Number:\t{serial[0] if serial else ''}\n")
    for title, oid in _SUBJECT:
        _list(w, title, _values(request.subject, oid))
    try:
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = None
    if sans is not None and len(sans):
        w.write(0, "Subject Alternative Names:\n")
        _list(w, "DNS Names", sans.get_values_for_type(x509.DNSName))
        _list(w, "Email Addresses", sans.get_values_for_type(x509.RFC822Name))
        _list(w, "IP Addresses", [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)])
        _list(w, "URIs", sans.get_values_for_type(x509.UniformResourceIdentifier))
    describe_events(w, events, now)
    return w.text()

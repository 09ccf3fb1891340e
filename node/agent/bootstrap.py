"""TLS bootstrapping: a node that holds only a bootstrap token gets its own certificate.

As kubelet's `--bootstrap-kubeconfig`: when the `--kubeconfig` file is missing, unreadable
or its certificate has expired, the agent makes a key (kept in `--cert-dir`, mode 0600),
sends a CertificateSigningRequest for `system:node:NAME` in `system:nodes` (signer
kubernetes.io/kube-apiserver-client-kubelet) over the bootstrap connection, waits until
the controller-manager has approved and signed it, and writes the certificate and a
kubeconfig naming it. From then on the node is known by its own name, and the Node
authorizer lets it change only its own Node, Lease and its pods' status.

A refused token (expired, deleted, mistyped) or an unreachable apiserver is not fatal:
the agent says so in one log line and tries again with backoff, so a token created a
little late still lets the node in. While it runs, `rotate` renews the certificate
before it expires, asking as the node itself (kubelet's --rotate-certificates).
`needs_certificate`, `issued` and `rotation_deadline` are pure; servingcert.py does the
same for the serving certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from jota import pki
from jota.api import certificates, errors
from jota.api.meta import Obj
from jota.client import Client, kubeconfig
from jota.client.kubeconfig import ConfigError

logger = logging.getLogger("jota-node")

CLIENT_PREFIX = "jota-node-client"  # jota-node-client-<time>.crt/.key, as kubelet's
PENDING_KEY = "jota-node-client.key.pending"  # kept across retries until the cert comes
DEFAULT_CERT_DIR = Path("/var/lib/jota/pki")
POLL_SECONDS = 1.0
WAIT_LOG_SECONDS = 30.0
MAX_BACKOFF = 60.0

Sleep = Callable[[float], Awaitable[None]]


class RequestDenied(Exception):
    """The CSR was denied or failed: a person (or the signer) said no."""


@dataclass(frozen=True)
class Join:
    node_name: str
    apiserver: str  # the server the written kubeconfig names (--apiserver)
    kubeconfig: Path
    bootstrap_kubeconfig: Path
    cert_dir: Path = DEFAULT_CERT_DIR


def needs_certificate(kubeconfig_path: Path, now: datetime.datetime) -> str:
    """Why the node must bootstrap ("" when its kubeconfig is usable): missing, unreadable,
    no client certificate, or expired."""
    if not kubeconfig_path.exists():
        return f"{kubeconfig_path} does not exist"
    try:
        _, creds = kubeconfig.load(kubeconfig_path)
    except ConfigError as e:
        return f"{kubeconfig_path} is unusable ({e})"
    if not creds.cert:
        return f"{kubeconfig_path} has no client certificate"
    try:
        expires = pki.expires(creds.cert)
    except ValueError:
        return f"{kubeconfig_path} names a certificate that is not PEM"
    if expires <= now:
        return f"its certificate expired at {expires:%Y-%m-%dT%H:%M:%SZ}"
    return ""


def issued(csr: Obj) -> bytes:
    """The certificate once signed, b"" while pending; RequestDenied when it never will be."""
    for kind in (certificates.DENIED, certificates.FAILED):
        cond = certificates.condition(csr, kind)
        if cond is not None:
            raise RequestDenied(f"certificate signing request {kind.lower()}: "
                                f"{cond.get('reason', '')}: {cond.get('message', '')}")
    return certificates.certificate(csr)


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)


def _pending_key(cert_dir: Path) -> bytes:
    path = cert_dir / PENDING_KEY
    if path.exists():
        return path.read_bytes()
    key = pki.key_pem(pki.new_key())
    write_private(path, key)
    return key


async def _request(client: Client, join: Join, key: bytes, sleep: Sleep) -> bytes:
    pem = pki.csr_for_key(key, pki.node_user(join.node_name), [pki.NODES])
    return await submit(client, certificates.node_csr(pem), "certificate", sleep)


async def submit(client: Client, csr: Obj, what: str, sleep: Sleep) -> bytes:
    """Create the request, then poll until it is signed (RequestDenied if it never will)."""
    created = await client.create(certificates.RESOURCE, csr)
    name = created["metadata"]["name"]
    logger.info("waiting for the %s of CSR %s to be approved and signed", what, name,
                extra={"csr": name})
    waited = 0.0
    while True:
        cert = issued(await client.get(certificates.RESOURCE, name))
        if cert:
            logger.info("CSR %s was approved and signed", name, extra={"csr": name})
            return cert
        await sleep(POLL_SECONDS)
        waited += POLL_SECONDS
        if waited % WAIT_LOG_SECONDS < POLL_SECONDS:
            logger.info("still waiting for the %s of CSR %s to be approved and signed "
                        "(jota certificate approve %s)", what, name, name,
                        extra={"csr": name})


def _write(join: Join, ca: bytes, cert: bytes) -> None:
    """The new pair under names of their own, then the kubeconfig naming them, replaced in
    one rename: a crash at any point leaves the node with one matching pair (kubelet keeps
    kubelet-client-<time>.pem for the same reason). Older pairs go afterwards."""
    stamp = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d-%H-%M-%S-%f}"
    cert_path = join.cert_dir / f"{CLIENT_PREFIX}-{stamp}.crt"
    key_path = join.cert_dir / f"{CLIENT_PREFIX}-{stamp}.key"
    write_private(cert_path, cert)
    (join.cert_dir / PENDING_KEY).replace(key_path)
    kubeconfig.write_context(join.kubeconfig, {
        "server": join.apiserver, "namespace": "default",
        "certificate-authority-data": certificates.encode(ca),
        "client-certificate": str(cert_path.resolve()),
        "client-key": str(key_path.resolve())}, name="jota-node")
    for old in join.cert_dir.glob(f"{CLIENT_PREFIX}-*"):
        if old not in (cert_path, key_path):
            old.unlink(missing_ok=True)


async def ensure_certificate(join: Join, *, sleep: Sleep = asyncio.sleep,
                             now: Callable[[], datetime.datetime] = lambda:
                             datetime.datetime.now(datetime.UTC)) -> None:
    """Return once `join.kubeconfig` holds this node's own valid certificate."""
    why = needs_certificate(join.kubeconfig, now())
    if not why:
        return
    logger.info("requesting a client certificate with the bootstrap kubeconfig: %s", why)
    try:
        server, creds = kubeconfig.load(join.bootstrap_kubeconfig)
    except ConfigError as e:  # a mistake in the file: retrying will not fix it
        raise SystemExit(f"jota-node: --bootstrap-kubeconfig: {e}") from None
    if not creds.ca:
        raise SystemExit(f"jota-node: --bootstrap-kubeconfig {join.bootstrap_kubeconfig}: "
                         f"certificate-authority is required (the node verifies the "
                         f"apiserver before sending its token)")
    key = _pending_key(join.cert_dir)
    delay = 1.0
    attempt = 0
    while True:
        # Read again each time: a fresh token written into the file is used at once.
        with contextlib.suppress(ConfigError):
            server, creds = kubeconfig.load(join.bootstrap_kubeconfig)
        server = starting_at(server, attempt)
        attempt += 1
        try:
            async with Client(server, credentials=creds.channel(), retries=0) as client:
                cert = await _request(client, join, key, sleep)
            break
        except errors.Unauthorized:
            logger.error("the bootstrap token was refused by %s (Unauthorized): it may be "
                         "expired, deleted or mistyped; create one with `jota token create`; "
                         "retrying in %.0fs", server, delay)
        except errors.Forbidden as e:
            logger.error("the bootstrap credentials may not request a certificate: %s; "
                         "retrying in %.0fs", e.message, delay)
        except RequestDenied as e:
            logger.error("%s; asking again in %.0fs", e, delay)
        except errors.APIError as e:
            logger.warning("cannot request a certificate from %s: %s; retrying in %.0fs",
                           server, e.message, delay)
        await sleep(delay)
        delay = min(delay * 2, MAX_BACKOFF)
    _write(join, creds.ca, cert)
    logger.info("wrote %s with this node's certificate (%s, expires %s)", join.kubeconfig,
                pki.node_user(join.node_name), f"{pki.expires(cert):%Y-%m-%dT%H:%M:%SZ}")



def starting_at(servers: str, attempt: int) -> str:
    """The comma-separated bootstrap servers, the `attempt`-th first: the join client
    does not retry, so a node whose first apiserver is down asks the next one on its
    next attempt."""
    names = [s.strip() for s in servers.split(",") if s.strip()]
    if not names:
        return servers
    k = attempt % len(names)
    return ",".join(names[k:] + names[:k])


def rotation_deadline(cert_pem: bytes, fraction: float) -> datetime.datetime:
    """When to ask for the next certificate: `fraction` (kubelet draws 0.7-0.9) of the way
    through the current one's life, so a fleet does not renew all at once."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    return start + (end - start) * fraction


async def rotate(client: Client, join: Join, *, sleep: Sleep = asyncio.sleep,
                 now: Callable[[], datetime.datetime] = lambda:
                 datetime.datetime.now(datetime.UTC),
                 fraction: Callable[[], float] = lambda: random.uniform(0.7, 0.9)) -> None:
    """Renew the client certificate before it expires, forever (kubelet's
    --rotate-certificates): the node asks with its current identity, the controller-manager
    approves a node renewing its own certificate, and `client` switches to the new one."""
    delay = 1.0
    while True:
        cert = kubeconfig.load(join.kubeconfig)[1].cert
        deadline = rotation_deadline(cert, fraction())
        wait = (deadline - now()).total_seconds()
        logger.info("client certificate rotation deadline is %s",
                    f"{deadline:%Y-%m-%dT%H:%M:%SZ}")
        await sleep(max(wait, 0.0))
        try:
            new = await _request(client, join, _pending_key(join.cert_dir), sleep)
        except (errors.APIError, RequestDenied) as e:
            logger.error("cannot rotate the client certificate: %s; retrying in %.0fs",
                         e, delay)
            await sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
            continue
        delay = 1.0
        _, creds = kubeconfig.load(join.kubeconfig)
        _write(join, creds.ca, new)
        logger.info("rotated the client certificate (expires %s)",
                    f"{pki.expires(new):%Y-%m-%dT%H:%M:%SZ}")
        await client.use_credentials(kubeconfig.load(join.kubeconfig)[1].channel())

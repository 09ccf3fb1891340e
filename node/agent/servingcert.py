"""The agent's serving certificate when it joined without --tls-cert-file.

As kubelet: self-signed (kubelet.crt in --cert-dir) unless asked to do better; with
--rotate-server-certificates it asks the cluster for one (signer
kubernetes.io/kubelet-serving, for its address and name), which a person approves, as
Kubernetes never approves serving certificates by itself: the apiserver cannot tell
whether a node owns the addresses it names. Callers of the node's ports must hold a
certificate of the cluster CA, copied beside these files from the node's kubeconfig.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from jota import pki
from jota.api import certificates, errors
from jota.client import Client, kubeconfig
from node.agent import bootstrap

logger = logging.getLogger("jota-node")

SERVING_CERT, SERVING_KEY = "jota-node.crt", "jota-node.key"  # kubelet.crt/kubelet.key
# Signed by the cluster (kubelet's kubelet-server-current.pem), and its key while pending.
SIGNED_SERVING_CERT, SIGNED_SERVING_KEY = "jota-node-serving.crt", "jota-node-serving.key"
SERVING_PENDING_KEY = "jota-node-serving.key.pending"
CLUSTER_CA = "ca.crt"


@dataclass(frozen=True)
class ServingFiles:
    cert: Path
    key: Path
    client_ca: Path


def serving_files(join: bootstrap.Join, node_ip: str, *,
                  now: Callable[[], datetime.datetime] = lambda:
                  datetime.datetime.now(datetime.UTC)) -> ServingFiles:
    """The streaming and metrics ports' certificate when none is given: self-signed, as
    kubelet makes kubelet.crt in --cert-dir without --tls-cert-file (kept while valid).
    The apiserver checks node certificates against the cluster CA, so `jota logs/exec`
    reach such a node only once it serves a signed one (request_serving)."""
    files = ServingFiles(join.cert_dir / SERVING_CERT, join.cert_dir / SERVING_KEY,
                         join.cert_dir / CLUSTER_CA)
    _, creds = kubeconfig.load(join.kubeconfig)
    bootstrap.write_private(files.client_ca, creds.ca)
    fresh = files.cert.exists() and files.key.exists()
    if fresh:
        try:
            fresh = pki.expires(files.cert.read_bytes()) > now()
        except ValueError:
            fresh = False
    if not fresh:
        own = pki.new_ca(f"{join.node_name}-ca@{int(now().timestamp())}")
        pair = pki.issue(own, join.node_name, hosts=[node_ip, join.node_name], server=True,
                         client=False)
        bootstrap.write_private(files.key, pair.key)
        bootstrap.write_private(files.cert, pair.cert + own.cert)
    return files


def signed_serving_files(join: bootstrap.Join, *,
                         now: Callable[[], datetime.datetime] = lambda:
                         datetime.datetime.now(datetime.UTC)) -> ServingFiles | None:
    """The serving certificate the cluster signed earlier, if there is one still valid."""
    files = ServingFiles(join.cert_dir / SIGNED_SERVING_CERT,
                         join.cert_dir / SIGNED_SERVING_KEY, join.cert_dir / CLUSTER_CA)
    if not (files.cert.exists() and files.key.exists() and files.client_ca.exists()):
        return None
    try:
        return files if pki.expires(files.cert.read_bytes()) > now() else None
    except ValueError:
        return None


async def request_serving(client: Client, join: bootstrap.Join, node_ip: str, *,
                          sleep: bootstrap.Sleep = asyncio.sleep) -> ServingFiles:
    """A serving certificate signed by the cluster CA (kubelet's
    --rotate-server-certificates): a kubernetes.io/kubelet-serving request for the node's
    address and name, which a person approves (`jota certificate approve`), as Kubernetes
    never approves serving certificates by itself. Retries with backoff; returns the files."""
    key_path = join.cert_dir / SERVING_PENDING_KEY
    if not key_path.exists():
        bootstrap.write_private(key_path, pki.key_pem(pki.new_key()))
    pem = pki.csr_for_key(key_path.read_bytes(), pki.node_user(join.node_name), [pki.NODES],
                          [node_ip, join.node_name])
    delay = 1.0
    while True:
        try:
            cert = await bootstrap.submit(client, certificates.serving_csr(pem),
                                          "serving certificate", sleep)
            break
        except (errors.APIError, bootstrap.RequestDenied) as e:
            logger.error("cannot get a serving certificate: %s; retrying in %.0fs", e, delay)
        await sleep(delay)
        delay = min(delay * 2, bootstrap.MAX_BACKOFF)
    files = ServingFiles(join.cert_dir / SIGNED_SERVING_CERT,
                         join.cert_dir / SIGNED_SERVING_KEY, join.cert_dir / CLUSTER_CA)
    bootstrap.write_private(files.cert, cert)
    key_path.replace(files.key)
    return files


async def keep_signed(client: Client, join: bootstrap.Join, node_ip: str,
                      install: Callable[[ServingFiles], Awaitable[None]], *, ask_now: bool,
                      sleep: bootstrap.Sleep = asyncio.sleep,
                      now: Callable[[], datetime.datetime] = lambda:
                      datetime.datetime.now(datetime.UTC),
                      fraction: Callable[[], float] = lambda: random.uniform(0.7, 0.9)
                      ) -> None:
    """kubelet's serving certificate manager, forever: ask for a signed certificate now
    (`ask_now`, when the node has none) and again at 70-90% of each one's life, so a node
    running for longer than its certificate lives keeps being reachable; `install` puts
    each new one in service. Every request waits for a person's approval, as the first."""
    while True:
        if ask_now:
            await install(await request_serving(client, join, node_ip, sleep=sleep))
        deadline = bootstrap.rotation_deadline(
            (join.cert_dir / SIGNED_SERVING_CERT).read_bytes(), fraction())
        logger.info("serving certificate rotation deadline is %s",
                    f"{deadline:%Y-%m-%dT%H:%M:%SZ}")
        await sleep(max((deadline - now()).total_seconds(), 0.0))
        ask_now = True

"""`jota certificate approve|deny NAME...`: decide CertificateSigningRequests.

As kubectl certificate: the Approved (or Denied) condition is added through the
`approval` subresource, with kubectl's reason and message; a request that already
has the condition is left alone unless --force. Each name prints
`certificatesigningrequest.certificates.k8s.io/NAME approved`.
"""

from __future__ import annotations

import argparse

from jota.api import certificates, errors
from jota.api.meta import Obj
from jota.cli.context import Context, UsageError
from jota.client.events import format_time, utcnow

RETRIES = 10
VERBS = {"approve": (certificates.APPROVED, "KubectlApprove",
                     "This CSR was approved by kubectl certificate approve.", "approved"),
         "deny": (certificates.DENIED, "KubectlDeny",
                  "This CSR was denied by kubectl certificate deny.", "denied")}


def decided(csr: Obj, verb: str, now: str) -> Obj | None:
    """The CSR with the verb's condition added, or None when it already has it (pure)."""
    kind, reason, message, _ = VERBS[verb]
    if certificates.condition(csr, kind) is not None:
        return None
    out = certificates.with_condition(csr, kind, reason, message, now)
    for c in out["status"]["conditions"]:
        if c.get("type") == kind:
            c.pop("lastTransitionTime", None)  # kubectl sets lastUpdateTime only
    return out


async def _modify(ctx: Context, name: str, verb: str, force: bool) -> None:
    for attempt in range(RETRIES + 1):
        csr = await ctx.client.get(certificates.RESOURCE, name)
        new = decided(csr, verb, format_time(utcnow()))
        if new is None and not force:
            return
        try:
            await ctx.client.update_approval(certificates.RESOURCE, new or csr)
            return
        except errors.Conflict:
            if attempt == RETRIES:
                raise


async def run(ctx: Context, args: argparse.Namespace) -> int:
    if not args.names:
        raise UsageError("one or more CSRs must be specified as <name> or -f <filename>")
    for name in args.names:
        await _modify(ctx, name, args.certificate_verb, args.force)
        ctx.print(f"certificatesigningrequest.certificates.k8s.io/{name} "
                  f"{VERBS[args.certificate_verb][3]}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("certificate", help="Modify certificate resources")
    verbs = p.add_subparsers(dest="certificate_verb", metavar="SUBCOMMAND", required=True)
    for verb, text in (("approve", "Approve a certificate signing request"),
                       ("deny", "Deny a certificate signing request")):
        v = verbs.add_parser(verb, help=text)
        v.add_argument("names", nargs="*", metavar="NAME")
        v.add_argument("--force", action="store_true",
                       help=f"update the CSR even if it is already {VERBS[verb][3]}")
        v.set_defaults(run=run, positionals="names")

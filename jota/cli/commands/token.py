"""`jota token create|list|delete`: the bootstrap tokens nodes join with (kubeadm token).

`create` stores kube-system/bootstrap-token-<id> (type bootstrap.kubernetes.io/token,
for authentication and signing, extra group system:bootstrappers:jota:default-node-token,
expiring after --ttl) and prints the token alone, so a script can capture it. `list`
prints kubeadm's table; `delete` takes the id or the whole token.
"""

from __future__ import annotations

import argparse

from jota.api import bootstraptoken, errors
from jota.cli.context import Context, UsageError
from jota.cli.printers.table import render
from jota.client import tokens
from jota.client.events import utcnow

HEADER = ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]


def _ttl(text: str) -> str:
    try:
        bootstraptoken.parse_ttl(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


async def run_create(ctx: Context, args: argparse.Namespace) -> int:
    given = args.token[0] if args.token else ""
    if len(args.token) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(args.token[1:])}")
    try:
        token = await tokens.create(ctx.client, token=given,
                                    ttl=bootstraptoken.parse_ttl(args.ttl),
                                    description=args.description,
                                    groups=tuple(g for g in args.groups.split(",") if g))
    except ValueError as e:
        raise UsageError(str(e)) from None
    ctx.print(token)
    return 0


async def run_list(ctx: Context, args: argparse.Namespace) -> int:
    secrets = await ctx.client.list_all("secrets", bootstraptoken.NAMESPACE)
    now = utcnow()
    rows = [bootstraptoken.list_row(s, now) for s in secrets.get("items") or []
            if bootstraptoken.is_token_secret(s)]
    ctx.out.write(render([HEADER, *sorted(rows)]))
    return 0


async def run_delete(ctx: Context, args: argparse.Namespace) -> int:
    if not args.tokens:
        raise UsageError("missing argument; 'token delete' is missing token of form "
                         '"[a-z0-9]{6}" or "[a-z0-9]{6}\\.[a-z0-9]{16}"')
    for text in args.tokens:
        try:
            token_id = bootstraptoken.token_id_of(text)
        except ValueError as e:
            raise UsageError(str(e)) from None
        try:
            await ctx.client.delete("secrets", bootstraptoken.SECRET_PREFIX + token_id,
                                    bootstraptoken.NAMESPACE)
        except errors.NotFound:
            raise UsageError(f'bootstrap token "{token_id}" not found') from None
        ctx.print(f'bootstrap token "{token_id}" deleted')
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="Manage bootstrap tokens (kubeadm token)")
    verbs = p.add_subparsers(dest="token_verb", metavar="SUBCOMMAND", required=True)
    create = verbs.add_parser("create", help="Create a bootstrap token and print it")
    create.add_argument("token", nargs="*", metavar="TOKEN",
                        help="the token to store (default: a random one)")
    create.add_argument("--ttl", type=_ttl, default="24h",
                        help="how long the token is valid, e.g. 1s, 2m, 3h; 0 never "
                             "expires (default 24h)")
    create.add_argument("--description", default="",
                        help="a human friendly description of how this token is used")
    create.add_argument("--groups", default=bootstraptoken.DEFAULT_GROUP,
                        help="extra groups the token's holder gets, comma-separated "
                             f"(default {bootstraptoken.DEFAULT_GROUP})")
    create.set_defaults(run=run_create, positionals="token")
    listing = verbs.add_parser("list", help="List bootstrap tokens")
    listing.set_defaults(run=run_list)
    delete = verbs.add_parser("delete", help="Delete bootstrap tokens")
    delete.add_argument("tokens", nargs="*", metavar="TOKEN_ID")
    delete.set_defaults(run=run_delete, positionals="tokens")

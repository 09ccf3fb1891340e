"""`jota`: the command line of Jota, shaped after kubectl.

Each verb lives in its own module under `commands/` and registers itself with
`register(subparsers)`; its `run(ctx, args)` coroutine returns the exit code.
Errors are printed once, here, in kubectl's words:
`Error from server (NotFound): pods "x" not found`, exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from jota.api import errors
from jota.cli import config
from jota.cli.context import Context, UsageError, report_error
from jota.client.client import Client

COMMANDS = ("get", "describe", "apply", "delete", "create", "run", "expose", "label",
            "annotate", "patch", "edit", "diff", "wait", "scale", "explain", "api_resources",
            "version", "config_cmd", "local", "logs", "exec", "cp", "port_forward", "rollout",
            "set_image", "cordon", "autoscale", "top",
            "events", "certificate", "token")

Runner = Callable[[Context, argparse.Namespace], Awaitable[int]]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # kubectl's `error: ...`, exit code 1
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def global_flags() -> argparse.ArgumentParser:
    """Flags every verb takes, before or after it, as kubectl's persistent flags."""
    p = Parser(add_help=False, allow_abbrev=False)
    p.add_argument("--server", "-s", help="the address of the apiserver (host:port)")
    p.add_argument("--context", help="the name of the ~/.jota/config context to use")
    p.add_argument("--request-timeout", type=float, default=30.0,
                   help="seconds to wait for each server call (default 30)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="jota", description="jota controls the Jota cluster manager.",
                    parents=[global_flags()])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"jota.cli.commands.{name}")
        module.register(sub)
    return parser


async def _run(args: argparse.Namespace) -> int:
    settings = config.resolve(args.server, getattr(args, "namespace", None), args.context)
    ctx = Context(
        client=Client(settings.server, timeout=args.request_timeout,
                      credentials=settings.credentials.channel()),
        namespace=settings.namespace,
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
        explicit_namespace=bool(getattr(args, "namespace", None)),
    )
    try:
        runner: Runner = args.run
        return await runner(ctx, args)
    except errors.ServiceUnavailable:
        creds = settings.credentials
        if creds.tls and not creds.cert and not creds.token:
            # A TLS apiserver closes the connection of a caller without a certificate
            # (gRPC cannot make one optional): say what kubectl says of a 401.
            raise errors.Unauthorized("Unauthorized") from None
        raise
    finally:
        await ctx.client.close()


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """kubectl's (cobra's) command line: global flags anywhere, positionals mixed with
    flags (`get pods -o wide web`), and everything after `--` passed on verbatim.

    A verb names its positional list with `set_defaults(positionals="dest")`; words
    argparse could not place are appended to it, then whatever follows `--`.
    """
    words, tail = argv, []
    if "--" in argv:
        at = argv.index("--")
        words, tail = argv[:at], argv[at + 1:]
    verb = next((w for w in words if not w.startswith("-")), "")
    if verb == "config":  # `config set-context --server` is the context's, not ours
        flags = argparse.Namespace()
    else:
        flags, words = global_flags().parse_known_args(words)
    args, extras = parser.parse_known_args(words)
    unknown = [e for e in extras if e.startswith("-") and e != "-"]
    loose = [e for e in extras if e not in unknown]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    dest = getattr(args, "positionals", None)
    if (loose or tail) and not dest:
        parser.error(f"unrecognized arguments: {' '.join(loose + tail)}")
    if dest:
        setattr(args, dest, list(getattr(args, dest, None) or []) + loose + tail)
    for name, value in vars(flags).items():
        if value != global_flags().get_default(name):
            setattr(args, name, value)
    return args


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parse(parser, list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "run", None):
        parser.print_help()
        sys.exit(0 if args.command is None else 1)
    try:
        code = asyncio.run(_run(args))
    except KeyboardInterrupt:
        code = 130
    except (errors.APIError, UsageError, ValueError) as e:
        report_error(e)
        code = 1
    except BrokenPipeError:
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main()

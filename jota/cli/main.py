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

COMMANDS = ("get", "describe", "apply", "delete", "local")

Runner = Callable[[Context, argparse.Namespace], Awaitable[int]]


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # kubectl's `error: ...`, exit code 1
        self.exit(1, f"error: {message}\nSee '{self.prog} --help' for usage.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="jota", description="jota controls the Jota cluster manager.")
    parser.add_argument("--server", "-s", help="the address of the apiserver (host:port)")
    parser.add_argument("--context", help="the name of the ~/.jota/config context to use")
    parser.add_argument("--request-timeout", type=float, default=30.0,
                        help="seconds to wait for each server call (default 30)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        module = importlib.import_module(f"jota.cli.commands.{name}")
        module.register(sub)
    return parser


async def _run(args: argparse.Namespace) -> int:
    settings = config.resolve(args.server, getattr(args, "namespace", None), args.context)
    ctx = Context(
        client=Client(settings.server, timeout=args.request_timeout),
        namespace=settings.namespace,
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
        explicit_namespace=bool(getattr(args, "namespace", None)),
    )
    try:
        runner: Runner = args.run
        return await runner(ctx, args)
    finally:
        await ctx.client.close()


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
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

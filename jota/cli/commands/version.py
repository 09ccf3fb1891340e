"""`jota version`: the client's version and, unless --client, the server's."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import re
from typing import Any

import yaml

from jota.cli.context import Context


def client_version() -> str:
    try:
        return "v" + importlib.metadata.version("jota")
    except importlib.metadata.PackageNotFoundError:
        return "v0.1.0"


def version_info(git_version: str) -> dict[str, Any]:
    """kubectl's version.Info fields that mean something here."""
    m = re.match(r"v?(\d+)\.(\d+)", git_version)
    major, minor = (m.group(1), m.group(2)) if m else ("", "")
    return {"major": major, "minor": minor, "gitVersion": git_version,
            "pythonVersion": platform.python_version(),
            "platform": f"{platform.system().lower()}/{platform.machine()}"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("version", help="Print the client and server version information")
    p.add_argument("--client", action="store_true", help="only the client version")
    p.add_argument("-o", "--output", default="", choices=["", "json", "yaml"],
                   help="output format: json or yaml")
    p.set_defaults(run=run)


async def run(ctx: Context, args: argparse.Namespace) -> int:
    doc: dict[str, Any] = {"clientVersion": version_info(client_version())}
    if not args.output:
        ctx.print(f"Client Version: {client_version()}")
    if not args.client:
        server = (await ctx.client.discovery()).server_version
        server = server if server.startswith("v") else f"v{server}"
        doc["serverVersion"] = version_info(server)
        if not args.output:
            ctx.print(f"Server Version: {server}")
    if args.output == "json":
        ctx.print(json.dumps(doc, indent=2))
    elif args.output == "yaml":
        ctx.print(yaml.safe_dump(doc, sort_keys=False).rstrip("\n"))
    return 0

"""Flags several verbs share, declared once so they read the same everywhere."""

from __future__ import annotations

import argparse


def add_namespace_flags(p: argparse.ArgumentParser, all_namespaces: bool = True) -> None:
    """-n/--namespace (and -A) on every verb, as kubectl accepts them anywhere."""
    p.add_argument("-n", "--namespace", help="the namespace scope for this request")
    if all_namespaces:
        p.add_argument("-A", "--all-namespaces", action="store_true",
                       help="act on the requested objects across all namespaces")


def add_filename_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("-f", "--filename", action="append", default=[],
                   help=f"file, directory or - (stdin) holding the objects to {what}")
    p.add_argument("-R", "--recursive", action="store_true",
                   help="process the directory given in -f recursively")


def add_dry_run_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", nargs="?", const="client", default="none",
                   choices=["none", "client", "server"],
                   help="only print what would be sent: client, or server (validated by "
                        "the server, not stored)")


def dry_run_suffix(mode: str) -> str:
    return {"client": " (dry run)", "server": " (server dry run)"}.get(mode, "")

"""`jota label KIND NAME k=v k2-`: add, change or remove labels (see `_labels`)."""

from __future__ import annotations

import argparse

from jota.cli.commands._labels import LABELS, register_verb


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_verb(sub, LABELS, "Update the labels on a resource")

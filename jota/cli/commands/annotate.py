"""`jota annotate KIND NAME k=v k2-`: add, change or remove annotations (see `_labels`)."""

from __future__ import annotations

import argparse

from jota.cli.commands._labels import ANNOTATIONS, register_verb


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_verb(sub, ANNOTATIONS, "Update the annotations on a resource")

"""Reading manifests the way kubectl does: `-f FILE|DIR|URL|-`, `-R`, multi-document
YAML or JSON, and `List` documents expanded into their items."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jota.cli.context import UsageError

EXTENSIONS = (".yaml", ".yml", ".json")


@dataclass
class Manifest:
    doc: dict[str, Any]
    source: str


def _files(path: str, recursive: bool) -> Iterator[Path]:
    p = Path(path)
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        for f in sorted(p.glob(pattern)):
            if f.is_file() and f.suffix in EXTENSIONS:
                yield f
    elif p.exists():
        yield p
    else:
        raise UsageError(f'the path "{path}" does not exist')


def parse(text: str, source: str) -> list[Manifest]:
    try:
        if source.endswith(".json"):
            docs: list[Any] = [json.loads(text)]
        else:
            docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise UsageError(f"error parsing {source}: {_yaml_problem(e)}") from None
    except ValueError as e:
        raise UsageError(f'error parsing {source}: {_short(e)}') from None
    result: list[Manifest] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError(f"error validating \"{source}\": a document must be a mapping, "
                             f"not {type(doc).__name__}")
        if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List")
                                         and isinstance(doc.get("items"), list)):
            result.extend(Manifest(item, source) for item in doc["items"]
                          if isinstance(item, dict))
            continue
        for field in ("apiVersion", "kind"):
            if not doc.get(field):
                raise UsageError(
                    f'error validating "{source}": error validating data: {field} not set')
        result.append(Manifest(doc, source))
    return result


def _short(e: Exception) -> str:
    return " ".join(str(e).split())


def _yaml_problem(e: yaml.YAMLError) -> str:
    """kubectl's one line (go-yaml's words: `yaml: line N: PROBLEM`), not PyYAML's
    several lines quoting the source."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None and e.problem:
        return (f"error converting YAML to JSON: yaml: line {e.problem_mark.line + 1}: "
                f"{e.problem}")
    return f"error converting YAML to JSON: yaml: {_short(e)}"


def read(paths: list[str], recursive: bool = False, verb: str = "apply") -> list[Manifest]:
    manifests: list[Manifest] = []
    for path in paths:
        if path == "-":
            manifests.extend(parse(sys.stdin.read(), "STDIN"))
            continue
        for f in _files(path, recursive):
            try:
                text = f.read_text()
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"error reading {f}: {e}") from None
            manifests.extend(parse(text, str(f)))
    if not manifests:
        raise UsageError(f"no objects passed to {verb}")
    return manifests

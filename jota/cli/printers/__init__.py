"""Everything `jota` prints about objects, as pure functions: objects in, text out.

The CLI fetches, then calls one of these; `now` is passed in so output is
deterministic in tests. The reference for every byte is kubectl's output.

- print_table / TablePrinter / print_watch_row: `jota get` (and `-o wide`, `-A`,
  `--show-labels`, `-L`, `get all`, `get -w`).
- format_output: `-o yaml|json|name|jsonpath=|jsonpath-file=|jsonpath-as-json=|
  custom-columns=|custom-columns-file=`.
- describe / events_for: `jota describe`.
- human_age / human_duration: the AGE column.
"""

from jota.cli.printers.age import human_age, human_duration
from jota.cli.printers.describe import describe
from jota.cli.printers.describe_common import events_for
from jota.cli.printers.output import (
    ALLOWED_FORMATS,
    as_list,
    format_output,
    is_table_format,
    resource_name,
    to_json,
    to_yaml,
)
from jota.cli.printers.table import TablePrinter, TabWriter, print_table, print_watch_row

__all__ = [
    "ALLOWED_FORMATS",
    "TabWriter",
    "TablePrinter",
    "as_list",
    "describe",
    "events_for",
    "format_output",
    "human_age",
    "human_duration",
    "is_table_format",
    "print_table",
    "print_watch_row",
    "resource_name",
    "to_json",
    "to_yaml",
]

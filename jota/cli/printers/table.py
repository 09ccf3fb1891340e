"""Column alignment exactly as kubectl's: a port of Go's text/tabwriter.

kubectl writes every row as tab-separated cells and lets a tabwriter pad them
(tables: minwidth 6, padding 3; describe: minwidth 0, padding 2). Porting the
algorithm itself, rather than approximating "widest cell + 3", keeps the odd
cases identical too: describe's column blocks restart after each line without a
tab, a line's last cell is never padded (so no trailing spaces), and `get -w`
keeps the widths it has seen so far (the RememberWidths flag of kubectl's fork)
so that later rows line up with the first table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from jota.api.meta import Obj, labels_of, namespace_of
from jota.api.registry import ResourceType
from jota.cli.printers.columns import format_labels, kind_columns

TABLE_MINWIDTH = 6
TABLE_PADDING = 3

# kubectl pads the watch event type so ADDED and MODIFIED rows have the same width.
_EVENT_TYPES = {"ADDED": "ADDED   ", "MODIFIED": "MODIFIED", "DELETED": "DELETED ",
                "ERROR": "ERROR   "}


class TabWriter:
    """Go's tabwriter with a space pad character and flags 0 (or RememberWidths)."""

    def __init__(self, minwidth: int, padding: int, *, remember_widths: bool = False) -> None:
        self.minwidth = minwidth
        self.padding = padding
        self.remember_widths = remember_widths
        self.max_widths: list[int] = []

    def format(self, text: str) -> str:
        """Align `text` (cells ended by tabs, lines by newlines) as one flushed buffer."""
        lines = [line.split("\t") for line in text.split("\n")]
        out: list[str] = []
        self._format(lines, 0, len(lines), [], out)
        return "".join(out)

    def _format(self, lines: list[list[str]], line0: int, line1: int, widths: list[int],
                out: list[str]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            # A block of consecutive lines that all have a cell in this column.
            self._write_lines(lines, line0, this, widths, out)
            line0 = this
            width = self.minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + self.padding)
                this += 1
            if self.remember_widths:
                if column < len(self.max_widths):
                    width = max(width, self.max_widths[column])
                    self.max_widths[column] = width
                else:
                    self.max_widths.append(width)
            widths.append(width)
            self._format(lines, line0, this, widths, out)
            widths.pop()
            line0 = this
        self._write_lines(lines, line0, line1, widths, out)

    @staticmethod
    def _write_lines(lines: list[list[str]], line0: int, line1: int, widths: list[int],
                     out: list[str]) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if i + 1 != len(lines):
                out.append("\n")


def render(rows: Sequence[Sequence[str]], writer: TabWriter | None = None) -> str:
    """Rows of cells as aligned text, one line per row, each ending in a newline."""
    if not rows:
        return ""
    writer = writer or TabWriter(TABLE_MINWIDTH, TABLE_PADDING)
    return writer.format("".join("\t".join(row) + "\n" for row in rows))


class TablePrinter:
    """kubectl's table printer for one kind: the header once, then rows.

    `get` prints one table; `get -w` calls `print` again for every watch event and the
    rows stay aligned to the widths seen so far, as kubectl's are.
    """

    def __init__(self, rt: ResourceType, *, wide: bool = False, show_kind: bool = False,
                 show_labels: bool = False, label_columns: Sequence[str] = (),
                 all_namespaces: bool = False, no_headers: bool = False,
                 watch_events: bool = False) -> None:
        self.rt = rt
        self.wide = wide
        self.show_kind = show_kind
        self.show_labels = show_labels
        self.label_columns = list(label_columns)
        self.with_namespace = all_namespaces and rt.namespaced
        self.no_headers = no_headers
        self.watch_events = watch_events
        self.columns = kind_columns(rt.kind, wide=wide)
        self.writer = TabWriter(TABLE_MINWIDTH, TABLE_PADDING, remember_widths=True)
        self.printed_headers = False

    def headers(self) -> list[str]:
        names = [c.name.upper() for c in self.columns.columns if self.wide or c.priority == 0]
        if self.watch_events:
            names.insert(0, "EVENT")
        if self.with_namespace:
            names.insert(0, "NAMESPACE")
        names += [key.split("/")[-1].upper() for key in self.label_columns]
        if self.show_labels:
            names.append("LABELS")
        return names

    def row(self, obj: Obj, now: datetime, event_type: str | None = None) -> list[str]:
        pairs = [(cell, col) for cell, col in zip(self.columns.row(obj, now),
                                                   self.columns.columns, strict=True)
                 if self.wide or col.priority == 0]
        # `get all` prefixes the NAME column (wherever it is) with the kind, as kubectl does.
        shown = [f"{self.rt.display}/{cell}" if self.show_kind and col.name == "Name" else cell
                 for cell, col in pairs]
        if self.watch_events:
            shown.insert(0, _EVENT_TYPES.get(event_type or "", event_type or ""))
        if self.with_namespace:
            shown.insert(0, namespace_of(obj))
        labels = labels_of(obj)
        shown += [str(labels.get(key, "")) for key in self.label_columns]
        if self.show_labels:
            shown.append(format_labels(labels))
        return shown

    def print(self, objs: Sequence[Obj], *, now: datetime, event_type: str | None = None) -> str:
        """Rows for `objs` (with the header the first time); "" when there is nothing."""
        if not objs:
            return ""
        rows: list[list[str]] = []
        if not self.no_headers and not self.printed_headers:
            rows.append(self.headers())
            self.printed_headers = True
        rows += [self.row(obj, now, event_type) for obj in objs]
        return render(rows, self.writer)


def print_table(rt: ResourceType, objs: list[Obj], *, now: datetime, wide: bool = False,
                show_kind: bool = False, show_labels: bool = False,
                label_columns: Sequence[str] = (), all_namespaces: bool = False,
                no_headers: bool = False) -> str:
    """`kubectl get` output for objects of one kind; "" when there are none (the CLI then
    says `No resources found ...`). `get all` prints one of these per kind with
    `show_kind=True`, joined by a blank line."""
    printer = TablePrinter(rt, wide=wide, show_kind=show_kind, show_labels=show_labels,
                           label_columns=label_columns, all_namespaces=all_namespaces,
                           no_headers=no_headers)
    return printer.print(objs, now=now)


def print_watch_row(printer: TablePrinter, obj: Obj, *, now: datetime,
                    event_type: str | None = None) -> str:
    """One `get -w` row, aligned to what `printer` printed before (header if first)."""
    return printer.print([obj], now=now, event_type=event_type)

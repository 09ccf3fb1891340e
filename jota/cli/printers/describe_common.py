"""The pieces every `jota describe` shares: kubectl's PrefixWriter and common sections.

kubectl's describers write lines with tabs (`"Name:\\t%s\\n"`) through a
tabwriter (minwidth 0, padding 2); alignment restarts after every line without
a tab. Writing the same strings through the same algorithm (table.TabWriter)
reproduces kubectl's layout, including its quirks, without hand-padding.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jota.api.meta import Obj
from jota.cli.printers.age import human_age, parse_time
from jota.cli.printers.fields import as_dict, as_list
from jota.cli.printers.table import TabWriter

_SKIP_ANNOTATIONS = {"kubectl.kubernetes.io/last-applied-configuration"}
_MAX_ANNOTATION_LEN = 140


class Writer:
    """PrefixWriter: `write(level, text)` indents by two spaces per level."""

    def __init__(self) -> None:
        self.blocks: list[list[str]] = [[]]

    def write(self, level: int, text: str) -> None:
        self.blocks[-1].append("  " * level + text)

    def line(self, text: str) -> None:
        self.blocks[-1].append(text + "\n")

    def flush(self) -> None:
        self.blocks.append([])

    def text(self) -> str:
        return "".join(TabWriter(0, 2).format("".join(block)) for block in self.blocks)


def bool_title(value: Any) -> str:
    return "True" if value else "False"


def go_bool(value: Any) -> str:
    return "true" if value else "false"


def labels_multiline(w: Writer, title: str, labels: dict[str, Any] | None,
                     indent: str = "") -> None:
    w.write(0, f"{indent}{title}:\t")
    keys = sorted(as_dict(labels))
    if not keys:
        w.line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, f"{indent}\t")
        w.write(0, f"{key}={as_dict(labels)[key]}\n")


def annotations_multiline(w: Writer, title: str, annotations: dict[str, Any] | None,
                          indent: str = "", skip: bool = True) -> None:
    w.write(0, f"{indent}{title}:\t")
    values = as_dict(annotations)
    keys = sorted(k for k in values if not (skip and k in _SKIP_ANNOTATIONS))
    if not keys:
        w.line("<none>")
        return
    for i, key in enumerate(keys):
        if i:
            w.write(0, f"{indent}\t")
        value = str(values[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > _MAX_ANNOTATION_LEN or "\n" in value:
            w.write(0, f"{key}:\n")
            for piece in value.split("\n"):
                short = piece if len(piece) <= _MAX_ANNOTATION_LEN - 2 else (
                    piece[:_MAX_ANNOTATION_LEN - 2] + "...")
                w.write(0, f"{indent}\t  {short}\n")
        else:
            w.write(0, f"{key}: {value}\n")


def tolerations_multiline(w: Writer, title: str, tolerations: Any, indent: str = "") -> None:
    w.write(0, f"{indent}{title}:\t")
    items = sorted(as_list(tolerations), key=lambda t: str(t.get("key", "")))
    if not items:
        w.line("<none>")
        return
    for i, tol in enumerate(items):
        if i:
            w.write(0, f"{indent}\t")
        text = str(tol.get("key", ""))
        if tol.get("value"):
            text += f"={tol['value']}"
        if tol.get("effect"):
            text += f":{tol['effect']}"
        if tol.get("operator") == "Exists" and not tol.get("value"):
            text += " op=Exists" if tol.get("key") or tol.get("effect") else "op=Exists"
        if tol.get("tolerationSeconds") is not None:
            text += f" for {tol['tolerationSeconds']}s"
        w.write(0, text + "\n")


def taints_multiline(w: Writer, title: str, taints: Any) -> None:
    w.write(0, f"{title}:\t")
    items = sorted(as_list(taints),
                   key=lambda t: f"{t.get('effect', '')},{t.get('key', '')}")
    if not items:
        w.line("<none>")
        return
    for i, taint in enumerate(items):
        if i:
            w.write(0, "\t")
        value = f"={taint['value']}" if taint.get("value") else ""
        w.write(0, f"{taint.get('key', '')}{value}:{taint.get('effect', '')}\n")


# --- events --------------------------------------------------------------------------------

def _event_time(ev: Obj) -> datetime:
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time(ev.get(key))
        if when is not None:
            return when
    return datetime.min.replace(tzinfo=UTC)


def events_for(obj: Obj, events: list[Obj]) -> list[Obj]:
    """The events about `obj` (same kind, namespace and name, and uid when both have one;
    events about a cluster-scoped object may live in any namespace), oldest first by last
    timestamp, as describe lists them."""
    md = as_dict(obj.get("metadata"))
    found = []
    for ev in events:
        inv = as_dict(ev.get("involvedObject"))
        if inv.get("name") != md.get("name") or inv.get("kind") != obj.get("kind"):
            continue
        if md.get("namespace") and (inv.get("namespace") or "") != md["namespace"]:
            continue
        # The kubelet reports node events with the node's name as uid; kubectl merges both.
        if inv.get("uid") and md.get("uid") and inv["uid"] not in (md["uid"], md.get("name")):
            continue
        found.append(ev)
    return sorted(found, key=_event_time)


def describe_events(w: Writer, events: list[Obj] | None, now: datetime) -> None:
    if events is None:
        return
    if not events:
        w.write(0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(1, "----\t------\t----\t----\t-------\n")
    for ev in sorted(events, key=_event_time):
        if ev.get("eventTime"):
            first = human_age(ev.get("eventTime"), now)
        else:
            first = human_age(ev.get("firstTimestamp"), now)
        series = ev.get("series")
        count = int(ev.get("count") or 0)
        if isinstance(series, dict):
            last = human_age(series.get("lastObservedTime"), now)
            interval = f"{last} (x{series.get('count', 0)} over {first})"
        elif count > 1:
            interval = f"{human_age(ev.get('lastTimestamp'), now)} (x{count} over {first})"
        else:
            interval = first
        source = str(as_dict(ev.get("source")).get("component") or
                     ev.get("reportingComponent") or "")
        w.write(1, f"{ev.get('type', '')}\t{ev.get('reason', '')}\t{interval}\t{source}\t"
                   f"{str(ev.get('message', '')).strip()}\n")

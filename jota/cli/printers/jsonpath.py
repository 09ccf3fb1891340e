"""kubectl's JSONPath templates (k8s.io/client-go/util/jsonpath), parse and execute.

Scripts feed `-o jsonpath=...` the same templates they use with kubectl, so the
grammar, the results (several values joined by a space, maps and lists as
compact JSON) and the error words follow client-go: `{.a.b}`, `{.items[*].x}`,
`[0]`, `[-1:]`, `[0,2]`, `['key']`, `[?(@.type=="Ready")]`, `..name`, `.*`,
`{range .items[*]}...{end}` and quoted literals such as `{"\\n"}`. Missing keys
print nothing (kubectl's default `--allow-missing-template-keys=true`).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

from jota.cli.printers.fields import go_float, go_json, html_escape


class JSONPathError(Exception):
    """A template that does not parse, or fails while executing."""


# --- nodes ---------------------------------------------------------------------------------

@dataclass
class Text:
    text: str


@dataclass
class Field:
    name: str


@dataclass
class Wildcard:
    pass


@dataclass
class Recursive:
    pass


@dataclass
class Index:
    start: int | None
    end: int | None
    step: int | None
    derived_end: bool = False


@dataclass
class Union:
    branches: list[list[Node]]


@dataclass
class Filter:
    left: list[Node]
    op: str
    right: list[Node]


@dataclass
class Literal:
    value: Any


@dataclass
class Ident:
    name: str


Node = Text | Field | Wildcard | Recursive | Index | Union | Filter | Literal | Ident


@dataclass
class Action:
    """One `{...}`: a chain of nodes applied left to right, or literal text outside braces."""

    nodes: list[Node]


@dataclass
class Range:
    over: list[Node]
    body: list[Action | Range] = field(default_factory=list)


# --- parser --------------------------------------------------------------------------------

_TERMINATORS = set(" \t\r\n.,[]$@{}")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_FILTER = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")


def parse(template: str) -> list[Action | Range]:
    """The template as actions; ranges hold their bodies up to the matching `{end}`."""
    flat: list[Action] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            flat.append(Action([Text(template[pos:])]))
            break
        if start > pos:
            flat.append(Action([Text(template[pos:start])]))
        nodes, pos = _parse_action(template, start + 1)
        flat.append(Action(nodes))
    return _nest(flat)


def _nest(flat: list[Action]) -> list[Action | Range]:
    root: list[Action | Range] = []
    stack: list[list[Action | Range]] = [root]
    for action in flat:
        head = action.nodes[0] if action.nodes else None
        if isinstance(head, Ident) and head.name == "range":
            rng = Range(action.nodes[1:])
            stack[-1].append(rng)
            stack.append(rng.body)
        elif isinstance(head, Ident) and head.name == "end" and len(stack) > 1:
            stack.pop()
        else:
            stack[-1].append(action)
    return root


def _parse_action(text: str, pos: int, *, inner: bool = False) -> tuple[list[Node], int]:
    """Nodes of one action starting at `pos`; returns the position after its `}`.
    With `inner`, parses a whole sub-expression (filter sides, union branches) to its end."""
    nodes: list[Node] = []
    while True:
        if inner and pos >= len(text):
            return nodes, pos
        if not inner and text.startswith("}", pos):
            return nodes, pos + 1
        if text.startswith("[?(", pos):
            node, pos = _parse_filter(text, pos + 3)
            nodes.append(node)
            continue
        if text.startswith("..", pos):
            nodes.append(Recursive())
            pos += 1  # the second dot starts the field that follows
            continue
        if pos >= len(text) or text[pos] in "\r\n":
            raise JSONPathError("unclosed action")
        ch = text[pos]
        if ch in " @$":
            pos += 1
        elif ch == "[":
            end = pos + 1
            while end < len(text) and text[end] != "]":
                if text[end] == "\n":
                    break
                end += 1
            if end >= len(text) or text[end] != "]":
                raise JSONPathError("unterminated array")
            nodes.extend(_parse_array(text[pos + 1:end]))
            pos = end + 1
        elif ch in "\"'":
            node, pos = _parse_quote(text, pos)
            nodes.append(node)
        elif ch == ".":
            end = pos + 1
            while end < len(text) and text[end] not in _TERMINATORS:
                end += 2 if text[end] == "\\" else 1
            name = text[pos + 1:end]
            nodes.append(Wildcard() if name == "*" else Field(name.replace("\\", "")))
            pos = end
        elif ch in "+-" or ch.isdigit():
            end = pos + 1
            while end < len(text) and (text[end].isdigit() or text[end] in ".eE"):
                end += 1
            number = text[pos:end]
            try:
                value: Any = float(number) if any(c in number for c in ".eE") else int(number)
            except ValueError:
                raise JSONPathError(f"cannot parse number {number}") from None
            nodes.append(Literal(value))
            pos = end
        elif ch.isalnum() or ch == "_":
            end = pos
            while end < len(text) and text[end] not in _TERMINATORS:
                end += 1
            word = text[pos:end]
            nodes.append(Literal(word == "true") if word in ("true", "false") else Ident(word))
            pos = end
        else:
            raise JSONPathError(f"unrecognized character in action: U+{ord(ch):04X} '{ch}'")


def _parse_quote(text: str, pos: int) -> tuple[Node, int]:
    quote = text[pos]
    end = pos + 1
    while end < len(text) and text[end] != quote:
        if text[end] == "\n":
            break
        end += 2 if text[end] == "\\" else 1
    if end >= len(text) or text[end] != quote:
        raise JSONPathError("unterminated quoted string")
    raw = text[pos:end + 1]
    try:
        value = ast.literal_eval(raw if quote == '"' else '"' + raw[1:-1].replace('"', '\\"') + '"')
    except (ValueError, SyntaxError):
        raise JSONPathError(f"unquote string {raw} error") from None
    return Text(str(value)), end + 1


def _parse_array(inside: str) -> list[Node]:
    if inside == "*":
        inside = ":"
    parts = inside.split(",")
    if len(parts) > 1:
        return [Union([_parse_array(p.strip()) for p in parts])]
    key = _DICT_KEY.match(inside)
    if key:
        return [Field(key.group(1))]
    match = _SLICE.match(inside)
    if not match:
        raise JSONPathError(f"invalid array index {inside}")
    groups = [match.group(1), match.group(2), match.group(3)]
    start = int(groups[0]) if groups[0] else None
    if groups[1] is None and groups[2] is None:
        if start is None:
            raise JSONPathError(f"invalid array index {inside}")
        return [Index(start, start + 1, None, derived_end=True)]
    end = int(groups[1][1:]) if groups[1] and groups[1][1:] else None
    step = int(groups[2][1:]) if groups[2] and groups[2][1:] else None
    return [Index(start, end, step)]


def _parse_filter(text: str, pos: int) -> tuple[Node, int]:
    begin = end = False
    pair = ""
    i = pos
    while True:
        if i >= len(text) or text[i] == "\n":
            raise JSONPathError("unterminated filter")
        ch = text[i]
        if ch in "\"'":
            if not begin:
                begin, pair = True, ch
            elif ch == pair and text[i - 1] != "\\":
                end = True
        elif ch == ")" and begin == end:
            break
        i += 1
    if i + 1 >= len(text) or text[i + 1] != "]":
        raise JSONPathError("unclosed array expect ]")
    expr = text[pos:i]
    match = _FILTER.match(expr)
    if match is None:
        left, _ = _parse_action(expr, 0, inner=True)
        return Filter(left, "exists", []), i + 2
    left, _ = _parse_action(match.group(1), 0, inner=True)
    right, _ = _parse_action(match.group(3).strip(), 0, inner=True)
    return Filter(left, match.group(2), right), i + 2


# --- execution -----------------------------------------------------------------------------

def execute(template: str, data: Any, *, as_json: bool = False) -> str:
    """Run a parsed template over `data` and print it as kubectl does."""
    out: list[str] = []
    _run(parse(template), data, out, as_json)
    return "".join(out)


def _run(items: list[Action | Range], data: Any, out: list[str], as_json: bool) -> None:
    for item in items:
        if isinstance(item, Range):
            for value in _eval(item.over, [data]):
                _run(item.body, value, out, as_json)
        else:
            out.append(print_results(_eval(item.nodes, [data]), as_json))


def find_results(template: str, data: Any) -> list[list[Any]]:
    """Each action's values (custom-columns joins them with commas)."""
    results: list[list[Any]] = []

    def walk(items: list[Action | Range], value: Any) -> None:
        for item in items:
            if isinstance(item, Range):
                for inner in _eval(item.over, [value]):
                    walk(item.body, inner)
            else:
                results.append(_eval(item.nodes, [value]))
    walk(parse(template), data)
    return results


def print_results(values: list[Any], as_json: bool = False) -> str:
    if as_json:
        return html_escape(json.dumps(values, indent=4, sort_keys=True, ensure_ascii=False)) + "\n"
    return " ".join(_text(v) for v in values)


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return go_json(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def _eval(nodes: list[Node], values: list[Any]) -> list[Any]:
    for node in nodes:
        values = _step(node, values)
    return values


def _step(node: Node, values: list[Any]) -> list[Any]:
    if isinstance(node, Text):
        return [node.text]
    if isinstance(node, Literal):
        return [node.value]
    if isinstance(node, Field):
        if node.name == "":
            return values
        return [v[node.name] for v in values if isinstance(v, dict) and node.name in v]
    if isinstance(node, Wildcard):
        out: list[Any] = []
        for v in values:
            if isinstance(v, dict):
                out.extend(v[k] for k in sorted(v))
            elif isinstance(v, list):
                out.extend(v)
        return out
    if isinstance(node, Recursive):
        return [x for v in values for x in _descend(v)]
    if isinstance(node, Index):
        return _index(node, values)
    if isinstance(node, Union):
        return [x for branch in node.branches for x in _eval(branch, values)]
    if isinstance(node, Filter):
        return _filter(node, values)
    if node.name == "end":
        raise JSONPathError("not in range, nothing to end")
    if node.name == "range":
        return values
    raise JSONPathError(f"unrecognized identifier {node.name}")


def _descend(value: Any) -> list[Any]:
    children: list[Any] = []
    if isinstance(value, dict):
        children = [value[k] for k in sorted(value)]
    elif isinstance(value, list):
        children = list(value)
    if not children:
        return []
    return [value] + [x for c in children for x in _descend(c)]


def _index(node: Index, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, list):
            raise JSONPathError(f"{_type_name(value)} is not array or slice")
        length = len(value)
        start = node.start if node.start is not None else 0
        if start < 0:
            start += length
        end = node.end if node.end is not None else length
        if end < 0 or (end == 0 and node.derived_end):
            end += length
        if end == start:
            return out
        if start >= length or start < 0:
            raise JSONPathError(f"array index out of bounds: index {start}, length {length}")
        if end > length or end < 0:
            raise JSONPathError(f"array index out of bounds: index {end - 1}, length {length}")
        if start > end:
            raise JSONPathError(f"starting index {start} is greater than ending index {end}")
        step = node.step if node.step is not None else 1
        if step <= 0:
            raise JSONPathError("step must be > 0")
        out.extend(value[start:end:step])
    return out


def _filter(node: Filter, values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not isinstance(value, list):
            raise JSONPathError(f"{_type_name(value)} is not array or slice and cannot be "
                                "filtered")
        for item in value:
            lefts = _eval(node.left, [item])
            if node.op == "exists":
                if lefts:
                    out.append(item)
                continue
            if not lefts:
                continue
            rights = _eval(node.right, [item])
            if not rights:
                continue
            if len(lefts) > 1 or len(rights) > 1:
                raise JSONPathError("can only compare one element at a time")
            if _compare(lefts[0], node.op, rights[0]):
                out.append(item)
    return out


def _compare(left: Any, op: str, right: Any) -> bool:
    numbers = (int, float)
    same = (isinstance(left, numbers) and isinstance(right, numbers)
            and not isinstance(left, bool) and not isinstance(right, bool)) or (
        type(left) is type(right))
    if op == "==":
        return same and bool(left == right)
    if op == "!=":
        return not same or bool(left != right)
    if op == "=~" and isinstance(left, str) and isinstance(right, str):
        return re.search(right, left) is not None
    if op in ("<", ">", "<=", ">="):
        if not same or isinstance(left, dict | list | bool) or left is None:
            raise JSONPathError("incompatible types for comparison")
        return bool({"<": left < right, ">": left > right, "<=": left <= right,
                     ">=": left >= right}[op])
    raise JSONPathError(f"unrecognized filter operator {op}")


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "interface {}"

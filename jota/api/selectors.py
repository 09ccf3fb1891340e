"""Label and field selectors: `-l app=web,tier!=db` and `--field-selector spec.nodeName=n1`.

Label selectors come in two shapes that mean the same thing: kubectl's string
syntax (`parse_label_selector`) and the `metav1.LabelSelector` object in a
Deployment or a NetworkPolicy (`from_label_selector_object`). Both give a
`LabelSelector`, a list of requirements that must all hold.

A field selector compares a few known fields of an object (`field_set`) with
`=`, `==` or `!=`. Only the fields Kubernetes indexes per kind are allowed, so
a typo fails loudly (`field label not supported: foo`) instead of silently
matching nothing. `FieldSelector.exact` tells the watch cache which value a
selector pins a field to, so it can serve `spec.nodeName=n1` from an index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jota.api import errors, names
from jota.api.errors import BadRequest
from jota.api.meta import Obj

# --- label selectors ----------------------------------------------------------------------

_RENDER = {"=": "=", "==": "==", "!=": "!=", "gt": ">", "lt": "<"}


@dataclass(frozen=True)
class Requirement:
    """One `key op values` term. `op` is one of: in, notin, =, ==, !=, gt, lt,
    exists, ! (does not exist)."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("in", "=", "=="):
            return present and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return not present or labels[self.key] not in self.values
        # gt / lt: both sides must be integers, as in Kubernetes.
        try:
            have, want = int(labels[self.key]), int(self.values[0])
        except (KeyError, ValueError):
            return False
        return have > want if self.op == "gt" else have < want

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        return f"{self.key}{_RENDER[self.op]}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """All requirements must hold. `nothing=True` is the selector that matches no
    object at all (a missing selector), distinct from the empty one matching all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls(())

    @classmethod
    def none(cls) -> LabelSelector:
        return cls((), nothing=True)

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        """True when it matches everything (no requirements)."""
        return not self.nothing and not self.requirements

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _new_requirement(key: str, op: str, values: Iterable[str]) -> Requirement:
    """Kubernetes' labels.NewRequirement: validate, then sort requirements' values."""
    vals = tuple(values)
    _check_key(key)
    if op in ("in", "notin") and not vals:
        raise _requirement_error(errors.invalid("values", [], "for 'in', 'notin' operators, "
                                                "values set can't be empty"))
    if op in ("=", "==", "!=") and len(vals) != 1:
        raise _requirement_error(errors.invalid(
            "values", list(vals), "exact-match compatibility requires one single value"))
    if op in ("exists", "!") and vals:
        raise _requirement_error(errors.invalid(
            "values", list(vals), "values set must be empty for exists and does not exist"))
    if op in ("gt", "lt"):
        if len(vals) != 1:
            raise _requirement_error(errors.invalid(
                "values", list(vals), "for 'Gt', 'Lt' operators, exactly one value is required"))
        if not re.fullmatch(r"[-+]?\d+", vals[0]):
            raise _requirement_error(errors.invalid(
                "values[0]", vals[0], "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(vals):
        problems = names.is_valid_label_value(value)
        if problems:
            raise _requirement_error(errors.invalid(f"values[{i}][{key}]", value,
                                                    "; ".join(problems)))
    return Requirement(key, op, tuple(sorted(set(vals))))


def _requirement_error(cause: errors.FieldError | str) -> BadRequest:
    return BadRequest(f"unable to parse requirement: {cause}")


def _check_key(key: str) -> None:
    problems = names.is_qualified_name(key)
    if problems:
        raise _requirement_error(errors.invalid("key", key, "; ".join(problems)))


def _sorted(requirements: Iterable[Requirement]) -> tuple[Requirement, ...]:
    return tuple(sorted(requirements, key=lambda r: r.key))


def from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """A selector from a plain map (a Service's `spec.selector`): every key must
    equal its value. An empty map matches everything, as labels.SelectorFromSet."""
    return LabelSelector(_sorted(_new_requirement(k, "=", [v])
                                 for k, v in (labels or {}).items()))


_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector_object(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector: `None` matches nothing, `{}` matches everything."""
    if sel is None:
        return LabelSelector.none()
    if not isinstance(sel, Mapping):
        raise BadRequest(f"invalid label selector: {sel!r} is not an object")
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise BadRequest("invalid label selector: matchLabels must be a map and "
                         "matchExpressions a list")
    requirements = [_new_requirement(str(k), "=", [str(v)]) for k, v in match_labels.items()]
    for expr in expressions:
        if not isinstance(expr, Mapping):
            raise BadRequest(f"invalid label selector: {expr!r} is not an object")
        operator = expr.get("operator")
        op = _EXPRESSION_OPS.get(str(operator))
        if op is None:
            raise BadRequest(f'"{operator}" is not a valid label selector operator')
        values = expr.get("values") or []
        if not isinstance(values, list):
            raise BadRequest("invalid label selector: values must be a list")
        requirements.append(_new_requirement(str(expr.get("key") or ""), op,
                                             [str(v) for v in values]))
    return LabelSelector(_sorted(requirements))


def selector_to_string(sel: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: `app=web,pod-template-hash=abc`, `<none>` if empty,
    `<error>` if it cannot be read (what `kubectl get rs -o wide` prints)."""
    try:
        text = str(from_label_selector_object(sel))
    except BadRequest:
        return "<error>"
    return text or "<none>"


def labels_to_string(labels: Mapping[str, str] | None) -> str:
    """labels.FormatLabels: `app=web,tier=fe` sorted by key, `<none>` when empty."""
    text = ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))
    return text or "<none>"


# --- the label selector string syntax -----------------------------------------------------

_SPECIAL = "=!(),<>"
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        assert match is not None  # every non-space character starts some token
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _is_identifier(token: str | None) -> bool:
    if not token:  # None past the end, "" never (the tokenizer makes no empty tokens)
        return False
    return token[0] not in _SPECIAL


def parse_label_selector(s: str) -> LabelSelector:
    """Parse kubectl's label selector syntax; `""` matches everything.

    `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, `a>1`, `a<1`,
    joined by commas; errors are Kubernetes' own words.
    """
    return _Parser(_tokenize(s)).parse()


class _Parser:
    """A recursive-descent parser over tokens, shaped like labels.Parser in Go."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        """The next token, or "" at the end (Go prints the end of string as '')."""
        token = self.peek()
        self.pos += 1
        return token if token is not None else ""

    def parse(self) -> LabelSelector:
        requirements: list[Requirement] = []
        while (token := self.peek()) is not None:
            if not (_is_identifier(token) or token == "!"):
                raise BadRequest(f"found '{token}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            after = self.take()
            if after == "":
                break
            if after != ",":
                raise BadRequest(f"found '{after}', expected: ',' or 'end of string'")
            following = self.peek()
            if not (_is_identifier(following) or following == "!"):
                raise BadRequest(f"found '{following or ''}', expected: identifier after ','")
        return LabelSelector(_sorted(requirements))

    def requirement(self) -> Requirement:
        negate = self.peek() == "!"
        if negate:
            self.take()
        key = self.take()
        if not _is_identifier(key):
            raise _requirement_error(f"found '{key}', expected: identifier")
        _check_key(key)
        if negate:
            return _new_requirement(key, "!", [])
        if self.peek() in (None, ","):
            return _new_requirement(key, "exists", [])
        operator = self.take()
        if operator in ("in", "notin"):
            return _new_requirement(key, operator, self.values())
        op = {"=": "=", "==": "==", "!=": "!=", ">": "gt", "<": "lt"}.get(operator)
        if op is None:
            raise _requirement_error(
                f"found '{operator}', expected: in, notin, =, ==, !=, gt, lt")
        if self.peek() in (None, ","):
            return _new_requirement(key, op, [""])
        value = self.take()
        if not _is_identifier(value):
            raise _requirement_error(f"found '{value}', expected: identifier")
        return _new_requirement(key, op, [value])

    def values(self) -> list[str]:
        """`(a,b)`; `()` and `(a,,b)` hold an empty value, as upstream allows."""
        opening = self.take()
        if opening != "(":
            raise _requirement_error(f"found '{opening}' expected: '('")
        if self.peek() == ")":
            self.take()
            return [""]
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take()
            if expect_value and _is_identifier(token):
                values.append(token)
                expect_value = False
            elif expect_value and token in (",", ")"):
                values.append("")
                if token == ")":
                    return values
            elif not expect_value and token == ",":
                expect_value = True
            elif not expect_value and token == ")":
                return values
            else:
                expected = "',', or identifier" if expect_value else "',' or ')'"
                raise _requirement_error(f"found '{token}', expected: {expected}")


# --- field selectors ----------------------------------------------------------------------

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_KIND_FIELDS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                      "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                      "status.podIP", "status.nominatedNodeName"}),
    "Event": frozenset({"involvedObject.kind", "involvedObject.namespace",
                        "involvedObject.name", "involvedObject.uid",
                        "involvedObject.apiVersion", "involvedObject.resourceVersion",
                        "involvedObject.fieldPath", "reason", "reportingComponent",
                        "source", "type"}),
    "Secret": frozenset({"type"}),
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Job": frozenset({"status.successful"}),
    "CertificateSigningRequest": frozenset({"spec.signerName"}),
}


def field_selector_fields(kind: str) -> set[str]:
    """The fields `--field-selector` accepts for `kind`."""
    return set(_COMMON_FIELDS | _KIND_FIELDS.get(kind, frozenset()))


def _text(value: Any) -> str:
    """Render a field the way Go's fmt does for the field set (`true`, `3`, ``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_set(obj: Obj) -> dict[str, str]:
    """The selectable fields of an object, rendered as strings (Kubernetes' fields.Set)."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    result = {"metadata.name": _text(metadata.get("name")),
              "metadata.namespace": _text(metadata.get("namespace"))}
    kind = obj.get("kind")
    if kind == "Pod":
        pod_ips = status.get("podIPs") or []
        pod_ip = pod_ips[0].get("ip") if pod_ips and isinstance(pod_ips[0], dict) else None
        result.update({
            "spec.nodeName": _text(spec.get("nodeName")),
            "spec.restartPolicy": _text(spec.get("restartPolicy")),
            "spec.schedulerName": _text(spec.get("schedulerName")),
            "spec.serviceAccountName": _text(spec.get("serviceAccountName")),
            "spec.hostNetwork": _text(bool(spec.get("hostNetwork"))),
            "status.phase": _text(status.get("phase")),
            "status.podIP": _text(pod_ip or status.get("podIP")),
            "status.nominatedNodeName": _text(status.get("nominatedNodeName")),
        })
    elif kind == "Event":
        involved = obj.get("involvedObject") or {}
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                     "fieldPath"):
            result[f"involvedObject.{name}"] = _text(involved.get(name))
        result["reason"] = _text(obj.get("reason"))
        result["reportingComponent"] = _text(obj.get("reportingComponent"))
        result["source"] = _text((obj.get("source") or {}).get("component"))
        result["type"] = _text(obj.get("type"))
    elif kind == "Secret":
        result["type"] = _text(obj.get("type"))
    elif kind == "Node":
        result["spec.unschedulable"] = _text(bool(spec.get("unschedulable")))
    elif kind == "Namespace":
        result["status.phase"] = _text(status.get("phase"))
    elif kind == "ReplicaSet":
        result["status.replicas"] = _text(status.get("replicas") or 0)
    elif kind == "Job":
        result["status.successful"] = _text(status.get("succeeded") or 0)
    elif kind == "CertificateSigningRequest":
        result["spec.signerName"] = _text(spec.get("signerName"))
    return result


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    op: str  # "=", "==" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return not equal if self.op == "!=" else equal

    def __str__(self) -> str:
        return f"{self.field}{self.op}{_escape(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = field(default=())

    def matches(self, obj: Obj) -> bool:
        fields = field_set(obj)
        return all(r.matches(fields) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements

    def exact(self, name: str) -> str | None:
        """The value this selector requires `name` to equal, if any (for indexes)."""
        for r in self.requirements:
            if r.field == name and r.op in ("=", "=="):
                return r.value
        return None

    def validate(self, kind: str) -> None:
        """Reject fields `kind` cannot be selected by, in the apiserver's words."""
        allowed = field_selector_fields(kind)
        for r in self.requirements:
            if r.field not in allowed:
                raise BadRequest(f"field label not supported: {r.field}")

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_field_selector(s: str, kind: str | None = None) -> FieldSelector:
    """fields.ParseSelector: `a=b,c!=d` with `\\,` `\\=` `\\\\` escapes in values.
    With `kind`, unsupported fields raise `field label not supported: foo`."""
    requirements: list[FieldRequirement] = []
    for term in sorted(_split_terms(s)):
        if not term:
            continue
        match = re.search(r"!=|==|=", term)
        if match is None:
            raise BadRequest(f"invalid selector: '{s}'; can't understand '{term}'")
        requirements.append(FieldRequirement(term[:match.start()], match.group(),
                                             _unescape(term[match.end():])))
    selector = FieldSelector(tuple(requirements))
    if kind is not None:
        selector.validate(kind)
    return selector


def _split_terms(s: str) -> list[str]:
    """Split on commas not escaped by a backslash."""
    terms, current, escaped = [], "", False
    for ch in s:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == ",":
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return terms


def _unescape(value: str) -> str:
    out, i = "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            nxt = value[i + 1:i + 2]
            if nxt not in ("\\", ",", "="):
                raise BadRequest(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out += nxt
            i += 2
            continue
        if ch in ",=":
            raise BadRequest(f"invalid field selector: unescaped character in value: {ch}")
        out += ch
        i += 1
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")

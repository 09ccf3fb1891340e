"""The one error hierarchy of Jota, with kubectl's words and gRPC codes.

Every layer raises these; the apiserver maps them to a gRPC status once
(`grpc_code`), and the client maps a status back once (`from_grpc`), so a
`NotFound` raised in storage arrives as a `NotFound` in the CLI, where it is
printed as `Error from server (NotFound): pods "x" not found`.

    APIError
    ├── BadRequest            INVALID_ARGUMENT   (malformed input, unknown kind)
    │   └── Invalid           INVALID_ARGUMENT   (field errors, `X "n" is invalid: ...`)
    ├── NotFound              NOT_FOUND
    ├── AlreadyExists         ALREADY_EXISTS
    ├── Conflict              ABORTED            (stale resourceVersion)
    ├── Gone                  OUT_OF_RANGE       (too old resource version / expired continue)
    ├── Unauthorized          UNAUTHENTICATED
    ├── Forbidden             PERMISSION_DENIED  (also: namespace terminating)
    ├── TooLarge              RESOURCE_EXHAUSTED
    ├── TooManyRequests       RESOURCE_EXHAUSTED (429: an eviction a disruption budget refuses)
    ├── MethodNotAllowed      UNIMPLEMENTED
    ├── Timeout               DEADLINE_EXCEEDED
    ├── ServiceUnavailable    UNAVAILABLE
    └── InternalError         INTERNAL
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import grpc


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, as Kubernetes' field.Error."""

    path: str
    detail: str
    type: str = "Invalid value"
    value: Any = None
    has_value: bool = True

    def __str__(self) -> str:
        if self.type == "unknown field":
            return f'unknown field "{self.path}"'
        if self.type == "Invalid value" and self.has_value:
            return f"{self.path}: Invalid value: {_render_value(self.value)}: {self.detail}"
        if self.detail:
            return f"{self.path}: {self.type}: {self.detail}"
        return f"{self.path}: {self.type}"


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, detail, type="Required value", has_value=False)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, detail, type="Invalid value", value=value)


def unsupported(path: str, value: Any, allowed: list[str]) -> FieldError:
    quoted = ", ".join(json.dumps(a) for a in allowed)
    return FieldError(path, f"{_render_value(value)}: supported values: {quoted}",
                      type="Unsupported value", has_value=False)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, detail, type="Forbidden", has_value=False)


def unknown_field(path: str) -> FieldError:
    return FieldError(path, "", type="unknown field", has_value=False)


def too_long(path: str, max_len: int) -> FieldError:
    return FieldError(path, f"may not be more than {max_len} bytes", type="Too long",
                      has_value=False)


class APIError(Exception):
    """Base of every error the API returns; `reason` is Kubernetes' StatusReason."""

    reason: ClassVar[str] = "InternalError"
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_details(self) -> str:
        """JSON carried in the gRPC status details string, to rebuild the error client-side."""
        return json.dumps({"reason": self.reason, "message": self.message})


class BadRequest(APIError):
    reason = "BadRequest"
    code = grpc.StatusCode.INVALID_ARGUMENT


class Invalid(BadRequest):
    """`Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be >= 0`."""

    reason = "Invalid"

    def __init__(self, message: str, causes: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.causes = list(causes or [])

    @classmethod
    def of(cls, kind: str, name: str, causes: list[FieldError]) -> Invalid:
        rendered = [str(c) for c in causes]
        body = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
        return cls(f'{kind} "{name}" is invalid: {body}', causes)


class NotFound(APIError):
    reason = "NotFound"
    code = grpc.StatusCode.NOT_FOUND

    @classmethod
    def of(cls, resource: str, name: str) -> NotFound:
        return cls(f'{resource} "{name}" not found')


class AlreadyExists(APIError):
    reason = "AlreadyExists"
    code = grpc.StatusCode.ALREADY_EXISTS

    @classmethod
    def of(cls, resource: str, name: str) -> AlreadyExists:
        return cls(f'{resource} "{name}" already exists')


class Conflict(APIError):
    reason = "Conflict"
    code = grpc.StatusCode.ABORTED

    @classmethod
    def stale(cls, resource: str, name: str) -> Conflict:
        return cls(
            f'Operation cannot be fulfilled on {resource} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )


class Gone(APIError):
    reason = "Expired"
    code = grpc.StatusCode.OUT_OF_RANGE

    @classmethod
    def too_old(cls, rv: int | str) -> Gone:
        return cls(f"too old resource version: {rv}")

    @classmethod
    def expired_continue(cls) -> Gone:
        return cls(
            "The provided continue parameter is too old to display a consistent list "
            "result. You can start a new list without the continue parameter."
        )


class Unauthorized(APIError):
    reason = "Unauthorized"
    code = grpc.StatusCode.UNAUTHENTICATED


class Forbidden(APIError):
    reason = "Forbidden"
    code = grpc.StatusCode.PERMISSION_DENIED


class TooLarge(APIError):
    reason = "RequestEntityTooLarge"
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class TooManyRequests(APIError):
    """Kubernetes' 429: try again later (kubectl drain retries an eviction on it)."""

    reason = "TooManyRequests"
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class MethodNotAllowed(APIError):
    reason = "MethodNotAllowed"
    code = grpc.StatusCode.UNIMPLEMENTED


class Timeout(APIError):
    reason = "Timeout"
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ServiceUnavailable(APIError):
    reason = "ServiceUnavailable"
    code = grpc.StatusCode.UNAVAILABLE


class InternalError(APIError):
    reason = "InternalError"
    code = grpc.StatusCode.INTERNAL


_BY_REASON: dict[str, type[APIError]] = {
    c.reason: c
    for c in (BadRequest, Invalid, NotFound, AlreadyExists, Conflict, Gone, Unauthorized,
              Forbidden, TooLarge, TooManyRequests, MethodNotAllowed, Timeout,
              ServiceUnavailable, InternalError)
}
_BY_CODE: dict[grpc.StatusCode, type[APIError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: BadRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.OUT_OF_RANGE: Gone,
    grpc.StatusCode.UNAUTHENTICATED: Unauthorized,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooLarge,
    grpc.StatusCode.UNIMPLEMENTED: MethodNotAllowed,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
    grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
}


def from_grpc(code: grpc.StatusCode, details: str | None) -> APIError:
    """Turn a gRPC status back into the error the server raised."""
    details = details or ""
    try:
        data = json.loads(details)
        reason, message = str(data["reason"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        reason, message = "", details or code.name
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code, InternalError)
    return cls(message)


"""Errors keep their class and kubectl's words across the gRPC boundary."""

from __future__ import annotations

import grpc
import pytest

from jota.api import errors


@pytest.mark.parametrize("err", [
    errors.NotFound.of("pods", "web-1"),
    errors.AlreadyExists.of("deployments.apps", "web"),
    errors.Conflict.stale("configmaps", "c"),
    errors.Gone.too_old(12),
    errors.Forbidden("nope"),
    errors.Invalid.of("Deployment", "web", [errors.invalid("spec.replicas", -1,
                                                           "must be >= 0")]),
])
def test_round_trip_through_grpc_status(err: errors.APIError):
    back = errors.from_grpc(err.code, err.to_details())
    assert type(back) is type(err)
    assert back.message == err.message


def test_messages_in_kubectls_words():
    assert str(errors.NotFound.of("pods", "x")) == 'pods "x" not found'
    invalid = errors.Invalid.of("Deployment", "web", [
        errors.invalid("spec.replicas", -1, "must be greater than or equal to 0")])
    assert str(invalid) == ('Deployment "web" is invalid: spec.replicas: Invalid value: -1: '
                            "must be greater than or equal to 0")
    two = errors.Invalid.of("Pod", "p", [errors.required("spec.containers[0].image"),
                                         errors.unknown_field("spec.contaners")])
    assert str(two) == ('Pod "p" is invalid: [spec.containers[0].image: Required value, '
                        'unknown field "spec.contaners"]')


def test_codes_match_kubernetes_statuses():
    assert errors.Conflict.code == grpc.StatusCode.ABORTED
    assert errors.Gone.code == grpc.StatusCode.OUT_OF_RANGE
    assert errors.Invalid.code == grpc.StatusCode.INVALID_ARGUMENT


def test_unknown_status_without_details_keeps_the_code():
    err = errors.from_grpc(grpc.StatusCode.UNAVAILABLE, "connection refused")
    assert isinstance(err, errors.ServiceUnavailable)
    assert err.message == "connection refused"

"""What every Jota daemon shares to expose Prometheus metrics: the HTTP endpoint
(`server.py`) and client-go's workqueue series (`workqueue.py`)."""

from __future__ import annotations

import argparse

from jota.metrics.server import (
    MetricsServer,
    parse_bind_address,
    start_metrics_server,
)
from jota.metrics.workqueue import WorkqueueCollector


def metrics_bind_address(text: str) -> str:
    """argparse type of every daemon's `--metrics-bind-address`."""
    try:
        parse_bind_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


__all__ = ["MetricsServer", "WorkqueueCollector", "metrics_bind_address",
           "parse_bind_address", "start_metrics_server"]

"""The one logging setup of every Jota daemon: one line per record, `key=value` pairs.

Components pass object keys through `extra` (`logger.info("started", extra={"pod":
"web-1", "namespace": "default"})`), as klog's KObj: every line can be grepped by
pod, node or controller.
"""

from __future__ import annotations

import logging
import sys

# Attributes every LogRecord has; anything else came in through `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = (f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname[0]} "
                f"{record.name}: {record.getMessage()}")
        pairs = [f"{k}={v}" for k, v in record.__dict__.items()
                 if k not in _STANDARD and not k.startswith("_")]
        if pairs:
            base += " " + " ".join(pairs)
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def setup(level: str = "info", component: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # grpc and etcd internals are noisy at info level.
    logging.getLogger("grpc").setLevel(logging.WARNING)
    if component:
        logging.getLogger(component).debug("logging configured")

"""How every Jota daemon's `main` runs its event loop: a failure the daemon cannot start
past (a port taken, an unreadable file, the apiserver refusing it) ends it with one log
line and exit status 1, which systemd shows, instead of a traceback."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any


def run(main: Coroutine[Any, Any, None], logger: logging.Logger,
        fatal: tuple[type[BaseException], ...] = (OSError,)) -> None:
    try:
        asyncio.run(main)
    except fatal as e:
        logger.error("%s", e)
        sys.exit(1)

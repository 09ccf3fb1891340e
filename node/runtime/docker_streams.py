"""Docker's long-lived streams (events, followed logs, exec output) as asyncio iterators.

The SDK reads them with blocking sockets. Each stream gets its own thread (not
the call pool, which a never-ending stream would starve) that hands items to
the event loop through a bounded queue, so a slow consumer slows the reader
instead of filling memory. When the consumer stops, the HTTP stream's socket is
shut down, which ends the thread's blocking read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

from node.runtime.docker_convert import STREAMS, log_line, split_lines
from node.runtime.interface import LogLine

T = TypeVar("T")

Opener = Callable[[], tuple[Iterator[T], Callable[[], None]]]

_END = object()


async def bridge(opener: Opener[T], *, maxsize: int = 256,
                 name: str = "docker-stream") -> AsyncIterator[T]:
    """Run `opener` and its iterator in a thread; yield its items here.

    `opener` returns (items, close); `close` must make a blocked `next(items)`
    return or raise (Docker's CancellableStream.close does). Exceptions from the
    thread are re-raised in the consumer.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
    stopped = threading.Event()
    lock = threading.Lock()
    closer: list[Callable[[], None]] = []

    def push(item: Any) -> bool:
        try:
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        except RuntimeError:  # the loop is closed
            return False
        while True:
            try:
                future.result(timeout=0.5)
                return True
            except concurrent.futures.TimeoutError:
                if stopped.is_set():
                    future.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def run() -> None:
        try:
            items, close = opener()
            with lock:
                closer.append(close)
                gone = stopped.is_set()
            if gone:
                _quietly(close)
                return
            for item in items:
                if not push(item):
                    return
        except BaseException as e:
            if not stopped.is_set():
                push(e)
        finally:
            if not stopped.is_set():
                push(_END)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        with lock:
            stopped.set()
            close = closer[0] if closer else None
        if close is not None:
            _quietly(close)


def _quietly(close: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):
        close()


# ---- logs --------------------------------------------------------------------------------

def log_lines(raw: Any, tty: bool) -> Iterator[LogLine]:
    """Lines of `GET /containers/ID/logs?timestamps=1` read from the urllib3 response.

    Without a TTY every frame is one log message (a line, or a piece of a long
    one, each with its own timestamp); with a TTY the stream is raw bytes, so it
    is cut at newlines.
    """
    if not tty:
        while True:
            header = raw.read(8)
            if len(header) < 8:
                return
            stream, length = struct.unpack(">BxxxL", header)
            data = raw.read(length) if length else b""
            if length and not data:
                return
            yield log_line(STREAMS.get(stream, "stdout"), data)
    rest = b""
    while True:
        chunk = raw.read1(4096) if hasattr(raw, "read1") else raw.read(4096)
        if not chunk:
            break
        lines, rest = split_lines(rest + chunk)
        for line in lines:
            yield log_line("stdout", line)
    if rest:
        yield log_line("stdout", rest)


# ---- exec --------------------------------------------------------------------------------

def read_exec_output(sock: socket.socket, deadline: float
                     ) -> tuple[bytes, bytes, bool]:
    """(stdout, stderr, finished) of a hijacked exec stream, reading until EOF or `deadline`
    (time.monotonic()): a hung command must not hold a thread forever."""
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        while True:
            header = _read_exactly(sock, 8, deadline)
            if header is None:
                return b"".join(out), b"".join(err), True
            stream, length = struct.unpack(">BxxxL", header)
            data = _read_exactly(sock, length, deadline) if length else b""
            if data is None:
                return b"".join(out), b"".join(err), True
            (err if stream == 2 else out).append(data)
    except TimeoutError:
        return b"".join(out), b"".join(err), False


def _read_exactly(sock: socket.socket, n: int, deadline: float) -> bytes | None:
    buf = b""
    while len(buf) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def raw_socket(sock: Any) -> socket.socket:
    """The socket.socket under what `exec_start(socket=True)` returns (a SocketIO on unix)."""
    inner = getattr(sock, "_sock", sock)
    assert isinstance(inner, socket.socket)
    return inner


def shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()

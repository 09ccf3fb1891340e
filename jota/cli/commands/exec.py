"""`jota exec POD [-c C] [-i] [-t] -- CMD [ARG...]`: run a command in a container.

As kubectl exec: stdin is streamed with -i, a terminal is allocated with -t (only
when -i and stdin is a terminal; it is then put in raw mode and its size
follows the window), stdout and stderr come back as they are written, and the
command's exit code becomes jota's own, after `command terminated with exit
code N` on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

from jota.cli.commands._common import add_positionals
from jota.cli.commands._pods import attachable_pod, default_container
from jota.cli.context import Context, UsageError
from jota.cli.flags import add_namespace_flags
from jota.client import streams

USAGE = ("expected 'exec (POD | TYPE/NAME) -- COMMAND [ARG1] [ARG2] ... [ARGN]'.\n"
         "POD or TYPE/NAME is a required argument for the exec command")
NO_TTY = "Unable to use a TTY - input is not a terminal or the right kind of file"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("exec", help="Execute a command in a container")
    add_positionals(p, "words", "(POD | TYPE/NAME) -- COMMAND [ARG...]")
    add_namespace_flags(p, all_namespaces=False)
    p.add_argument("-c", "--container", default="", help="the container to run it in")
    p.add_argument("-i", "--stdin", action="store_true", help="pass stdin to the container")
    p.add_argument("-t", "--tty", action="store_true", help="stdin is a TTY")
    p.add_argument("-q", "--quiet", action="store_true", help="only print what the command "
                                                              "prints")
    p.set_defaults(run=run)


def use_tty(stdin: bool, tty: bool, is_terminal: bool) -> tuple[bool, str]:
    """(allocate a TTY?, warning): kubectl's StreamOptions.SetupTTY."""
    if not stdin or not tty:
        return False, ""
    if not is_terminal:
        return False, NO_TTY
    return True, ""


def check_phase(pod: dict[str, Any]) -> None:
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        raise UsageError(f"cannot exec into a container in a completed pod; current phase is "
                         f"{phase}")


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_stdin(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
    """Blocking reads of stdin in a thread of its own; b"" marks the end."""
    fd = sys.stdin.fileno()
    while True:
        try:
            data = os.read(fd, 32 * 1024)
        except OSError:
            data = b""
        try:
            loop.call_soon_threadsafe(queue.put_nowait, data)
        except RuntimeError:  # the loop has closed: the command is over
            return
        if not data:
            return


async def _pump_stdin(session: streams.ExecSession) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    threading.Thread(target=_read_stdin, args=(loop, queue), daemon=True,
                     name="stdin").start()
    while data := await queue.get():
        await session.write(data)
    await session.close_stdin()


def _binary(out: Any) -> IO[bytes] | None:
    return getattr(out, "buffer", None)


def _emit(out: Any, data: bytes) -> None:
    binary = _binary(out)
    if binary is not None:
        binary.write(data)
        binary.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
        out.flush()


async def run(ctx: Context, args: argparse.Namespace) -> int:
    words: list[str] = list(args.words)
    if not words:
        raise UsageError(USAGE)
    if len(words) < 2:
        raise UsageError("you must specify at least one command for the container")
    pod = await attachable_pod(ctx, words[0])
    check_phase(pod)
    container = default_container(pod, args.container)
    is_terminal = args.stdin and sys.stdin.isatty()
    tty, warning = use_tty(args.stdin, args.tty, is_terminal)
    if warning and not args.quiet:
        ctx.warn(warning)
    session = await streams.exec_(ctx.client, ctx.namespace, (pod["metadata"]["name"]),
                                  words[1:], container=container, stdin=args.stdin, tty=tty)
    with raw_terminal(sys.stdin.fileno()) if tty else contextlib.nullcontext():
        code = await _stream(ctx, session, stdin=args.stdin, tty=tty)
    if code:
        ctx.warn(f"command terminated with exit code {code}")
    return code


async def _stream(ctx: Context, session: streams.ExecSession, *, stdin: bool,
                  tty: bool) -> int:
    helpers: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    if stdin:
        helpers.append(asyncio.create_task(_pump_stdin(session)))
    if tty:
        async def resize() -> None:
            size = shutil.get_terminal_size()
            await session.resize(size.columns, size.lines)

        await resize()
        loop.add_signal_handler(signal.SIGWINCH,
                                lambda: helpers.append(asyncio.create_task(resize())))
    try:
        async for stream, data in session.output():
            _emit(ctx.err if stream == "stderr" else ctx.out, data)
    finally:
        if tty:
            loop.remove_signal_handler(signal.SIGWINCH)
        for task in helpers:
            task.cancel()
        session.cancel()
    return session.exit_code or 0

"""The data plane: nginx as jota-ingress's child, fed files and reloaded gracefully.

`apply` writes the certificates (mode 0600) and the new nginx.conf beside the live one,
has `nginx -t` check it, and only then moves it into place and reloads: a rendering
nginx refuses never replaces one that works. The first good config starts nginx in
the foreground (`daemon off`) with this state dir as its prefix; later ones are a
SIGHUP to it, which is what `nginx -s reload` sends (new workers start, old ones
finish their requests). Under `setpriv --pdeathsig` nginx dies with us even when we
are killed, so nothing listens on the ports after jota-ingress is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from controlplane.ingress.model import Config
from controlplane.ingress.render import TEMP_PATHS

logger = logging.getLogger("jota-ingress")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class NginxError(RuntimeError):
    """nginx refused a config or would not start; the message is nginx's own."""


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` readable by root only, atomically; untouched when unchanged."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Nginx:
    """One nginx, its files under `state_dir`, listening on `http_port` (checked at start)."""

    def __init__(self, state_dir: Path, http_port: int, binary: str = "nginx") -> None:
        self.state_dir = state_dir
        self.http_port = http_port
        self.binary = binary
        self.conf = state_dir / "nginx.conf"
        self.certs = state_dir / "certs"
        self.pid_file = state_dir / "nginx.pid"  # render.py's `pid`
        self.proc: subprocess.Popen[bytes] | None = None
        self.reloads = 0

    def prepare(self) -> None:
        for d in (self.state_dir, self.certs, self.state_dir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.certs, 0o700)
        for t in TEMP_PATHS:
            (self.state_dir / "tmp" / t).mkdir(exist_ok=True)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def apply(self, config: Config, text: str) -> bool:
        """Make nginx serve `text`; False when it already did. Raises NginxError."""
        if self.running and self.conf.exists() and self.conf.read_text() == text:
            return False
        self.prepare()
        wanted = set()
        for cert in config.certificates:
            _write_private(self.certs / f"{cert.name}.crt", cert.cert)
            _write_private(self.certs / f"{cert.name}.key", cert.key)
            wanted |= {f"{cert.name}.crt", f"{cert.name}.key"}
        candidate = self.state_dir / "nginx.conf.new"
        candidate.write_text(text)
        await self._test(candidate)
        os.replace(candidate, self.conf)
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGHUP)
            self.reloads += 1
        else:
            await self._start()
        for f in self.certs.iterdir():  # certificates no server uses any more
            if f.name not in wanted:
                f.unlink(missing_ok=True)
        return True

    def _cmd(self, *extra: str) -> list[str]:
        return [self.binary, "-p", f"{self.state_dir}/", "-c", str(self.conf), *extra]

    async def _test(self, candidate: Path) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-t", "-q", "-p", f"{self.state_dir}/", "-c", str(candidate),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise NginxError(f"nginx refused the new configuration (the old one stays): "
                             f"{out.decode(errors='replace').strip()}")

    async def _start(self) -> None:
        cmd = self._cmd()
        if shutil.which("setpriv"):
            cmd = ["setpriv", "--pdeathsig", "TERM", "--", *cmd]
        self._kill_group()  # workers of a master that died would hold the ports
        self.pid_file.unlink(missing_ok=True)
        # From the event loop's thread: the parent-death signal follows the thread
        # that forked, and this one lives as long as the process. A session of its
        # own makes master and workers one process group, killed together.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)
        logger.info("starting nginx (pid %d) on port %d", self.proc.pid, self.http_port)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise NginxError(f"nginx exited with {code} at start (is port "
                                 f"{self.http_port} taken?); see the log above")
            if self._pid_written():  # nginx writes it once its ports are bound
                return
            await asyncio.sleep(0.05)
        raise NginxError(f"nginx did not listen on port {self.http_port} within "
                         f"{START_TIMEOUT:.0f}s")

    def _pid_written(self) -> bool:
        try:
            return self.proc is not None and int(self.pid_file.read_text()) == self.proc.pid
        except (OSError, ValueError):
            return False

    async def stop(self) -> None:
        """Graceful shutdown (SIGQUIT), then SIGTERM, then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGQUIT, STOP_TIMEOUT), (signal.SIGTERM, STOP_TIMEOUT),
                          (signal.SIGKILL, STOP_TIMEOUT)):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            deadline = time.monotonic() + wait
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        self.proc = proc
        self._kill_group()
        self.proc = None
        logger.info("nginx stopped")

    def _kill_group(self) -> None:
        """SIGKILL what is left of a dead master's process group (its workers)."""
        if self.proc is None or self.proc.poll() is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


__all__ = ["Nginx", "NginxError"]

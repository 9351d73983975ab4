"""Child processes of the orchestrator: target servers and load workers.

Every child is started here and stopped here, by PID, with a hard timeout
(SIGTERM, then SIGKILL). Every wait has a timeout, so a wedged server or
worker costs at most a few seconds and is reported as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import time
from pathlib import Path
from typing import IO, Any

import orjson

from bench.config import HOST, PORT_RANGE, REPO_DIR, Target, venv_python


class ChildError(RuntimeError):
    """A child process failed to start, died, reported an error or timed out."""


def free_port(preferred: int) -> int:
    """Return ``preferred`` if nothing listens there, else the next free port in the allowed range."""
    ports = [preferred, *(p for p in PORT_RANGE if p != preferred)]
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise ChildError("no free port in 18100-18199")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for children: repo on PYTHONPATH so ``bench.*`` and ``django_signalr`` import."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the orchestrator dies, so nothing is left running."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Stop ``proc`` by PID: SIGTERM, wait ``grace`` s, then SIGKILL and reap (bounded)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout=grace)
        return
    except TimeoutError:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), timeout=5.0)


class ServerProcess:
    """One target under one server: uvicorn (uvloop, httptools, no per-message deflate, quiet
    logs), daphne (quiet), or the target's own command (``Target.command``), on one layer."""

    def __init__(
        self, target: Target, port: int, log_path: Path, server: str = "uvicorn", layer: str = "memory"
    ) -> None:
        """Remember what to run; :meth:`start` launches it."""
        self.target = target
        self.port = port
        self.log_path = log_path
        self.server = server
        self.layer = layer
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        """PID of the server process (single process: no reloader, no workers)."""
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        """The server's command line."""
        if self.target.command:
            return [venv_python(), *(arg.replace("{port}", str(self.port)) for arg in self.target.command)]
        if self.server == "daphne":
            return [venv_python(), "-m", "daphne", "-b", HOST, "-p", str(self.port), "-v", "0", self.target.app]
        return [
            venv_python(), "-m", "uvicorn", self.target.app,
            "--host", HOST, "--port", str(self.port),
            "--loop", "uvloop", "--http", "httptools",
            "--ws-per-message-deflate", "false",
            "--log-level", "warning", "--no-access-log",
            "--timeout-graceful-shutdown", "2",
        ]  # fmt: skip

    async def start(self, timeout: float = 30.0) -> None:
        """Launch the server and wait until the port accepts connections or the process dies."""
        env = {**self.target.env, "BENCH_LAYER": self.layer, "BENCH_LAYER_PREFIX": f"bench-{os.getpid()}-{self.port}"}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), cwd=str(REPO_DIR), env=child_env(env),
            stdin=asyncio.subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise ChildError(f"server exited with code {self.proc.returncode} during start-up: {self.log_tail()}")
            try:
                _reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), timeout=1.0)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
            return
        raise ChildError(f"server did not listen within {timeout:.0f}s: {self.log_tail()}")

    def rss_bytes(self) -> int:
        """The server's resident memory now (``VmRSS`` of /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise ChildError("no VmRSS in /proc status")

    def alive(self) -> bool:
        """True while the server process runs."""
        return self.proc is not None and self.proc.returncode is None

    def log_tail(self, chars: int = 600) -> str:
        """Last lines of the server log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text[-chars:].strip().splitlines()[-6:])

    async def stop(self) -> None:
        """Stop the server by PID (SIGTERM, 4 s grace, then SIGKILL)."""
        if self.proc is not None:
            await _terminate(self.proc, grace=4.0)
        if self._log is not None:
            self._log.close()
            self._log = None


class LoadWorker:
    """A ``bench.worker`` child speaking line-delimited JSON over stdin/stdout."""

    def __init__(self, role: str, args: list[str], log_path: Path) -> None:
        """Remember role and CLI arguments; :meth:`start` launches it."""
        self.role = role
        self.args = args
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        """PID of the worker process."""
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        """Spawn the worker (stderr goes to its log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            venv_python(), "-m", "bench.worker", self.role, *self.args,
            cwd=str(REPO_DIR), env=child_env(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._log,
            limit=16 * 1024 * 1024, preexec_fn=_die_with_parent,
        )  # fmt: skip

    def send(self, command: dict[str, Any]) -> None:
        """Queue one command line for the worker."""
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(orjson.dumps(command) + b"\n")

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """Wait up to ``timeout`` s for the next ``event`` line; raise on error events, EOF or timeout."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildError(f"{self.role} worker: no {event!r} within {timeout:.0f}s")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=remaining)
            except TimeoutError:
                raise ChildError(f"{self.role} worker: no {event!r} within {timeout:.0f}s") from None
            if not line:
                raise ChildError(f"{self.role} worker exited before {event!r}: {self.stderr_tail()}")
            message: dict[str, Any] = orjson.loads(line)
            if message.get("event") == event:
                return message
            if message.get("event") == "error":
                raise ChildError(f"{self.role} worker: {message.get('error')}")

    def stderr_tail(self, chars: int = 400) -> str:
        """Last part of the worker's stderr log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    async def stop(self) -> None:
        """Ask the worker to quit, then make sure it is gone (by PID, bounded)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                self.send({"cmd": "quit"})
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=5.0)
            except TimeoutError:
                await _terminate(self.proc, grace=2.0)
        if self._log is not None:
            self._log.close()
            self._log = None

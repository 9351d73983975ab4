"""Real ASGI server processes for the tests: daphne or uvicorn on 127.0.0.1, a free port.

Every wait is bounded: a server that does not listen within its deadline is stopped and the
error carries its log. Servers are stopped by PID (terminate, then kill).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Literal

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

ServerKind = Literal["daphne", "uvicorn"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def environment(settings: str, **extra: str) -> dict[str, str]:
    """The test process's environment for a server of ``settings``, with the repo importable."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def command(kind: ServerKind, application: str, port: int) -> list[str]:
    if kind == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application]
    return [
        sys.executable, "-m", "uvicorn", application,
        "--host", "127.0.0.1", "--port", str(port),
        "--lifespan", "off", "--ws-per-message-deflate", "false", "--log-level", "warning",
    ]  # fmt: skip


class AsgiServer:
    """One server process; ``start()`` waits until its port accepts connections."""

    def __init__(self, application: str, env: dict[str, str], log_path: Path, kind: ServerKind = "daphne") -> None:
        self.application = application
        self.env = env
        self.log_path = log_path
        self.kind = kind
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, attempts: int = 3) -> None:
        """Start and wait for the port; retried on a fresh port if another process took it."""
        for attempt in range(1, attempts + 1):
            if self._start_once():
                return
            self.stop()
            if attempt == attempts:
                raise RuntimeError(f"{self.kind} did not start listening:\n{self.log_text()}")

    def _start_once(self) -> bool:
        self.port = free_port()
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command(self.kind, self.application, self.port),
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if port_open(self.port):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


def run_checked(args: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a command to completion; its output on failure is in the exception."""
    result = subprocess.run(
        args, cwd=ROOT, env=env, timeout=timeout, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout

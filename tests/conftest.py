"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .servers import free_port
from .tools.system_deps import running_in_ci

JS_DIR = Path(__file__).parent / "js"
NPM_TIMEOUT = 300


@pytest.fixture(scope="session")
def js_modules() -> Path:
    """``tests/js/node_modules`` with the official clients, installed from the lockfile once."""
    modules = JS_DIR / "node_modules"
    if not (modules / "@microsoft" / "signalr").is_dir():
        if shutil.which("npm") is None:
            if running_in_ci():
                pytest.fail("npm is required in CI")
            pytest.skip("Node.js and npm are needed for the official-client tests: install Node 20")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(JS_DIR)],
            check=True,
            timeout=NPM_TIMEOUT,
        )
    return modules


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server: ``REDIS_URL`` or 127.0.0.1:6379; under CI, one started here if needed."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    parsed = urlsplit(url)
    if _redis_answers(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        yield url
        return
    binary = shutil.which("redis-server")
    if not running_in_ci():
        pytest.skip(f"Redis does not answer at {url}: start `redis-server` or set REDIS_URL to run these tests")
    if binary is None:
        pytest.fail("CI needs Redis: install redis-server or set REDIS_URL")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers("127.0.0.1", port):
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)

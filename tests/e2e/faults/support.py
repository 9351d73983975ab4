"""What the fault tests drive: a Redis server of their own that they may stop and start again
on the same port, a cluster of ASGI server processes on it, nginx in front, and helpers that
check which clients received which messages.

Every wait is bounded; every process is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from ...servers import AsgiServer, ServerKind, environment, free_port, port_open
from ...tools.system_deps import NGINX, installed, running_in_ci
from ..jsclient import JsConnection, JsDriver, JsError

T = TypeVar("T")

REDIS_START_TIMEOUT = 10.0
REDIS_STOP_TIMEOUT = 10.0
NGINX_START_TIMEOUT = 10.0
APPLICATION = "tests.e2e.faults.asgi:application"
HUB_PATH = "/hubs/fault"


def redis_binary() -> str:
    """``redis-server``'s path; a missing binary fails under CI and skips elsewhere."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is needed by the fault tests (they start and restart their own)"
        if running_in_ci():
            pytest.fail(f"{message}: install it in CI (apt-get install redis-server)")
        pytest.skip(f"{message}: install it (`sudo apt-get install redis-server`) and put it on PATH to run them")
    return binary


def nginx_binary() -> str:
    """nginx's path; a missing nginx fails under CI and skips elsewhere."""
    if not installed("nginx"):
        if running_in_ci():
            pytest.fail(f"{NGINX} is missing: run tests/tools/system_deps.py in CI")
        pytest.skip(f"{NGINX} is missing: run `python tests/tools/system_deps.py` as root to install nginx")
    return NGINX


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` on a fixed free port of 127.0.0.1, keeping nothing on disk, so a
    restart comes back empty -- as a real Redis without persistence does."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def start(self) -> None:
        """Start on ``self.port`` (the same port every time) and wait until it answers PING."""
        assert self.process is None, "redis-server is running already"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        while not redis_answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port}:\n{self.log_text()[-3000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM, then wait for the process to exit (SIGKILL if it will not)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(REDIS_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(REDIS_STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[RedisServer]:
    """A ``RedisServer`` of the caller's own, in ``directory``, stopped when the block ends."""
    server = RedisServer(redis_binary(), directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Cluster:
    """Server processes sharing one Redis layer and one database."""

    servers: list[AsgiServer]
    env: dict[str, str]

    def hub_url(self, index: int) -> str:
        return self.servers[index].base_url + HUB_PATH

    def pid(self, index: int) -> int:
        process = self.servers[index].process
        assert process is not None
        return process.pid

    def dead(self) -> list[str]:
        """A description of each server process that is no longer running."""
        dead = []
        for index, server in enumerate(self.servers):
            process = server.process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                dead.append(f"server {index} ({server.kind}) exited with {code}")
        return dead

    def log_offsets(self) -> list[int]:
        return [len(server.log_text()) for server in self.servers]

    def logs_since(self, offsets: Sequence[int]) -> list[str]:
        return [server.log_text()[offset:] for server, offset in zip(self.servers, offsets, strict=True)]

    def report(self, tail: int = 4000) -> str:
        """Each server's log records and exception lines (no frames, no access log), the last
        ``tail`` characters."""
        return "\n".join(
            f"--- server {i} ({server.kind}, port {server.port}) ---\n{condensed(server.log_text(), tail)}"
            for i, server in enumerate(self.servers)
        )

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_cluster(
    settings: str,
    kinds: Sequence[ServerKind],
    redis: RedisServer,
    db_dir: Path,
    log_dir: Path,
) -> Cluster:
    """``kinds`` server processes of ``settings`` on ``redis`` and the database in ``db_dir``,
    started in parallel; each writes its own log file in ``log_dir``."""
    env = environment(
        settings,
        REDIS_URL=redis.url,
        SIGNALR_TEST_LAYER_PREFIX=f"signalr-fault-{uuid.uuid4().hex[:8]}",
        SIGNALR_E2E_DB_DIR=str(db_dir),
    )
    servers = [AsgiServer(APPLICATION, env, log_dir / f"server-{i}-{kind}.log", kind) for i, kind in enumerate(kinds)]
    cluster = Cluster(servers, env)
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            for future in [pool.submit(server.start) for server in servers]:
                future.result()
    except BaseException:
        cluster.stop()
        raise
    return cluster


NGINX_CONFIG = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    log_format upstreams '$http_x_test_client $request_method $upstream_addr $status';
    access_log {dir}/access.log upstreams;

    upstream django_signalr {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' close;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 4m;
        location / {{
            proxy_pass http://django_signalr;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    """nginx balancing round robin, with no affinity, across a cluster (the README's setup)."""

    binary: str
    directory: Path
    upstreams: list[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HUB_PATH}"

    def start(self) -> None:
        os.chmod(self.directory, 0o777)  # nginx workers run as nobody
        self.port = free_port()
        servers = "\n".join(f"        server {address};" for address in self.upstreams)
        config = self.directory / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(dir=self.directory, port=self.port, servers=servers))
        self.process = subprocess.Popen(
            [self.binary, "-c", str(config), "-p", str(self.directory)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + NGINX_START_TIMEOUT
        while not port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not start:\n{self.error_log()}")
            time.sleep(0.05)

    def error_log(self) -> str:
        try:
            return (self.directory / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process is not None and process.stderr is not None:
            process.stderr.close()


# -- server logs ------------------------------------------------------------------------------

# settings.LOGGING starts each record with its time: "2026-11-22 10:00:00,123 LEVEL logger: ..."
RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")
TRACEBACK = "Traceback (most recent call last):"


def records(log: str) -> list[str]:
    """The log records (first lines) of a server log: no traceback frames, no access log."""
    return [line for line in log.splitlines() if RECORD.match(line)]


def tracebacks(log: str) -> int:
    """How many exceptions were logged with a traceback (chained ones count once)."""
    lines = log.splitlines()
    return sum(
        1
        for index, line in enumerate(lines)
        if line == TRACEBACK and not (index >= 2 and lines[index - 2].startswith("During handling of the above"))
    )


def condensed(log: str, limit: int = 3000) -> str:
    """Records and exception lines, without frames or access-log lines: for reading."""
    kept = [line for line in log.splitlines() if RECORD.match(line) or re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return "\n".join(kept)[-limit:]


# -- clients ---------------------------------------------------------------------------------


async def bounded_gather(awaitables: Iterable[Awaitable[T]], limit: int = 50) -> list[T]:
    """Await the (not yet started) coroutines with at most ``limit`` running at a time;
    results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    return list(await asyncio.gather(*(one(awaitable) for awaitable in awaitables)))


@dataclass
class Client:
    """One official-client connection and what the test knows about it."""

    connection: JsConnection
    server: int  # index in the cluster of the process that holds it (or -1 when unknown)
    user: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.connection.name


async def received_until(client: Client, fence: str, timeout: float) -> tuple[list[Any], bool]:
    """Every ``Receive`` first argument the client gets until ``fence`` (excluded), and
    whether the fence came before ``timeout`` ran out."""
    deadline = time.monotonic() + timeout
    got: list[Any] = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            args = await client.connection.next("Receive", timeout=remaining)
        except JsError:  # the driver's own timeout
            break
        if args == [fence]:
            return got, True
        got.append(args[0] if len(args) == 1 else args)
    return got, False


async def check_deliveries(
    clients: Sequence[Client],
    expected: Callable[[Client], list[str]],
    fence: str,
    send_fence: Callable[[], Awaitable[object]],
    timeout: float,
) -> list[str]:
    """Send the fence (to everyone) after the messages under test were sent, then compare what
    each client got before the fence with ``expected(client)`` (order aside). The problems,
    one line per client (empty when every client got exactly what it should)."""
    await send_fence()
    outcomes = await asyncio.gather(*(received_until(client, fence, timeout) for client in clients))
    problems = []
    for client, (got, fenced) in zip(clients, outcomes, strict=True):
        want = expected(client)
        if sorted(map(str, got)) != sorted(want) or not fenced:
            problems.append(
                f"{client.name} (server {client.server}, user {client.user}, groups {list(client.groups)}): "
                f"expected {sorted(want)}, got {got}{'' if fenced else ', and no fence'}"
            )
    return problems


def summarize(problems: Sequence[str], limit: int = 15) -> str:
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} client(s) wrong:\n" + "\n".join(problems[:limit]) + more


async def wait_connected(clients: Sequence[Client], timeout: float) -> list[str]:
    """Poll until every client says Connected; the ones that do not by ``timeout``."""
    deadline = time.monotonic() + timeout
    pending = list(clients)
    while pending:
        states = await asyncio.gather(*(client.connection.state() for client in pending))
        pending = [client for client, state in zip(pending, states, strict=True) if state != "Connected"]
        if not pending or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    states = await asyncio.gather(*(client.connection.state() for client in pending))
    return [f"{client.name}: {state}" for client, state in zip(pending, states, strict=True)]


async def connect_client(
    js: JsDriver, name: str, url: str, *, server: int, user: str | None = None, token: str | None = None
) -> Client:
    """An official WebSocket/JSON client with ``withAutomaticReconnect()`` (default delays)."""
    options: dict[str, Any] = {
        "automaticReconnect": True,
        "transport": "WebSockets",
        "headers": {"X-Test-Client": name},
    }
    if token is not None:
        options["accessToken"] = token
    connection = await js.connect(name, url, timeout=20.0, **options)
    return Client(connection, server, user)

"""No sticky sessions: three processes (daphne, daphne, uvicorn) on one Redis layer behind
nginx balancing round robin with no affinity, and the official client on every transport and
protocol. nginx logs which process served each request of each client (the client names itself
in a header), and the test checks that one connection's requests really hit several processes.

The nginx configuration is the one the README recommends, with paths for a test.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..servers import free_port, port_open
from ..tools.system_deps import NGINX, installed, running_in_ci
from .jsclient import JsConnection, JsDriver
from .pairs import PAIRS

pytestmark = pytest.mark.asyncio(loop_scope="module")


CONFIG = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
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


@pytest.fixture(scope="module")
def nginx(cluster: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """nginx in front of the cluster: its hub URL and its access log."""
    if not installed("nginx"):
        if running_in_ci():
            pytest.fail(f"{NGINX} is missing: run tests/tools/system_deps.py")
        pytest.skip(f"{NGINX} is missing: run `python tests/tools/system_deps.py` as root to install nginx")
    directory = tmp_path_factory.mktemp("nginx")
    os.chmod(directory, 0o777)  # nginx workers run as nobody
    port = free_port()
    upstreams = [url.split("/")[2] for url in cluster]
    servers = "\n".join(f"        server {address};" for address in upstreams)
    config = directory / "nginx.conf"
    config.write_text(CONFIG.format(dir=directory, port=port, servers=servers))
    process = subprocess.Popen(
        [NGINX, "-c", str(config), "-p", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"nginx did not start: {stderr}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/hubs/scale", directory / "access.log"
    finally:
        process.terminate()
        process.wait(10)


def upstreams_by_client(log: Path) -> dict[str, list[str]]:
    served: dict[str, list[str]] = collections.defaultdict(list)
    for line in log.read_text().splitlines():
        client, _method, upstream, _status = line.split(" ")
        served[client].append(upstream)
    return served


async def logged(log: Path, client: str, at_least: int, timeout: float = 5) -> list[str]:
    """The upstreams that served ``client`` (nginx logs a WebSocket when its proxy closes)."""
    deadline = time.monotonic() + timeout
    while True:
        served = upstreams_by_client(log)[client]
        if len(served) >= at_least or time.monotonic() > deadline:
            return served
        await asyncio.sleep(0.05)


async def connect(js: JsDriver, url: str, name: str, transport: str, protocol: str) -> JsConnection:
    return await js.connect(name, url, transport=transport, protocol=protocol, headers={"X-Test-Client": name})


@pytest.mark.parametrize(("transport", "protocol"), PAIRS)
async def test_a_connection_works_while_its_requests_hit_several_processes(
    js: JsDriver, nginx: tuple[str, Path], transport: str, protocol: str
) -> None:
    url, log = nginx
    name = f"{transport}-{protocol}"
    client = await connect(js, url, name, transport, protocol)
    other = await connect(js, url, f"{name}-other", "WebSockets", "json")
    group = f"g-{name}"
    for _ in range(4):  # several requests of each kind, for every transport
        assert await client.invoke("Echo", "round trip") == "round trip"
    await client.invoke("SendToCaller", "to caller")
    assert await client.next() == ["to caller"]
    await client.invoke("Join", group)
    await other.invoke("SendToGroup", group, "to group")
    assert await client.next() == ["to group"]
    await client.send("SendToAll", "pushed")
    assert await client.next() == ["pushed"]
    assert await other.next() == ["pushed"]
    await client.stop()
    await other.stop()

    served = await logged(log, name, at_least=2)
    if transport == "WebSockets":
        # negotiate and the upgrade: round robin sends them to different processes
        assert len(set(served)) == 2, served
    else:
        assert len(set(served)) == 3, served  # polls, sends: every process took some


# -- stateful reconnect across processes --------------------------------------------------------

COUNT = 1000
PADDING = "x" * 150  # both directions outgrow the 100,000-byte stateful buffers: senders wait for Acks
DROPS = 4


async def _until(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while (value := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)
    return value


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_stateful_reconnect_lands_on_other_processes_and_loses_nothing(
    js: JsDriver, nginx: tuple[str, Path], protocol: str
) -> None:
    """A ``withStatefulReconnect()`` client whose socket is cut reconnects through round-robin
    nginx, so its new sockets land on other processes than the one owning the connection; they
    relay to the owner. While 1,000 numbered messages flow each way, every one arrives exactly
    once and in order, on the same connection id, with no reconnect events."""
    url, log = nginx
    name = f"stateful-relay-{protocol}"
    connection = await js.connect(
        name,
        url.replace("/hubs/scale", "/hubs/numbered"),
        transport="WebSockets",
        protocol=protocol,
        statefulReconnect=True,
        listen=["Numbered"],
        headers={"X-Test-Client": name},
    )
    connection_id = await connection.connection_id()
    push = asyncio.ensure_future(connection.invoke("PushNumbered", COUNT, PADDING, timeout=90))
    sends = asyncio.ensure_future(connection.send_many("Record", 0, COUNT, PADDING, timeout=90))
    try:
        await asyncio.sleep(0.2)
        assert not push.done(), "the messages were all through before the first drop"
        for _ in range(DROPS):
            await _until(connection.socket_open, True)
            await connection.terminate()
            await asyncio.sleep(0.4)
        assert await push == COUNT
        await sends
    finally:
        for task in (push, sends):
            if not task.done():
                task.cancel()

    received = [arguments[0] for arguments in await connection.drain("Numbered")]
    assert received == list(range(COUNT)), "server to client: lost, repeated or reordered"
    recorded = await _until(lambda: _recorded(connection), COUNT)
    assert recorded == COUNT
    assert await connection.invoke("Recorded") == list(range(COUNT)), "client to server: lost, repeated or reordered"
    assert await connection.connection_id() == connection_id
    assert await connection.events() == [], "onreconnecting/onreconnected/onclose fired"
    await connection.stop()

    upgrades = [upstream for upstream in await logged(log, name, at_least=DROPS + 2) if upstream]
    # negotiate, then the first socket and one per drop: round robin spreads them over all three
    assert len(upgrades) >= DROPS + 2, upgrades
    assert len(set(upgrades)) == 3, upgrades


async def _recorded(connection: JsConnection) -> int:
    return len(await connection.invoke("Recorded"))

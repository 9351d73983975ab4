"""Three server processes (daphne and uvicorn) on one Redis channel layer, the official client.

Checks DESIGN decision 2 by counting, in every process: a send to all, a group or a user is
one layer message per process that has receivers, and the message is serialized once per
protocol, by the sender's process only. Also: groups changed and connections reached across
processes, and a connection negotiated on one process and opened on another. And, on a
Redis of its own watched with MONITOR, how many Redis commands one send to all costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import websockets

from ..servers import run_checked
from .faults.support import Cluster, RedisServer, private_redis, start_cluster
from .jsclient import JsConnection, JsDriver
from .server import Users

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECORD = b"\x1e"


_count = iter(range(10**9))


async def connect(js: JsDriver, url: str, **options: Any) -> JsConnection:
    return await js.connect(f"scale-{next(_count)}", url, **options)


async def reset(probes: list[JsConnection]) -> None:
    pids = {await probe.invoke("ResetStats") for probe in probes}
    assert len(pids) == len(probes), "each probe must be on its own process"


async def stats(probe: JsConnection) -> Counter[str]:
    return Counter(await probe.invoke("Stats"))


async def nothing_else_arrived(sender: JsConnection, connections: list[JsConnection]) -> None:
    """A later send to all must be the next message everywhere: no copy or stray came first."""
    fence = f"fence-{next(_count)}"
    await sender.invoke("SendToAll", fence)
    for connection in connections:
        assert await connection.next() == [fence]


async def test_send_to_all_is_one_layer_message_per_process_and_one_serialization_per_protocol(
    js: JsDriver, cluster: list[str]
) -> None:
    probes = [await connect(js, url) for url in cluster]
    others = [await connect(js, url) for url in cluster]
    packed = await connect(js, cluster[1], protocol="messagepack")
    await reset(probes)

    await probes[0].invoke("SendToAll", "to all")

    receivers = [*probes, *others, packed]
    for connection in receivers:
        assert await connection.next() == ["to all"]
    counts = [await stats(probe) for probe in probes]
    assert counts[0]["group_send signalr.send"] == 1
    assert counts[0]["serialize json"] == 1
    assert counts[0]["serialize messagepack"] == 1
    for receiving in counts[1:]:
        assert receiving["group_send signalr.send"] == 0
        assert receiving["serialize json"] == receiving["serialize messagepack"] == 0
    # Every process, the sender's included, gets the one message once (the sender skips it).
    assert [c["receive signalr.send"] for c in counts] == [1, 1, 1]
    await nothing_else_arrived(probes[0], receivers)


async def test_group_send_reaches_only_processes_with_members(js: JsDriver, cluster: list[str]) -> None:
    probes = [await connect(js, url) for url in cluster]
    members = [await connect(js, cluster[0]), await connect(js, cluster[1]), await connect(js, cluster[1])]
    group = f"group-{next(_count)}"
    for member in members:
        await member.invoke("Join", group)
    await reset(probes)

    await probes[2].invoke("SendToGroup", group, "to group")

    for member in members:
        assert await member.next() == ["to group"]
    counts = [await stats(probe) for probe in probes]
    assert counts[2]["group_send signalr.send"] == 1
    assert [c["receive signalr.send"] for c in counts] == [1, 1, 0]
    assert sum(c["serialize json"] for c in counts) == 1
    await nothing_else_arrived(probes[0], [*probes, *members])


async def test_user_send_reaches_every_connection_of_the_user_once(
    js: JsDriver, cluster: list[str], users: Users
) -> None:
    probes = [await connect(js, url) for url in cluster]
    alice = [await connect(js, url, accessToken=users["alice"].token) for url in cluster[1:]]
    await reset(probes)

    await probes[0].invoke("SendToUser", users["alice"].pk, "for alice")

    for connection in alice:
        assert await connection.next() == ["for alice"]
    counts = [await stats(probe) for probe in probes]
    assert counts[0]["group_send signalr.send"] == 1
    assert [c["receive signalr.send"] for c in counts] == [0, 1, 1]
    await nothing_else_arrived(probes[0], [*probes, *alice])


async def test_groups_and_clients_across_processes(js: JsDriver, cluster: list[str]) -> None:
    near, far, sender = [await connect(js, url) for url in cluster]
    far_id = await far.connection_id()
    group = f"remote-{next(_count)}"

    await near.invoke("AddToGroup", far_id, group)  # far lives on another process
    await sender.invoke("SendToGroup", group, "joined from afar")
    assert await far.next() == ["joined from afar"]

    await near.invoke("SendToClient", far_id, "direct")
    assert await far.next() == ["direct"]
    await nothing_else_arrived(sender, [near, far, sender])


def negotiate(url: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/negotiate?negotiateVersion=1", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_negotiate_on_one_process_and_open_the_socket_on_another(cluster: list[str]) -> None:
    negotiated = negotiate(cluster[0])
    socket_url = cluster[1].replace("http://", "ws://") + f"?id={negotiated['connectionToken']}"
    async with websockets.connect(socket_url, open_timeout=5, close_timeout=2) as socket:
        await socket.send('{"protocol":"json","version":1}\x1e')
        assert await socket.recv(decode=False) == b"{}" + RECORD
        await socket.send('{"type":1,"invocationId":"1","target":"ConnectionId","arguments":[]}\x1e')
        completion = orjson.loads((await socket.recv(decode=False)).rstrip(RECORD))
        assert completion == {"type": 3, "invocationId": "1", "result": negotiated["connectionId"]}
    with pytest.raises(websockets.InvalidStatus):  # a token opens one connection only
        async with websockets.connect(socket_url, open_timeout=5):
            pass


SEND_FROM_OUTSIDE = """
import django
django.setup()
from asgiref.sync import async_to_sync
from django_signalr import get_hub_context
from tests.e2e.scaleout.hubs import ScaleHub
async_to_sync(get_hub_context(ScaleHub).clients.all.send)("Receive", "from a script")
"""


async def test_hub_context_from_a_process_that_serves_nothing(
    js: JsDriver, cluster: list[str], cluster_env: dict[str, str]
) -> None:
    receivers = [await connect(js, url) for url in cluster]
    await asyncio.to_thread(run_checked, [sys.executable, "-c", SEND_FROM_OUTSIDE], cluster_env, 60)
    for connection in receivers:
        assert await connection.next() == ["from a script"]


async def test_uvicorn_refuses_websockets_with_aspnet_status(cluster: list[str]) -> None:
    """uvicorn lets an application answer a WebSocket request with HTTP (ASGI's
    websocket.http.response); daphne does not, so there a refusal is a 403."""
    token = negotiate(cluster[2])["connectionToken"]
    url = cluster[2].replace("http://", "ws://") + f"?id={token}"  # the uvicorn process
    async with websockets.connect(url, open_timeout=5):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, open_timeout=5):
                pass
    assert refused.value.response.status_code == 409  # a second socket for one connection


# -- Redis commands per broadcast ---------------------------------------------------------------
#
# On a redis-server of the test's own (the shared one carries other clients' traffic), with a
# cluster of three processes on it: MONITOR shows every command Redis executes and which client
# sent it. A window is cut by two ECHO markers sent on a control connection (left out), so it
# holds exactly what Redis executed between them, in Redis's own order.

REDIS_COMMANDS_PER_PROCESS = 2  # per send to all, summed over everything a process sends Redis
BURST = 30  # sends to all made at once by one hub method


def core_layer_commands(processes: int) -> int:
    """What channels_redis's core layer costs per message whatever the connection count
    (channels_redis/core.py): ``group_send`` is ZREMRANGEBYSCORE + ZRANGE + MULTI, one
    ZREMRANGEBYSCORE per member channel, EXEC + one EVAL (5 + processes, on the sender); each
    process's ``receive`` is the cleanup EVAL + BZPOPMIN + ZADD to the backup queue + ZPOPMIN
    (4). The pub/sub layer costs one PUBLISH."""
    return 5 + processes + 4 * processes


BROADCAST_CONNECTIONS = 30  # 10 per process: one Redis command per connection would be 30
MONITOR_READ_TIMEOUT = 10.0  # idle nodes poll Redis every 5 s (their BZPOPMIN), so reads never wait long
MARKER_TIMEOUT = 5.0
QUIET_FOR = 0.3  # a window ends once no command came for this long (the receivers' follow-ups)
QUIET_TIMEOUT = 3.0
DELIVERY_TIMEOUT = 5.0


@dataclass(frozen=True)
class Seen:
    """One command Redis executed: who sent it (``lua`` for a command a script ran) and its name."""

    client: str
    name: str


@dataclass
class Window:
    """The commands of other clients between two markers, per client address."""

    commands: list[Seen] = field(default_factory=list)
    seconds: float = 0.0

    def by_client(self) -> dict[str, Counter[str]]:
        clients: dict[str, Counter[str]] = {}
        for seen in self.commands:
            clients.setdefault(seen.client, Counter())[seen.name] += 1
        return clients


class RedisMonitor:
    """MONITOR on a Redis server, read by a thread until ``close()``."""

    def __init__(self, url: str) -> None:
        self._watcher = redis.Redis.from_url(url, socket_timeout=MONITOR_READ_TIMEOUT)
        self._control = redis.Redis.from_url(url, socket_timeout=MONITOR_READ_TIMEOUT)
        self.control_address = str(self._control.client_info()["addr"])
        self._seen: list[Seen | str] = []  # a marker is its text
        self._markers = iter(range(10**9))
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="redis-monitor", daemon=True)
        self._thread.start()
        if not self._ready.wait(MARKER_TIMEOUT):
            raise RuntimeError("MONITOR did not start")

    def _read(self) -> None:
        try:
            with self._watcher.monitor() as monitor:
                self._ready.set()
                while True:
                    entry = monitor.next_command()
                    name, _, rest = entry["command"].partition(" ")
                    address = (
                        "lua" if entry["client_type"] == "lua" else f"{entry['client_address']}:{entry['client_port']}"
                    )
                    if address != self.control_address:
                        self._seen.append(Seen(address, name.upper()))
                    elif name.upper() == "ECHO":
                        self._seen.append(rest)
                        if rest == "monitor-stop":
                            return
        except BaseException as error:  # reported by the test, not lost in the thread
            self._failure = error
            self._ready.set()

    async def _mark(self, marker: str) -> int:
        """Send ``marker``; once the thread read it, its position in ``_seen``."""
        await asyncio.to_thread(self._control.echo, marker)
        deadline = time.monotonic() + MARKER_TIMEOUT
        while marker not in self._seen:
            if self._failure is not None:
                raise RuntimeError("MONITOR failed") from self._failure
            if time.monotonic() > deadline:
                raise TimeoutError(f"MONITOR did not show the marker {marker!r}")
            await asyncio.sleep(0.01)
        return self._seen.index(marker)

    async def until_quiet(self) -> None:
        """Until no other client sent anything for ``QUIET_FOR`` s (at most ``QUIET_TIMEOUT``)."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        count, since = len(self._seen), time.monotonic()
        while time.monotonic() - since < QUIET_FOR and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if len(self._seen) != count:
                count, since = len(self._seen), time.monotonic()

    @contextlib.asynccontextmanager
    async def window(self) -> AsyncIterator[Window]:
        """The other clients' commands from entering to leaving (filled in on leaving)."""
        window = Window()
        number = next(self._markers)
        begin = await self._mark(f"window-{number}-begin")
        started = time.monotonic()
        yield window
        end = await self._mark(f"window-{number}-end")
        window.seconds = time.monotonic() - started
        window.commands = [seen for seen in self._seen[begin + 1 : end] if isinstance(seen, Seen)]

    def close(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self._control.echo("monitor-stop")
        self._thread.join(MONITOR_READ_TIMEOUT + 1)
        self._control.close()
        self._watcher.close()


def redis_clients_of(pids: list[int], redis_port: int) -> dict[str, int]:
    """Which process (its index in ``pids``) owns each TCP connection to Redis, by the
    address Redis sees ("127.0.0.1:port"): the processes' socket inodes in /proc matched with
    the kernel's TCP table. Empty where there is no /proc."""
    owners: dict[int, int] = {}
    for index, pid in enumerate(pids):
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        owners[int(target[8:-1])] = index
    clients: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                inode = int(fields[9])
                if remote_port == redis_port and inode in owners:
                    clients[f"127.0.0.1:{local_port}"] = owners[inode]
    return clients


@pytest.fixture
def quiet_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test only (the fault tests' helper): nobody else's commands."""
    with private_redis(tmp_path_factory.mktemp("scaleout-redis")) as server:
        yield server


@pytest.fixture(params=["pubsub", "core"])
def quiet_cluster(
    request: pytest.FixtureRequest,
    quiet_redis: RedisServer,
    e2e_db_dir: Path,
    users: Users,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """Three processes (daphne, daphne, uvicorn) of the scale-out settings on ``quiet_redis``,
    on channels_redis's pub/sub layer or its core layer (``request.param``)."""
    started = start_cluster(
        "tests.e2e.scaleout.settings_pubsub" if request.param == "pubsub" else "tests.e2e.scaleout.settings",
        ("daphne", "daphne", "uvicorn"),
        quiet_redis,
        e2e_db_dir,
        tmp_path_factory.mktemp("scaleout-quiet-logs"),
    )
    try:
        yield started
    finally:
        started.stop()


def per_process(window: Window, owners: dict[str, int], processes: int) -> list[Counter[str]]:
    """The window's commands per process; the last entry holds those no process owns."""
    counts = [Counter[str]() for _ in range(processes + 1)]
    for client, commands in window.by_client().items():
        if client != "lua":
            counts[owners.get(client, processes)] += commands
    return counts


def breakdown(title: str, window: Window, owners: dict[str, int], kinds: list[str]) -> str:
    counts = per_process(window, owners, len(kinds))
    lines = [f"{title} ({window.seconds:.2f} s): {sum(sum(c.values()) for c in counts)} commands"]
    for index, commands in enumerate(counts):
        if commands:
            who = f"process {index} ({kinds[index]})" if index < len(kinds) else "no known process"
            lines.append(f"  {who}: {sum(commands.values())} {dict(sorted(commands.items()))}")
    scripted = window.by_client().get("lua", Counter())
    if scripted:
        lines.append(f"  run inside scripts (not counted): {dict(sorted(scripted.items()))}")
    return "\n".join(lines)


async def test_send_to_all_costs_a_few_redis_commands_per_process_whatever_the_connections(
    js: JsDriver, quiet_cluster: Cluster, quiet_redis: RedisServer, request: pytest.FixtureRequest
) -> None:
    """One ``clients.all.send`` to 30 connections on three processes, counted on the Redis
    server with MONITOR: on the pub/sub layer (the README's choice for fan-out) at most
    ``REDIS_COMMANDS_PER_PROCESS`` per process; on the core layer exactly channels_redis's
    fixed cost per layer message (``core_layer_commands``). Either way one serialization per
    protocol and one layer message per process, never one command per connection. Then
    ``BURST`` sends made at once: they share layer messages (``Node.group_send`` batches what
    is queued while a send is on its way), so on either layer each costs at most
    ``REDIS_COMMANDS_PER_PROCESS`` per process."""
    urls = [server.base_url + "/hubs/scale" for server in quiet_cluster.servers]
    kinds = [server.kind for server in quiet_cluster.servers]
    probes = [await connect(js, url) for url in urls]
    others = await asyncio.gather(
        *(
            connect(js, urls[i % len(urls)], protocol="messagepack" if i % 4 == 0 else "json")
            for i in range(BROADCAST_CONNECTIONS - len(probes))
        )
    )
    receivers = [*probes, *others]
    monitor = RedisMonitor(quiet_redis.url)
    try:
        # Warm up: every process has its Redis connections open, and every node has just
        # started a new BZPOPMIN, so none of them times out (5 s) during the windows below.
        await probes[0].invoke("SendToAll", "warm-up")
        for connection in receivers:
            assert await connection.next(timeout=DELIVERY_TIMEOUT) == ["warm-up"]
        await reset(probes)
        await monitor.until_quiet()

        async with monitor.window() as sent:
            await probes[0].invoke("SendToAll", "measured")
            for connection in receivers:
                assert await connection.next(timeout=DELIVERY_TIMEOUT) == ["measured"]
            await monitor.until_quiet()  # the receivers' own commands after they delivered
        async with monitor.window() as idle:  # as long, with nothing sent: what idling costs
            await asyncio.sleep(sent.seconds)
        async with monitor.window() as burst:
            await probes[0].invoke("SendToAllAtOnce", BURST)
            for connection in receivers:
                for n in range(BURST):
                    assert await connection.next(timeout=DELIVERY_TIMEOUT) == [f"burst {n}"]
            await monitor.until_quiet()
        async with monitor.window() as burst_idle:
            await asyncio.sleep(burst.seconds)
        owners = redis_clients_of([quiet_cluster.pid(i) for i in range(len(kinds))], quiet_redis.port)
    finally:
        monitor.close()

    print()
    print(f"one clients.all.send to {len(receivers)} connections on {len(kinds)} processes, Redis commands:")
    print(breakdown("send to all", sent, owners, kinds))
    print(breakdown("idle", idle, owners, kinds))
    measured = [
        s - i for s, i in zip(per_process(sent, owners, len(kinds)), per_process(idle, owners, len(kinds)), strict=True)
    ]
    total = sum(sum(commands.values()) for commands in measured)
    print(f"send to all minus idle: {total} commands; bound {REDIS_COMMANDS_PER_PROCESS * len(kinds)}")

    burst_measured = [
        s - i
        for s, i in zip(
            per_process(burst, owners, len(kinds)), per_process(burst_idle, owners, len(kinds)), strict=True
        )
    ]
    burst_total = sum(sum(commands.values()) for commands in burst_measured)
    print(breakdown(f"{BURST} sends to all at once", burst, owners, kinds))
    print(f"per send: {burst_total / BURST:.2f} commands; bound {REDIS_COMMANDS_PER_PROCESS * len(kinds)}")

    counts = [await stats(probe) for probe in probes]
    # The single send alone, then the burst queued as batches (one, unless the loop turned
    # while the hub method was still making its sends).
    layer_messages = counts[0]["group_send signalr.send"] + counts[0]["group_send signalr.batch"]
    assert counts[0]["group_send signalr.batch"] >= 1
    assert 2 <= layer_messages <= 3, counts[0]
    assert counts[0]["serialize json"] == counts[0]["serialize messagepack"] == 1 + BURST
    for receiving in counts[1:]:
        assert receiving["group_send signalr.send"] == receiving["group_send signalr.batch"] == 0
        assert receiving["serialize json"] == receiving["serialize messagepack"] == 0
    assert [c["receive signalr.send"] + c["receive signalr.batch"] for c in counts] == [layer_messages] * 3
    await nothing_else_arrived(probes[0], receivers)
    burst_bound = REDIS_COMMANDS_PER_PROCESS * len(kinds) * BURST
    assert burst_total <= burst_bound, f"{burst_total} Redis commands for {BURST} sends to all: {burst_measured}"
    assert all(sum(c.values()) <= burst_bound / len(kinds) for c in burst_measured), burst_measured

    if request.node.callspec.params["quiet_cluster"] == "core":
        assert total == core_layer_commands(len(kinds)), f"{total} Redis commands on the core layer: {measured}"
        return
    over = {
        index: dict(commands)
        for index, commands in enumerate(measured)
        if sum(commands.values()) > REDIS_COMMANDS_PER_PROCESS
    }
    problem = f"{total} Redis commands for one send to all (at most {REDIS_COMMANDS_PER_PROCESS} per process)"
    assert total <= REDIS_COMMANDS_PER_PROCESS * len(kinds), f"{problem}; over the bound: {over}"
    assert not over, f"{problem}; over the bound: {over}"

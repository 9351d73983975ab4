"""Redis restarts under 200 connected official clients (the issue's first fault).

Three server processes (daphne, daphne, uvicorn) share a channels_redis layer on a Redis server
this module starts on its own port, without persistence: a restart comes back empty, as a real
cache-only Redis does, so every layer group membership is gone. 200 clients with
``withAutomaticReconnect()`` are spread over the processes; some are in a hub group, some are
alice. Redis is stopped (SIGTERM, waited for), kept down for 5 s, and started again on the same
port. Proven afterwards:

- no server process died, and every client is Connected (still, or after reconnecting);
- while Redis is down, a hub method that needs no layer still works on every process, and one
  that needs it fails with an error instead of hanging;
- the cluster recovers by itself within ``RECOVERY_BOUND`` seconds of Redis's return (a send to
  all reaches one client on every process), and then a send to all, to a group and to a user
  issued after Redis returned reaches exactly the intended clients on every process -- the
  nodes must re-join their layer groups, since Redis lost them;
- each process's log says what happened: ``The channel layer failed (...)`` once at ERROR when
  Redis went away, ``The channel layer answers again ...; re-joining N layer groups`` once at
  WARNING when it came back, and no traceback spam.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Callable, Iterator

import pytest

from ..jsclient import JsDriver, JsError
from .conftest import Site
from .support import (
    Client,
    Cluster,
    RedisServer,
    bounded_gather,
    check_deliveries,
    condensed,
    connect_client,
    records,
    start_cluster,
    summarize,
    tracebacks,
    wait_connected,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENTS = 200
GROUP = "restart-group"
DOWNTIME = 5.0
# The node retries a failed receive after at most 5 s (node._RETRY_DELAYS), then re-joins its
# groups; twice that is a generous bound for "the cluster works again by itself".
RECOVERY_BOUND = 10.0
CONNECTED_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 10.0
OUTAGE_CALL_TIMEOUT = 10.0
# A 5 s outage must read as a few clear records, not as a flood (per process, from the moment
# Redis stops to the end of the test): the ERROR, the WARNING, the failure of the one hub call
# the test makes fail on purpose, perhaps a few others.
MAX_LOG_RECORDS = 10
# The hub call made during the outage fails and is logged with its traceback, as any failing
# hub method is; nothing else may add one.
MAX_TRACEBACKS = 1

# Server log lines (settings.LOGGING: "<time> <LEVEL> <logger>: <message>").
FAILED = re.compile(r" ERROR django_signalr\.lifetime: The channel layer failed \((.+)\)")
# What the ERROR line must say about the cause: the Redis connection was closed or refused.
CAUSE = re.compile(r"(?i)connection (closed|refused|reset|lost)|connecting to|closed by server")
RECOVERED = re.compile(
    r" WARNING django_signalr\.lifetime: The channel layer answers again after ([\d.]+) s; "
    r"re-joining (\d+) layer groups$",
    re.MULTILINE,
)


_probes = itertools.count()


@pytest.fixture(scope="module")
def cluster(site: Site, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = start_cluster(
        "tests.e2e.faults.settings",
        ("daphne", "daphne", "uvicorn"),
        redis_server,
        site.directory,
        tmp_path_factory.mktemp("restart-logs"),
    )
    try:
        yield started
    finally:
        started.stop()


async def connect_all(js: JsDriver, cluster: Cluster, site: Site) -> list[Client]:
    """200 clients, client ``i`` on process ``i % 3``; every 10th is alice, every 4th is in GROUP."""
    alice = site.users["alice"]

    async def one(index: int) -> Client:
        server = index % len(cluster.servers)
        is_alice = index % 10 == 0
        return await connect_client(
            js,
            f"restart-{index}",
            cluster.hub_url(server),
            server=server,
            user=alice.pk if is_alice else None,
            token=alice.token if is_alice else None,
        )

    clients = await bounded_gather(one(i) for i in range(CLIENTS))
    pids = await bounded_gather(c.connection.invoke("Pid") for c in clients)
    for client, pid in zip(clients, pids, strict=True):
        assert pid == cluster.pid(client.server), f"{client.name} is not on the process it was sent to"
    members = clients[::4]
    await bounded_gather(c.connection.invoke("Join", GROUP) for c in members)
    for client in members:
        client.groups = (GROUP,)
    return clients


def expected_messages(tag: str) -> Callable[[Client], list[str]]:
    def expected(client: Client) -> list[str]:
        want = [f"all-{tag}"]
        if GROUP in client.groups:
            want.append(f"group-{tag}")
        if client.user is not None:
            want.append(f"user-{tag}")
        return want

    return expected


async def send_everything(clients: list[Client], tag: str, alice_pk: str) -> list[str]:
    """To all (from process 1), to GROUP (from process 2), to alice (from process 0), then a
    fence to all; what went wrong, per client."""
    by_server = {client.server: client for client in reversed(clients)}
    errors = []
    sends: list[tuple[int, tuple[str, ...]]] = [
        (1, ("SendToAll", f"all-{tag}")),
        (2, ("SendToGroup", GROUP, f"group-{tag}")),
        (0, ("SendToUser", alice_pk, f"user-{tag}")),
    ]
    for server, args in sends:
        try:
            await by_server[server].connection.invoke(*args)
        except JsError as error:
            errors.append(f"{args[0]} on server {server} failed: {error}")
    fence = f"fence-{tag}"
    return errors + await check_deliveries(
        clients,
        expected_messages(tag),
        fence,
        lambda: by_server[0].connection.invoke("SendToAll", fence),
        DELIVERY_TIMEOUT,
    )


async def wait_for_recovery(clients: list[Client], deadline: float, errors: list[str]) -> float | None:
    """Send numbered probes to all from process 0 until one reaches a client on every other
    process; the seconds that took (from the call), or ``None`` if it never did by ``deadline``.
    A probe the server fails to send is recorded in ``errors``."""
    started = time.monotonic()
    sender = next(c for c in clients if c.server == 0)
    watchers = [next(c for c in clients if c.server == server) for server in (1, 2)]
    while time.monotonic() < deadline:
        probe = f"probe-{next(_probes)}"
        try:
            await sender.connection.invoke("SendToAll", probe)
        except JsError as error:
            errors.append(f"{time.monotonic() - started:.1f} s: SendToAll {probe} on server 0 failed: {error}")
            await asyncio.sleep(0.5)
            continue
        got = await asyncio.gather(*(seen(watcher, probe, 1.0) for watcher in watchers))
        if all(got):
            return time.monotonic() - started
    return None


async def seen(client: Client, message: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            if await client.connection.next("Receive", timeout=remaining) == [message]:
                return True
        except JsError:
            return False
    return False


async def drop_probes(clients: list[Client]) -> None:
    """Forget the probes of ``wait_for_recovery`` (late copies included)."""
    await asyncio.sleep(0.5)
    await bounded_gather(c.connection.drain("Receive") for c in clients)


async def test_a_redis_restart_under_200_clients(
    js: JsDriver, cluster: Cluster, redis_server: RedisServer, site: Site
) -> None:
    clients = await connect_all(js, cluster, site)
    try:
        await restart_and_check(clients, cluster, redis_server, site)
    finally:
        await bounded_gather(c.connection.stop() for c in clients)


async def restart_and_check(clients: list[Client], cluster: Cluster, redis_server: RedisServer, site: Site) -> None:
    alice_pk = site.users["alice"].pk
    # The setup works before the fault: otherwise nothing below would mean anything.
    problems = await send_everything(clients, "before", alice_pk)
    assert not problems, "before the restart: " + summarize(problems)

    offsets = cluster.log_offsets()
    redis_server.stop()
    down_at = time.monotonic()
    failures: list[str] = []

    # -- while Redis is down ---------------------------------------------------------------
    await asyncio.sleep(1.0)
    if dead := cluster.dead():
        failures.append(f"while Redis was down: {dead}")
    per_server = {client.server: client for client in clients}
    for server, client in sorted(per_server.items()):
        try:
            echoed = await client.connection.invoke("Echo", "no layer needed", timeout=OUTAGE_CALL_TIMEOUT)
        except (JsError, TimeoutError) as error:
            failures.append(f"while Redis was down, Echo on server {server} failed: {error}")
        else:
            if echoed != "no layer needed":
                failures.append(f"while Redis was down, Echo on server {server} returned {echoed!r}")
        try:
            await client.connection.invoke("SendToAll", "during the outage", timeout=OUTAGE_CALL_TIMEOUT)
        except JsError:
            pass  # the expected outcome: an error, quickly
        except TimeoutError:
            failures.append(f"while Redis was down, SendToAll on server {server} hung for {OUTAGE_CALL_TIMEOUT} s")
        else:
            # Redis is down: the layer cannot have taken it. Report, do not pretend it was sent.
            failures.append(f"while Redis was down, SendToAll on server {server} claimed success")
    await asyncio.sleep(max(0.0, DOWNTIME - (time.monotonic() - down_at)))

    # -- Redis is back ---------------------------------------------------------------------
    redis_server.start()
    up_at = time.monotonic()
    await bounded_gather(c.connection.drain("Receive") for c in clients)
    if dead := cluster.dead():
        failures.append(f"after Redis returned: {dead}")
    if not_connected := await wait_connected(clients, CONNECTED_TIMEOUT):
        failures.append(f"not Connected {CONNECTED_TIMEOUT} s after Redis returned: {summarize(not_connected)}")
    events = await bounded_gather(c.connection.events() for c in clients)
    reconnected = sum(any(e["event"] == "reconnected" for e in client_events) for client_events in events)
    closed = [c.name for c, e in zip(clients, events, strict=True) if any(x["event"] == "close" for x in e)]
    if closed:
        failures.append(f"clients closed for good instead of staying or reconnecting: {closed}")

    probe_errors: list[str] = []
    recovery = await wait_for_recovery(clients, up_at + RECOVERY_BOUND, probe_errors)
    if probe_errors:
        failures.append("sends to all after Redis returned failed:\n  " + "\n  ".join(probe_errors))
    if recovery is None:
        failures.append(
            f"a send to all from process 0 did not reach processes 1 and 2 within {RECOVERY_BOUND} s "
            "of Redis's return (the nodes did not re-join their layer groups)"
        )
    await drop_probes(clients)
    problems = await send_everything(clients, "after", alice_pk)
    if problems:
        by_server = {s: sum(f"(server {s}," in p for p in problems) for s in range(len(cluster.servers))}
        failures.append(f"sends issued after Redis returned, per server {by_server}: " + summarize(problems))

    # -- the logs ----------------------------------------------------------------------------
    logs = cluster.logs_since(offsets)
    for index, log in enumerate(logs):
        causes = FAILED.findall(log)
        if len(causes) != 1:
            failures.append(f"server {index}: expected one ERROR 'The channel layer failed (...)' line")
        elif not CAUSE.search(causes[0]):
            failures.append(f"server {index}: the ERROR line does not say what failed: ({causes[0]})")
        recoveries = RECOVERED.findall(log)
        if len(recoveries) != 1 or int(recoveries[0][1]) < 1:
            failures.append(f"server {index}: expected one WARNING 'answers again ...; re-joining N layer groups'")
        logged, traced = len(records(log)), tracebacks(log)
        if traced > MAX_TRACEBACKS or logged > MAX_LOG_RECORDS:
            failures.append(f"server {index}: {logged} log records, {traced} tracebacks for one outage")
    summary = (
        f"{reconnected} of {len(clients)} clients reconnected; recovery after "
        f"{'never' if recovery is None else f'{recovery:.1f} s'}; logs since Redis stopped:\n"
        + "\n".join(f"--- server {i} ---\n{condensed(log)}" for i, log in enumerate(logs))
    )
    print(summary)
    assert not failures, "\n".join(failures) + "\n\n" + summary

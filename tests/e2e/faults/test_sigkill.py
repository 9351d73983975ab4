"""SIGKILL one of three server processes behind nginx (the issue's second fault).

Three processes (daphne, daphne, uvicorn) on one Redis layer of this module's own, behind
nginx balancing round robin with no affinity (the README's setup). 30 official clients with
``withAutomaticReconnect()`` (its default delays: 0, 2, 10, 30 s) connect through nginx; two
probes connect straight to the two processes that survive. One daphne gets SIGKILL: no
``on_disconnected``, no registry clean-up, no goodbye on the layer. Proven:

- every client whose WebSocket was on the killed process gets ``onreconnecting`` and then
  ``onreconnected`` with a new connection id, and its Echo works, within 10 s of the kill;
  the clients on the other processes are not disturbed; afterwards a send to all reaches
  every client;
- a cluster-wide query (``Query("all")``/``Query("count")``) asked of a surviving process
  right after the kill returns within a few seconds (``QUERY_TIMEOUT`` for the process that
  will not answer) and lists no connection of the dead process, and once the clients have
  reconnected it lists exactly the live connections;
- the dead process's registry rows (``ServerProcess``, its ``Connection`` rows) disappear
  within 30 s, and the registry then holds exactly the live connections.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from ..jsclient import JsDriver, JsError
from .conftest import Site
from .support import (
    Client,
    Cluster,
    Nginx,
    RedisServer,
    bounded_gather,
    check_deliveries,
    connect_client,
    nginx_binary,
    start_cluster,
    summarize,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

T = TypeVar("T")

CLIENTS = 30
VICTIM = 1  # a daphne; the probes sit on processes 0 (daphne) and 2 (uvicorn)
RECONNECT_BOUND = 10.0
# QUERY_TIMEOUT (2 s) for the process that cannot answer, plus slack for a loaded machine.
QUERY_BOUND = 5.0
REGISTRY_BOUND = 30.0
REGISTRY_SETTLE = 5.0  # the writer flushes every second
DELIVERY_TIMEOUT = 5.0
HUB = "tests.e2e.faults.hubs.FaultHub"


@pytest.fixture(scope="module")
def nginx_path() -> str:
    return nginx_binary()  # before anything starts: skip or fail at once


@pytest.fixture(scope="module")
def cluster(
    nginx_path: str, site: Site, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    started = start_cluster(
        "tests.e2e.faults.settings",
        ("daphne", "daphne", "uvicorn"),
        redis_server,
        site.directory,
        tmp_path_factory.mktemp("sigkill-logs"),
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def nginx(nginx_path: str, cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    balancer = Nginx(nginx_path, tmp_path_factory.mktemp("nginx"), [f"127.0.0.1:{s.port}" for s in cluster.servers])
    balancer.start()
    try:
        yield balancer
    finally:
        balancer.stop()


# -- the registry, read straight from the SQLite file ------------------------------------------


@dataclass(frozen=True)
class Registry:
    database: Path

    def _rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10) as connection:
            return list(connection.execute(sql, params))

    def node_of(self, pid: int) -> str | None:
        rows = self._rows("SELECT node_id FROM django_signalr_serverprocess WHERE pid = ?", pid)
        return str(rows[0][0]) if rows else None

    def process_exists(self, node_id: str) -> bool:
        return bool(self._rows("SELECT 1 FROM django_signalr_serverprocess WHERE node_id = ?", node_id))

    def connections_of(self, node_id: str) -> set[str]:
        rows = self._rows("SELECT connection_id FROM django_signalr_connection WHERE process_id = ?", node_id)
        return {str(row[0]) for row in rows}

    def connections(self) -> set[str]:
        return {
            str(row[0]) for row in self._rows("SELECT connection_id FROM django_signalr_connection WHERE hub = ?", HUB)
        }


async def eventually(check: Callable[[], T], deadline: float, interval: float = 0.25) -> tuple[T, float]:
    """Poll ``check`` until it returns something truthy or ``deadline`` passes; its last value
    and the time it was taken (``time.monotonic()``)."""
    while True:
        value = check()
        now = time.monotonic()
        if value or now >= deadline:
            return value, now
        await asyncio.sleep(interval)


# -- the test ----------------------------------------------------------------------------------


@dataclass
class Reconnect:
    client: Client
    old_id: str
    new_id: str | None = None
    echo_after: float | None = None  # seconds from the kill to a working Echo
    problem: str | None = None


async def reconnect_of(record: Reconnect, deadline: float, killed_at: float) -> None:
    """Wait for the client's onreconnecting, then onreconnected, then a working Echo."""
    connection = record.client.connection
    try:
        first = await connection.event(timeout=max(0.1, deadline - time.monotonic()))
        second = await connection.event(timeout=max(0.1, deadline - time.monotonic()))
    except JsError as error:
        record.problem = f"no reconnect events by the deadline: {error}"
        return
    if first["event"] != "reconnecting" or second["event"] != "reconnected":
        record.problem = f"events {first}, {second}"
        return
    record.new_id = second["connectionId"]
    try:
        echoed = await connection.invoke("Echo", record.client.name, timeout=max(0.1, deadline - time.monotonic()))
    except (JsError, TimeoutError) as error:
        record.problem = f"reconnected as {record.new_id}, but Echo failed: {error}"
        return
    if echoed != record.client.name:
        record.problem = f"Echo returned {echoed!r}"
        return
    record.echo_after = time.monotonic() - killed_at


async def timed_query(probe: Client, question: str) -> tuple[object, float]:
    started = time.monotonic()
    answer = await probe.connection.invoke("Query", question, timeout=QUERY_BOUND + 10)
    return answer, time.monotonic() - started


async def test_sigkill_one_process_behind_nginx(js: JsDriver, cluster: Cluster, nginx: Nginx, site: Site) -> None:
    registry = Registry(site.database)
    probes = [await connect_client(js, f"kill-probe-{i}", cluster.hub_url(i), server=i) for i in (0, 2)]
    clients = await bounded_gather(connect_client(js, f"kill-{n}", nginx.hub_url, server=-1) for n in range(CLIENTS))
    everyone = probes + clients
    try:
        await kill_and_check(cluster, registry, probes, clients, everyone)
    finally:
        await bounded_gather(c.connection.stop() for c in everyone)


async def kill_and_check(
    cluster: Cluster, registry: Registry, probes: list[Client], clients: list[Client], everyone: list[Client]
) -> None:
    server_of_pid = {cluster.pid(index): index for index in range(len(cluster.servers))}
    for client, pid in zip(clients, await bounded_gather(c.connection.invoke("Pid") for c in clients), strict=True):
        client.server = server_of_pid[pid]
    names = [c.name for c in everyone]
    ids = dict(zip(names, await bounded_gather(c.connection.connection_id() for c in everyone), strict=True))
    victims = [c for c in clients if c.server == VICTIM]
    survivors = [c for c in everyone if c.server != VICTIM]
    assert len(victims) >= 3, f"round robin should put about a third of the clients on process {VICTIM}"
    victim_pid = cluster.pid(VICTIM)

    # The registry knows the process and its connections before the kill: their going means something.
    victim_node, _ = await eventually(lambda: registry.node_of(victim_pid), time.monotonic() + REGISTRY_SETTLE)
    assert victim_node is not None, "the victim's ServerProcess row was never written"
    victim_ids = {ids[c.name] for c in victims}
    written, _ = await eventually(
        lambda: victim_ids <= registry.connections_of(victim_node), time.monotonic() + REGISTRY_SETTLE
    )
    assert written, "the victim's Connection rows were never written"

    # -- the kill --------------------------------------------------------------------------
    process = cluster.servers[VICTIM].process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    records = [Reconnect(c, str(ids[c.name])) for c in victims]
    # The queries go out at once, while the clients reconnect.
    query_all = asyncio.ensure_future(timed_query(probes[0], "all"))
    query_count = asyncio.ensure_future(timed_query(probes[1], "count"))
    await asyncio.gather(*(reconnect_of(record, killed_at + RECONNECT_BOUND, killed_at) for record in records))
    everyone_then, all_took = await query_all
    count_then, count_took = await query_count
    assert process.wait(5) == -signal.SIGKILL
    failures: list[str] = []

    # -- queries right after the kill ------------------------------------------------------
    survivor_ids = {str(ids[c.name]) for c in survivors}
    new_ids = {r.new_id for r in records if r.new_id is not None}
    assert isinstance(everyone_then, list)
    if all_took > QUERY_BOUND or count_took > QUERY_BOUND:
        failures.append(f"queries right after the kill took {all_took:.1f} s (all) and {count_took:.1f} s (count)")
    if stale := set(everyone_then) & victim_ids:
        failures.append(f"Query('all') right after the kill listed {len(stale)} connections of the dead process")
    if missing := survivor_ids - set(everyone_then):
        failures.append(f"Query('all') right after the kill missed {len(missing)} live connections")
    if unknown := set(everyone_then) - survivor_ids - new_ids:
        failures.append(f"Query('all') right after the kill listed unknown connections: {sorted(unknown)}")
    if not (isinstance(count_then, int) and len(survivor_ids) <= count_then <= len(survivor_ids) + len(victims)):
        failures.append(f"Query('count') right after the kill: {count_then}, {len(survivor_ids)} connections survived")

    # -- reconnects --------------------------------------------------------------------------
    late = [f"{r.client.name}: {r.problem}" for r in records if r.problem is not None]
    if late:
        failures.append(f"within {RECONNECT_BOUND} s of the kill: " + summarize(late))
    if reused := [r.client.name for r in records if r.new_id == r.old_id]:
        failures.append(f"reconnected with their old connection id: {reused}")
    disturbed = [
        f"{c.name}: {events}"
        for c, events in zip(survivors, await bounded_gather(c.connection.events() for c in survivors), strict=True)
        if events
    ]
    if disturbed:
        failures.append("clients of the surviving processes were disturbed: " + summarize(disturbed))
    echoes = await bounded_gather(c.connection.invoke("Echo", c.name) for c in everyone)
    if wrong := [c.name for c, echoed in zip(everyone, echoes, strict=True) if echoed != c.name]:
        failures.append(f"Echo failed after the kill for {wrong}")
    fence = "to all after the kill"
    problems = await check_deliveries(
        everyone, lambda c: [], fence, lambda: probes[1].connection.invoke("SendToAll", fence), DELIVERY_TIMEOUT
    )
    if problems:
        failures.append("a send to all after the kill: " + summarize(problems))

    # -- queries once the clients are back ---------------------------------------------------
    live = survivor_ids | new_ids
    for probe in probes:
        (listed, took), (counted, _) = await timed_query(probe, "all"), await timed_query(probe, "count")
        if not isinstance(listed, list) or set(listed) != live or counted != len(live):
            failures.append(f"from server {probe.server}: Query('all') {listed}, Query('count') {counted}; live {live}")
        if took > QUERY_BOUND:
            failures.append(f"Query('all') from server {probe.server} took {took:.1f} s")

    # -- the registry ------------------------------------------------------------------------
    gone, gone_at = await eventually(
        lambda: not registry.process_exists(victim_node) and not registry.connections_of(victim_node),
        killed_at + REGISTRY_BOUND,
    )
    if not gone:
        failures.append(
            f"{REGISTRY_BOUND} s after the kill the registry still has the dead process "
            f"({registry.process_exists(victim_node)}) or {len(registry.connections_of(victim_node))} of its connections"
        )
    settled, _ = await eventually(lambda: registry.connections() == live, time.monotonic() + REGISTRY_SETTLE)
    if not settled:
        rows = registry.connections()
        failures.append(
            f"registry rows != live connections: extra {sorted(rows - live)}, missing {sorted(live - rows)}"
        )

    echo_times = sorted(r.echo_after for r in records if r.echo_after is not None)
    summary = (
        f"{len(victims)} of {len(clients)} clients were on the killed process; Echo worked again after "
        f"{', '.join(f'{t:.1f}' for t in echo_times)} s; right after the kill Query('all') took {all_took:.1f} s, "
        f"Query('count') {count_took:.1f} s; the registry forgot the process {gone_at - killed_at:.1f} s after the kill"
    )
    print(summary)
    assert not failures, "\n".join(failures) + "\n\n" + summary + "\n\n" + cluster.report(2000)

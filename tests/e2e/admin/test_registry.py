"""The live connection registry (``models.py``, ``registry.py``) as a daphne process writes it
for the official JS client, read back with the ORM from the e2e database.

The writer flushes once a second, so every "appears" and "goes" below is awaited with a
deadline of ``APPEAR_TIMEOUT``; last activity is written at most every 10 s and is awaited
with a deadline a little above that.
"""

from __future__ import annotations

import datetime
import functools
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from django_signalr import registry as registry_module
from django_signalr.auth import create_access_token
from tests.servers import AsgiServer

from ..jsclient import JsDriver
from ..pairs import PAIRS, connect_pair, unique
from ..server import Users
from .bootstrap import AdminUsers
from .registry import Registry
from .servers import admin_environment, pid, start_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUB = "tests.hubs.EchoHub"  # what hubs/echo serves
APPEAR_TIMEOUT = 3.0
# The writer marks activity at most every ACTIVITY_INTERVAL; one more flush, and some slack.
ACTIVITY_TIMEOUT = registry_module.ACTIVITY_INTERVAL + 3 * registry_module.FLUSH_INTERVAL
CLOCK_SLACK = datetime.timedelta(seconds=1)  # the servers and this process share one clock


@pytest.fixture
def fresh_server(admin_users: AdminUsers, e2e_db_dir: Path, request: pytest.FixtureRequest) -> Iterator[AsgiServer]:
    """A daphne of this test's own: its writer's timing (first activity mark) starts now."""
    server = start_server(admin_environment(e2e_db_dir), e2e_db_dir / f"daphne-admin-{request.node.name}.log")
    try:
        yield server
    finally:
        server.stop()


async def test_connection_rows_describe_the_connections(
    js: JsDriver, admin_server: AsgiServer, registry: Registry, users: Users
) -> None:
    """A token user's connections on each transport and protocol (made together) get a row each
    within 3 s, with the hub's dotted path, the user and their identifier, the transport,
    protocol, serving process, 127.0.0.1, the client's User-Agent and the time it connected;
    the rows go when the clients stop."""
    connections = {}
    for pair in PAIRS:
        before = timezone.now()
        connection = await connect_pair(js, admin_server.base_url, pair, "echo", accessToken=users["alice"].token)
        after = timezone.now()
        connection_id = await connection.connection_id()
        assert connection_id is not None
        connections[pair] = (connection, connection_id, before, after)

    for pair, (_, connection_id, before, after) in connections.items():
        row = await registry.wait_connection(connection_id, APPEAR_TIMEOUT)
        assert (row.transport, row.protocol) == pair
        assert row.hub == HUB, pair
        assert row.user is not None, pair
        assert str(row.user.pk) == users["alice"].pk
        assert row.user.get_username() == "alice"
        assert row.user_identifier == users["alice"].pk, pair  # default USER_ID_PROVIDER: str(user.pk)
        assert row.process.pid == pid(admin_server), pair
        assert row.process.hostname == socket.gethostname()
        assert row.remote_address == "127.0.0.1", pair
        assert row.user_agent.startswith("Microsoft SignalR/"), (pair, row.user_agent)
        assert "NodeJS" in row.user_agent, (pair, row.user_agent)
        assert before - CLOCK_SLACK <= row.connected_at <= after + CLOCK_SLACK, pair
        assert row.connected_at <= row.last_activity_at, pair

    for connection, _, _, _ in connections.values():
        await connection.stop()
    for _, connection_id, _, _ in connections.values():
        await registry.wait_gone(connection_id, APPEAR_TIMEOUT)


async def test_groups_follow_the_hub_and_anonymous_rows_have_no_user(
    js: JsDriver, admin_server: AsgiServer, registry: Registry
) -> None:
    """Groups the hub adds appear as rows, a discarded one goes, and a stopped connection takes
    its group rows with it. An anonymous connection's row has no user and an empty identifier."""
    connection = await js.connect(unique("groups"), f"{admin_server.base_url}/hubs/echo")
    connection_id = await connection.connection_id()
    assert connection_id is not None
    row = await registry.wait_connection(connection_id, APPEAR_TIMEOUT)
    assert row.user is None
    assert row.user_identifier == ""
    assert await registry.groups(connection_id) == []

    await connection.invoke("Join", "lobby")
    await connection.invoke("Join", "salle ✓ 🎉")
    await registry.wait_groups(connection_id, ["lobby", "salle ✓ 🎉"], APPEAR_TIMEOUT)

    await connection.invoke("Leave", "lobby")
    await registry.wait_groups(connection_id, ["salle ✓ 🎉"], APPEAR_TIMEOUT)

    await connection.stop()
    await registry.wait_gone(connection_id, APPEAR_TIMEOUT)
    assert await registry.groups(connection_id) == []


async def test_last_activity_advances_for_the_active_connection_only(
    js: JsDriver, fresh_server: AsgiServer, registry: Registry
) -> None:
    """Of two connections made together, the one that keeps invoking gets a later
    ``last_activity_at`` than the idle one (which only had its handshake), and the process's
    heartbeat advances meanwhile. Client keep-alive pings are slowed so the idle one is idle."""
    url = f"{fresh_server.base_url}/hubs/echo"
    active = await js.connect(unique("active"), url, keepAliveMs=60_000)
    idle = await js.connect(unique("idle"), url, keepAliveMs=60_000)
    active_id, idle_id = await active.connection_id(), await idle.connection_id()
    assert active_id is not None
    assert idle_id is not None
    first_row = await registry.wait_connection(idle_id, APPEAR_TIMEOUT)
    first_heartbeat = first_row.process.heartbeat_at

    # The writer's first look marks every connection it sees (the handshake was received).
    idle_row = await registry.wait(
        lambda: registry.connection(idle_id),
        lambda row: row is not None and row.last_activity_at > row.connected_at,
        ACTIVITY_TIMEOUT,
        "the first activity mark of the idle connection",
    )
    idle_mark = idle_row.last_activity_at
    started = timezone.now()

    async def busy() -> object:
        assert await active.invoke("Echo", "busy") == "busy"
        return await registry.connection(active_id)

    active_row = await registry.wait(
        busy,
        lambda row: row is not None and row.last_activity_at > max(idle_mark, started),
        ACTIVITY_TIMEOUT,
        "the active connection's last_activity_at after it kept invoking",
    )

    idle_row_after = await registry.connection(idle_id)
    assert idle_row_after is not None
    assert idle_row_after.last_activity_at == idle_mark, "the idle connection received nothing"
    assert active_row.process.heartbeat_at > first_heartbeat


async def test_process_row_names_its_host_and_pid(js: JsDriver, admin_server: AsgiServer, registry: Registry) -> None:
    """The serving process's row: hostname, pid, a start time before its recent heartbeat."""
    connection = await js.connect(unique("process"), f"{admin_server.base_url}/hubs/echo")
    connection_id = await connection.connection_id()
    assert connection_id is not None
    process = (await registry.wait_connection(connection_id, APPEAR_TIMEOUT)).process

    assert process.pid == pid(admin_server)
    assert process.hostname == socket.gethostname()
    assert process.started_at <= process.heartbeat_at
    assert timezone.now() - process.heartbeat_at < datetime.timedelta(seconds=registry_module.DEAD_AFTER)


async def test_a_user_deleted_before_the_flush_does_not_freeze_the_registry(
    js: JsDriver, fresh_server: AsgiServer, registry: Registry
) -> None:
    """BUG (fails today): a user deleted in the second between their connection's handshake
    and the writer's next flush makes every later flush of that process fail with
    ``IntegrityError('FOREIGN KEY constraint failed')``: the pending row's ``user_id`` points to
    nothing, ``_restore`` puts it back, and the next flush fails the same way, forever. No later
    connection of the process is registered, and its heartbeat (in the same transaction) stops,
    so after ``DEAD_AFTER`` the other processes delete its rows and cluster-wide queries treat
    it as dead. Expected: the bad row is written without a user (or dropped), and the rest of
    the registry carries on."""
    url = f"{fresh_server.base_url}/hubs/echo"
    for _attempt in range(3):
        create = functools.partial(User.objects.db_manager(registry.alias).create_user, unique("doomed"))
        user = await registry.run(create)
        doomed = await js.connect(unique("doomed"), url, accessToken=create_access_token(user))
        doomed_id = await doomed.connection_id()
        assert doomed_id is not None
        await registry.run(user.delete)
        if await registry.connection(doomed_id) is None:
            break  # the row (with the user) is still pending: the case under test
        # The flush came between the handshake and the deletion (a lost race): try again.
    else:
        pytest.fail("the writer flushed before the deletion three times in a row")

    later = await js.connect(unique("later"), url)
    later_id = await later.connection_id()
    assert later_id is not None
    await registry.wait_connection(later_id, APPEAR_TIMEOUT)


async def test_process_row_names_the_server_program(js: JsDriver, admin_server: AsgiServer, registry: Registry) -> None:
    """BUG (fails today): ``ServerProcess.server`` ("The program serving (daphne, uvicorn...)")
    is ``os.path.basename(sys.argv[0])``, which for ``python -m daphne`` (how these tests, and
    many containers, start it) is ``"__main__.py"``: the admin lists every such process as
    "__main__.py host:pid". Expected: "daphne"."""
    connection = await js.connect(unique("program"), f"{admin_server.base_url}/hubs/echo")
    connection_id = await connection.connection_id()
    assert connection_id is not None
    process = (await registry.wait_connection(connection_id, APPEAR_TIMEOUT)).process

    assert process.server == "daphne"

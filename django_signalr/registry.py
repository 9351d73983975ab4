"""Writes the live connection registry (``models.py``) in the background, one writer per process.

Connect, disconnect and group changes only record what happened in memory (nothing touches the
database on the path of a connection or a message); every ``FLUSH_INTERVAL`` the writer applies
what accumulated in one transaction, in a thread of its own. A connection that came and went
between two flushes costs nothing. The writer also beats the process's heart, marks recent
activity, and deletes the rows of processes whose heartbeat stopped (a SIGKILL, a lost host):
they disappear within ``DEAD_AFTER + HEARTBEAT_INTERVAL`` seconds.

If the tables are missing (``migrate`` not run) or the database fails, the writer logs it and
retries later; connections keep working either way.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime
import logging
import os
import socket
import sys
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import DataError, IntegrityError, close_old_connections, transaction
from django.utils import timezone

if TYPE_CHECKING:
    from .hub_connection import HubConnection
    from .lifetime.node import Node

logger = logging.getLogger("django_signalr.registry")

FLUSH_INTERVAL = 1.0
HEARTBEAT_INTERVAL = 5.0
ACTIVITY_INTERVAL = 10.0
# A process whose heartbeat is older than this is dead: its rows go, queries stop asking it.
DEAD_AFTER = 20.0


@dataclass
class _Pending:
    """What happened since the last flush, reduced to its net effect."""

    connected: dict[str, dict[str, Any]] = field(default_factory=dict)
    disconnected: set[str] = field(default_factory=set)
    joined: set[tuple[str, str]] = field(default_factory=set)
    left: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.connected or self.disconnected or self.joined or self.left)


class RegistryWriter:
    """The registry writer of one node (process)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._pending = _Pending()
        self._task: asyncio.Task[None] | None = None
        self._announced: asyncio.Future[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signalr-registry")
        self._started_at = timezone.now()
        self._activity: dict[str, float] = {}  # connection id -> last receive time seen
        self._written = False
        atexit.register(self.forget_process)

    async def announce(self) -> None:
        """Write this process's row before its first connection is answered, so a cluster-wide
        query from another process asks it from the start. Once per process; a failure is
        logged and does not hold the connection up (the writer retries)."""
        if self._announced is None:
            self._announced = self.node.loop.create_future()
            try:
                await self.node.loop.run_in_executor(self._executor, self._write, _Pending(), True, [])
            except Exception as error:
                logger.warning("Registering this server process failed (retrying): %r", error)
            self._announced.set_result(None)
            self._ensure_running()
        await asyncio.shield(self._announced)

    # -- what the lifetime manager reports (in memory only) --------------------------------

    def connected(self, connection: HubConnection) -> None:
        self._ensure_running()
        self._pending.connected[connection.connection_id] = _row(connection)

    def disconnected(self, connection_id: str) -> None:
        pending = self._pending
        if pending.connected.pop(connection_id, None) is None:
            pending.disconnected.add(connection_id)
        pending.joined = {m for m in pending.joined if m[0] != connection_id}
        pending.left = {m for m in pending.left if m[0] != connection_id}
        self._activity.pop(connection_id, None)

    def joined(self, connection_id: str, group: str) -> None:
        membership = (connection_id, group[:GROUP_NAME_LIMIT])
        if membership in self._pending.left:
            self._pending.left.discard(membership)
        else:
            self._pending.joined.add(membership)

    def left(self, connection_id: str, group: str) -> None:
        membership = (connection_id, group[:GROUP_NAME_LIMIT])
        if membership in self._pending.joined:
            self._pending.joined.discard(membership)
        else:
            self._pending.left.add(membership)

    # -- the writer ------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.node.loop.create_task(self._run())

    async def _run(self) -> None:
        loop = self.node.loop
        next_heartbeat = loop.time() + HEARTBEAT_INTERVAL
        next_activity = 0.0
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            now = loop.time()
            heartbeat = now >= next_heartbeat
            activity = self._recent_activity() if now >= next_activity else []
            if not (heartbeat or activity or self._pending):
                continue
            pending, self._pending = self._pending, _Pending()
            try:
                recreated = await loop.run_in_executor(self._executor, self._write, pending, heartbeat, activity)
            except Exception as error:
                logger.warning("Writing the connection registry failed (retrying): %r", error)
                self._restore(pending)
                continue
            if heartbeat:
                next_heartbeat = now + HEARTBEAT_INTERVAL
            if activity:
                next_activity = now + ACTIVITY_INTERVAL
            if recreated:
                # Another process found our heartbeat too old (the database was out of reach
                # for a while) and removed our rows: write them all again.
                logger.warning("This server process's registry rows were removed as dead; writing them again")
                self._resync()

    def _resync(self) -> None:
        for local in self.node.hubs.values():
            for connection_id, connection in local.connections.items():
                self._pending.connected[connection_id] = _row(connection)
                self._pending.joined.update(
                    (connection_id, group[:GROUP_NAME_LIMIT]) for group in connection.group_names
                )

    def _restore(self, pending: _Pending) -> None:
        """Put back what a failed flush did not write (newer events win)."""
        newer = self._pending
        pending.connected.update(newer.connected)
        self._pending = _Pending(
            {k: v for k, v in pending.connected.items() if k not in newer.disconnected},
            pending.disconnected | newer.disconnected,
            (pending.joined - newer.left) | newer.joined,
            (pending.left - newer.joined) | newer.left,
        )

    def _recent_activity(self) -> list[str]:
        """Connections that received something since the last look."""
        active = []
        for local in self.node.hubs.values():
            for connection_id, connection in local.connections.items():
                received = connection.state.last_received
                if self._activity.get(connection_id) != received:
                    self._activity[connection_id] = received
                    active.append(connection_id)
        return active

    def _write(self, pending: _Pending, heartbeat: bool, activity: list[str]) -> bool:
        """In the writer's thread: the heartbeat, then the changes; whether this process's row
        had to be created although it had been written before."""
        close_old_connections()
        try:
            created = self._beat(heartbeat or bool(pending.connected))
            if pending or activity:
                try:
                    with transaction.atomic():
                        _apply(self.node.id, pending, activity)
                except (IntegrityError, DataError) as error:
                    # One bad row (a user deleted meanwhile, say) must not block the others
                    # forever: write them one by one and drop what cannot be written.
                    logger.warning("Writing the connection registry at once failed (%s); row by row", error)
                    self._salvage(pending, activity)
        finally:
            close_old_connections()
        first = self._written is False
        self._written = True
        return created and not first

    def _beat(self, announce: bool) -> bool:
        """This process's row and heartbeat, and the janitor's round; whether the row was new."""
        from .models import ServerProcess

        if not announce:
            return False
        now = timezone.now()
        with transaction.atomic():
            _, created = ServerProcess.objects.update_or_create(
                node_id=self.node.id,
                defaults={"heartbeat_at": now},
                create_defaults={
                    "hostname": socket.gethostname()[:255],
                    "pid": os.getpid(),
                    "server": _server_name(),
                    "started_at": self._started_at,
                    "heartbeat_at": now,
                },
            )
            dead = now - datetime.timedelta(seconds=DEAD_AFTER)
            gone, _ = ServerProcess.objects.filter(heartbeat_at__lt=dead).delete()
            if gone:
                logger.warning("Removed the connections of server processes with no heartbeat since %s", dead)
        return created

    def _salvage(self, pending: _Pending, activity: list[str]) -> None:
        node_id = self.node.id
        for connection_id, row in pending.connected.items():
            single = _Pending(connected={connection_id: row})
            if not _try_apply(node_id, single) and row.get("user_id") is not None:
                _try_apply(node_id, _Pending(connected={connection_id: {**row, "user_id": None}}))
        for membership in pending.joined:
            _try_apply(node_id, _Pending(joined={membership}))
        _try_apply(node_id, _Pending(disconnected=pending.disconnected, left=pending.left), activity)

    def forget_process(self) -> None:
        """At exit: this process's rows go now, not ``DEAD_AFTER`` seconds later."""
        from .models import ServerProcess

        if self._written:
            try:
                ServerProcess.objects.filter(node_id=self.node.id).delete()
            except Exception as error:  # the database is gone too: the janitor will do it
                logger.debug("Removing this process's registry rows at exit failed: %r", error)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False)


def _apply(node_id: str, pending: _Pending, activity: Sequence[str]) -> None:
    from .models import Connection, ConnectionGroup

    if pending.disconnected:
        Connection.objects.filter(pk__in=pending.disconnected).delete()
    if pending.connected:
        Connection.objects.bulk_create(
            [Connection(connection_id=cid, process_id=node_id, **row) for cid, row in pending.connected.items()],
            ignore_conflicts=True,
        )
    for connection_id, group in pending.left:
        ConnectionGroup.objects.filter(connection_id=connection_id, name=group).delete()
    if pending.joined:
        live = set(Connection.objects.filter(pk__in={m[0] for m in pending.joined}).values_list("pk", flat=True))
        ConnectionGroup.objects.bulk_create(
            [ConnectionGroup(connection_id=cid, name=group) for cid, group in pending.joined if cid in live],
            ignore_conflicts=True,
        )
    if activity:
        Connection.objects.filter(pk__in=activity).update(last_activity_at=timezone.now())


def _try_apply(node_id: str, pending: _Pending, activity: Sequence[str] = ()) -> bool:
    try:
        with transaction.atomic():
            _apply(node_id, pending, activity)
    except (IntegrityError, DataError) as error:
        logger.error("Dropped a connection registry change that cannot be written (%s): %r", error, pending)
        return False
    return True


def _server_name() -> str:
    """The program serving: ``daphne`` for ``python -m daphne`` too (argv[0] is __main__.py)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name.removesuffix(".__main__") if spec is not None else os.path.basename(sys.argv[0])
    return (name or "python")[:64]


# Registry columns are bounded; names (hub paths, user ids, group names) may be longer.
_LIMITS = {"hub": 255, "user_identifier": 255, "transport": 32, "protocol": 32, "remote_address": 64}
GROUP_NAME_LIMIT = 255


def _row(connection: HubConnection) -> dict[str, Any]:
    """A connection's registry columns, taken when it connects."""
    scope = connection.scope
    user = connection.user
    hub = connection.endpoint.hub_class
    # Only a user read from the database: a token authenticator may build users that have no
    # row, and a foreign key to nothing would fail every later write.
    stored = user.is_authenticated and not getattr(getattr(user, "_state", None), "adding", True)
    now = timezone.now()
    row: dict[str, Any] = {
        "hub": f"{hub.__module__}.{hub.__qualname__}",
        "user_id": user.pk if stored else None,
        "user_identifier": connection.user_identifier or "",
        "transport": connection.transport,
        "protocol": connection.protocol.name if connection.protocol else "",
        "remote_address": str((scope.get("client") or [""])[0] or ""),
        "user_agent": _header(scope, b"user-agent") or _header(scope, b"x-signalr-user-agent"),
        "connected_at": now,
        "last_activity_at": now,
    }
    for column, limit in _LIMITS.items():
        row[column] = row[column][:limit]
    return row


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")[:1000]
    return ""


_writers: weakref.WeakKeyDictionary[Node, RegistryWriter] = weakref.WeakKeyDictionary()


def registry_for(node: Node) -> RegistryWriter:
    writer = _writers.get(node)
    if writer is None:
        writer = _writers[node] = RegistryWriter(node)
    return writer


async def live_nodes() -> list[str]:
    """The ids of the processes whose heartbeat is recent (their connections are live)."""
    from .models import ServerProcess

    recent = timezone.now() - datetime.timedelta(seconds=DEAD_AFTER)
    return [
        node_id
        async for node_id in ServerProcess.objects.filter(heartbeat_at__gte=recent).values_list("node_id", flat=True)
    ]

"""Read (and, for a test's set-up, write) the e2e database's connection registry with the ORM.

The test process runs ``tests.settings`` (an in-memory database); the servers write the SQLite
file in ``SIGNALR_E2E_DB_DIR``. ``Registry`` adds that file to ``django.db.connections`` under
an alias of its own for as long as it is open, and runs every query in one thread of its own
(the ORM is synchronous; that thread's database connection is closed with the registry).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from django.db import connections
from django.utils import timezone

from django_signalr.models import Connection, ConnectionGroup, ServerProcess

T = TypeVar("T")

ALIAS = "signalr_e2e_registry"
POLL_INTERVAL = 0.1


class Registry:
    """The registry tables of the e2e database, polled from async tests."""

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-reader")

    async def run(self, query: Callable[[], T]) -> T:
        """Run ``query`` (synchronous ORM code) in the registry's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, query)

    def close(self) -> None:
        self._executor.submit(lambda: connections[self.alias].close()).result(timeout=10)
        self._executor.shutdown(wait=True)

    # -- queries -------------------------------------------------------------------------------

    def _connection(self, connection_id: str) -> Connection | None:
        return Connection.objects.using(self.alias).select_related("process", "user").filter(pk=connection_id).first()

    async def connection(self, connection_id: str) -> Connection | None:
        """The row of a connection (with its process and user), ``None`` when there is none."""
        return await self.run(lambda: self._connection(connection_id))

    async def groups(self, connection_id: str) -> list[str]:
        """The connection's group names in the registry, sorted."""
        return await self.run(
            lambda: sorted(
                ConnectionGroup.objects.using(self.alias)
                .filter(connection_id=connection_id)
                .values_list("name", flat=True)
            )
        )

    async def process(self, node_id: str) -> ServerProcess | None:
        return await self.run(lambda: ServerProcess.objects.using(self.alias).filter(pk=node_id).first())

    async def connection_ids(self, node_id: str) -> set[str]:
        """The connection ids the registry lists for one server process."""
        return await self.run(
            lambda: set(Connection.objects.using(self.alias).filter(process_id=node_id).values_list("pk", flat=True))
        )

    async def add_stale_connection(self, connection_id: str, node_id: str) -> None:
        """A row for a connection the process does not hold (as a crash between a disconnect
        and the next flush would leave); the test deletes it with ``delete_connection``."""
        now = timezone.now()
        await self.run(
            lambda: Connection.objects.using(self.alias).create(
                connection_id=connection_id,
                process_id=node_id,
                hub="tests.hubs.EchoHub",
                transport="WebSockets",
                protocol="json",
                connected_at=now,
                last_activity_at=now,
            )
        )

    async def delete_connection(self, connection_id: str) -> None:
        await self.run(lambda: Connection.objects.using(self.alias).filter(pk=connection_id).delete())

    # -- waiting -------------------------------------------------------------------------------

    async def wait(self, fetch: Callable[[], Any], check: Callable[[Any], bool], timeout: float, what: str) -> Any:
        """Poll ``fetch`` (a coroutine function) until ``check`` holds for its value; that value.
        ``AssertionError`` with the last value seen when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            value = await fetch()
            if check(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s; last seen: {value!r}")
            await asyncio.sleep(POLL_INTERVAL)

    async def wait_connection(self, connection_id: str, timeout: float) -> Connection:
        """The connection's row, once the server wrote it."""
        row: Connection = await self.wait(
            lambda: self.connection(connection_id), lambda row: row is not None, timeout, f"row of {connection_id}"
        )
        return row

    async def wait_gone(self, connection_id: str, timeout: float) -> None:
        await self.wait(
            lambda: self.connection(connection_id), lambda row: row is None, timeout, f"{connection_id}'s row gone"
        )

    async def wait_groups(self, connection_id: str, expected: list[str], timeout: float) -> None:
        await self.wait(
            lambda: self.groups(connection_id),
            lambda names: names == sorted(expected),
            timeout,
            f"groups of {connection_id} == {sorted(expected)}",
        )

    async def wait_connection_ids(self, node_id: str, expected: set[str], timeout: float) -> None:
        """Until the process's rows are exactly ``expected`` (earlier tests' rows have gone)."""
        await self.wait(
            lambda: self.connection_ids(node_id),
            lambda ids: ids == expected,
            timeout,
            f"connections of process {node_id} == {sorted(expected)}",
        )


@contextmanager
def open_registry(db_path: Path) -> Iterator[Registry]:
    """The e2e SQLite file as the ORM alias ``ALIAS`` for the duration of the block."""
    if ALIAS in connections.settings:
        raise RuntimeError(f"the database alias {ALIAS} is in use")
    settings = connections.configure_settings(
        {
            "default": dict(connections.settings["default"]),
            ALIAS: {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(db_path),
                "OPTIONS": {"timeout": 20},
            },
        }
    )
    connections.settings[ALIAS] = settings[ALIAS]
    registry = Registry(ALIAS)
    try:
        yield registry
    finally:
        try:
            registry.close()
        finally:
            # Gone again before pytest-django prepares test databases for other modules.
            del connections.settings[ALIAS]

"""Fixtures of the fault tests: per module, a database of its own and a Redis server of its own.

A module gets its own database so the registry holds only its own processes: a query asks
every process the registry calls alive, and a process of another module (on another Redis)
would never answer. A module gets its own Redis so it may stop it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..server import Users, bootstrap
from .support import Cluster, RedisServer, private_redis

LOG_TAIL = 4000


@dataclass(frozen=True)
class Site:
    """A migrated e2e database (with alice, bob and staff) in ``directory``."""

    directory: Path
    users: Users

    @property
    def database(self) -> Path:
        return self.directory / "e2e.sqlite3"  # tests.e2e.settings names it so


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    directory = tmp_path_factory.mktemp("fault-site")
    return Site(directory, bootstrap(directory))


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module only (no persistence), on a free port."""
    with private_redis(tmp_path_factory.mktemp("fault-redis")) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach every server log of the test's cluster and Redis's log."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, Cluster):
                report.sections.append(("server logs", value.report(LOG_TAIL)))
            if isinstance(value, RedisServer):
                report.sections.append(("redis log (tail)", value.log_text()[-LOG_TAIL:]))
    return report

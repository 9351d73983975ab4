"""Fixtures of the registry and admin tests: the admin's users, the registry read with the ORM,
a daphne serving the admin and the hubs (one per package), a two-process Redis cluster, and
Debian's chromium driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from pytest_django import DjangoDbBlocker

from tests.servers import AsgiServer
from tests.tools.system_deps import CHROMIUM, INSTALL_HINT, chromium_installed, running_in_ci

from ..server import Users
from .bootstrap import AdminUsers, prepare
from .registry import Registry, open_registry
from .servers import CLUSTER_SETTINGS, admin_environment, start_server

LOG_TAIL = 6000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tails of this package's server logs."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        servers: list[AsgiServer] = []
        for value in funcargs.values():
            if isinstance(value, AsgiServer):
                servers.append(value)
            elif isinstance(value, list):
                servers.extend(server for server in value if isinstance(server, AsgiServer))
        for server in servers:
            report.sections.append((f"{server.log_path.name} (tail)", server.log_text()[-LOG_TAIL:]))
    return report


@pytest.fixture(scope="session")
def admin_users(users: Users, e2e_db_dir: Path) -> AdminUsers:
    """Migrates the admin's own tables into the e2e database (``users`` migrated the rest) and
    creates the two staff users, before any server of this package starts."""
    return prepare(e2e_db_dir)


@pytest.fixture(scope="package")
def registry(admin_users: AdminUsers, e2e_db_dir: Path, django_db_blocker: DjangoDbBlocker) -> Iterator[Registry]:
    """The e2e database's registry through the ORM (pytest-django's blocker lifted for this
    package only)."""
    with django_db_blocker.unblock(), open_registry(e2e_db_dir / "e2e.sqlite3") as opened:
        yield opened


@pytest.fixture(scope="package")
def admin_server(admin_users: AdminUsers, e2e_db_dir: Path) -> Iterator[AsgiServer]:
    """One daphne (in-memory layer) serving the admin and the e2e hubs."""
    server = start_server(admin_environment(e2e_db_dir), e2e_db_dir / "daphne-admin.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin_cluster(redis_url: str, admin_users: AdminUsers, e2e_db_dir: Path) -> Iterator[list[AsgiServer]]:
    """Two daphne processes on one Redis layer, under a key prefix of this run's own."""
    env = admin_environment(
        e2e_db_dir,
        CLUSTER_SETTINGS,
        REDIS_URL=redis_url,
        SIGNALR_TEST_LAYER_PREFIX=f"signalr-admin-{uuid.uuid4().hex[:8]}",
    )
    servers: list[AsgiServer] = []
    try:
        for name in ("a", "b"):
            servers.append(start_server(env, e2e_db_dir / f"daphne-admin-cluster-{name}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


def missing(reason: str) -> None:
    """Fail under CI (which must run these tests), else skip saying how to fix it."""
    if running_in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not chromium_installed():
        missing(f"{CHROMIUM} is missing: run `python tests/tools/system_deps.py` as root, or `{INSTALL_HINT}`")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # executable_path: Playwright never downloads a browser of its own here.
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield launched
        finally:
            await launched.close()

"""Fixtures of the end-to-end suite: one database per session, one daphne per test module,
one official JS client process per test module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from ..servers import AsgiServer, environment
from .jsclient import JsDriver
from .server import DaphneServer, Users, bootstrap

LOG_TAIL = 6000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tails of the server's log and of the JS client's stderr."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        server = funcargs.get("server")
        if isinstance(server, DaphneServer):
            report.sections.append(("daphne log (tail)", server.log_text()[-LOG_TAIL:]))
        driver = funcargs.get("js_driver")
        if isinstance(driver, JsDriver):
            report.sections.append(("JS client stderr (tail)", driver.stderr_tail()))
    return report


@pytest.fixture(scope="session")
def e2e_db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("signalr-e2e")


@pytest.fixture(scope="session")
def users(e2e_db_dir: Path) -> Users:
    """alice, bob and staff (with auth.view_user), created before any server starts."""
    return bootstrap(e2e_db_dir)


@pytest.fixture(scope="module")
def server(e2e_db_dir: Path, users: Users, request: pytest.FixtureRequest) -> Iterator[DaphneServer]:
    """A daphne process for this module (its log is attached to failed tests' reports)."""
    log_path = e2e_db_dir / f"daphne-{request.module.__name__.rpartition('.')[2]}.log"
    daphne = DaphneServer(e2e_db_dir, log_path)
    daphne.start()
    try:
        yield daphne
    finally:
        daphne.stop()


@pytest.fixture(scope="module")
def base_url(server: DaphneServer) -> str:
    return server.base_url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def js_driver(js_modules: Path) -> AsyncIterator[JsDriver]:
    """The official client's driver; ``js_modules`` (tests/conftest.py) runs ``npm ci`` if needed."""
    driver = JsDriver()
    await driver.start()
    try:
        yield driver
    finally:
        await driver.close()


@pytest_asyncio.fixture(loop_scope="module")
async def js(js_driver: JsDriver) -> AsyncIterator[JsDriver]:
    """The module's driver; the connections a test made are stopped after it."""
    yield js_driver
    await js_driver.forget_all()


@pytest.fixture(scope="module")
def cluster_env(redis_url: str, e2e_db_dir: Path) -> dict[str, str]:
    """The environment of the scale-out processes: one Redis layer under a key prefix of its own."""
    return environment(
        "tests.e2e.scaleout.settings",
        REDIS_URL=redis_url,
        SIGNALR_TEST_LAYER_PREFIX=f"signalr-test-{uuid.uuid4().hex[:8]}",
        SIGNALR_E2E_DB_DIR=str(e2e_db_dir),
    )


@pytest.fixture(scope="module")
def cluster(cluster_env: dict[str, str], e2e_db_dir: Path, users: Users) -> Iterator[list[str]]:
    """Hub URLs of three processes (daphne, daphne, uvicorn) sharing one Redis channel layer."""
    servers = [
        AsgiServer("tests.e2e.scaleout.asgi:application", cluster_env, e2e_db_dir / f"scale-{i}.log", kind)
        for i, kind in enumerate(("daphne", "daphne", "uvicorn"))
    ]
    try:
        for server in servers:
            server.start()
        yield [server.base_url + "/hubs/scale" for server in servers]
    finally:
        for server in servers:
            server.stop()

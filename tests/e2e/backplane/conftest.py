"""The backplane spec's clusters: one per Channels layer, started once per layer.

``cluster`` is parametrized over ``LAYERS``; pytest groups the spec's tests by its parameter,
so each layer's processes start once and every test of ``test_spec.py`` runs against them.
A cluster has ``PROCESSES`` slots: three server processes (daphne, daphne, uvicorn) on the
layers that span processes, and one daphne in all three slots on the in-memory layer.

Each cluster gets a copy of the e2e SQLite database (users and sessions included) with the
connection registry emptied: the registry lists the "live" server processes that cluster-wide
queries ask, and processes of another cluster (other modules, other layers, stopped seconds
ago) cannot answer on this cluster's layer -- each query would wait ``QUERY_TIMEOUT`` for them.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import uuid
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ...servers import AsgiServer, ServerKind, environment, run_checked
from ...tools.system_deps import running_in_ci
from ..server import Users

PROCESSES = 3
APPLICATION = "tests.e2e.backplane.asgi:application"
LOG_TAIL = 4000

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"
POSTGRES_ADMIN_DATABASE = "test"
POSTGRES_HINT = (
    f"PostgreSQL does not answer at {POSTGRES_HOST}:{POSTGRES_PORT} (user {POSTGRES_USER!r}, trust auth, "
    f"database {POSTGRES_ADMIN_DATABASE!r}): start it to run the channels_postgres backplane tests"
)
# Tables of the connection registry, children first.
REGISTRY_TABLES = ("django_signalr_connectiongroup", "django_signalr_connection", "django_signalr_serverprocess")


@dataclass(frozen=True)
class Layer:
    """A channel layer under test: its settings module, its server processes, what it needs."""

    name: str
    settings: str
    kinds: tuple[ServerKind, ...]
    service: str | None = None  # "redis" or "postgres"

    @property
    def spans_processes(self) -> bool:
        return len(self.kinds) > 1


POSTGRES_SETTINGS = "tests.e2e.backplane.settings_postgres"
LAYERS = (
    Layer("memory", "tests.e2e.backplane.settings_memory", ("daphne",)),
    Layer("redis", "tests.e2e.backplane.settings_redis", ("daphne", "daphne", "uvicorn"), "redis"),
    Layer("redis-pubsub", "tests.e2e.backplane.settings_pubsub", ("daphne", "daphne", "uvicorn"), "redis"),
    Layer("postgres", POSTGRES_SETTINGS, ("daphne", "daphne", "uvicorn"), "postgres"),
)


@dataclass(frozen=True)
class Cluster:
    """Running servers of one layer; ``bases[slot]`` is the base URL of process slot ``slot``."""

    layer: Layer
    bases: list[str]
    env: dict[str, str]
    servers: list[AsgiServer]

    def hub_url(self, slot: int, hub: str) -> str:
        """The URL of the hub ``hub`` (a key of ``hubs.SPEC_HUBS``) on process slot ``slot``."""
        return f"{self.bases[slot]}/hubs/{hub}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {server.kind} :{server.port} ---\n{server.log_text()[-LOG_TAIL:]}" for server in self.servers
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, attach the tails of the cluster's server logs."""
    report = yield
    if report.failed:
        cluster = getattr(item, "funcargs", {}).get("cluster")
        if isinstance(cluster, Cluster):
            report.sections.append((f"{cluster.layer.name} server logs (tails)", cluster.logs()))
    return report


@dataclass(frozen=True)
class PostgresDatabase:
    """A database with channels_postgres's tables; ``environment()`` names it to the settings."""

    name: str
    host: str = POSTGRES_HOST
    port: int = POSTGRES_PORT
    user: str = POSTGRES_USER

    def environment(self) -> dict[str, str]:
        return {
            "SIGNALR_TEST_POSTGRES_DB": self.name,
            "SIGNALR_TEST_POSTGRES_HOST": self.host,
            "SIGNALR_TEST_POSTGRES_PORT": str(self.port),
            "SIGNALR_TEST_POSTGRES_USER": self.user,
        }


@pytest.fixture(scope="session")
def postgres_database(e2e_db_dir: Path) -> Iterator[PostgresDatabase]:
    """A fresh PostgreSQL database for this session with channels_postgres migrated into it
    (dropped at the end); skipped when PostgreSQL does not answer, except under ``CI=true``
    where that fails."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        if running_in_ci():
            pytest.fail("CI needs psycopg and channels_postgres: pip install 'django-signalr[postgres]'")
        pytest.skip("install 'django-signalr[postgres]' (channels_postgres, psycopg) to run the PostgreSQL backplane")
    try:
        admin = psycopg.connect(
            host=POSTGRES_HOST,
            port=POSTGRES_PORT,
            user=POSTGRES_USER,
            dbname=POSTGRES_ADMIN_DATABASE,
            autocommit=True,
            connect_timeout=3,
        )
    except psycopg.OperationalError as error:
        if running_in_ci():
            pytest.fail(f"CI needs PostgreSQL: {POSTGRES_HINT} ({error})")
        pytest.skip(POSTGRES_HINT)
    database = PostgresDatabase(f"signalr_bp_{uuid.uuid4().hex[:12]}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database.name)))
    try:
        env = environment(
            POSTGRES_SETTINGS,
            SIGNALR_E2E_DB_DIR=str(e2e_db_dir),
            SIGNALR_TEST_LAYER_PREFIX="migrate",
            **database.environment(),
        )
        migrate = [sys.executable, "-m", "django", "migrate", "channels_postgres", "--database", "channels_postgres"]
        run_checked([*migrate, "--verbosity", "0"], env, 120)
        yield database
    finally:
        with psycopg.connect(
            host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname=POSTGRES_ADMIN_DATABASE, autocommit=True
        ) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the e2e SQLite file (WAL and all) without registry rows; the
    ``users`` fixture must have made the file."""
    if not source.is_file():
        raise FileNotFoundError(source)
    with contextlib.closing(sqlite3.connect(source)) as original, contextlib.closing(sqlite3.connect(target)) as copy:
        original.backup(copy)
        with copy:
            for table in REGISTRY_TABLES:
                copy.execute(f"DELETE FROM {table}")


def layer_environment(layer: Layer, directory: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment of a process on ``layer``, its services (Redis, PostgreSQL) requested."""
    extra = {
        "SIGNALR_E2E_DB_DIR": str(directory),
        "SIGNALR_TEST_LAYER_PREFIX": f"signalr-bp-{uuid.uuid4().hex[:8]}",
    }
    if layer.service == "redis":
        extra["REDIS_URL"] = request.getfixturevalue("redis_url")
    if layer.service == "postgres":
        database: PostgresDatabase = request.getfixturevalue("postgres_database")
        extra.update(database.environment())
    return environment(layer.settings, **extra)


@pytest.fixture(scope="module", params=LAYERS, ids=[layer.name for layer in LAYERS])
def cluster(request: pytest.FixtureRequest, e2e_db_dir: Path, users: Users) -> Iterator[Cluster]:
    """The layer's server processes, started together, stopped by PID at the end."""
    layer: Layer = request.param
    directory = e2e_db_dir / f"backplane-{layer.name}-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    copy_database(e2e_db_dir / "e2e.sqlite3", directory / "e2e.sqlite3")
    env = layer_environment(layer, directory, request)
    servers = [
        AsgiServer(APPLICATION, env, directory / f"{index}-{kind}.log", kind) for index, kind in enumerate(layer.kinds)
    ]
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            for started in [pool.submit(server.start) for server in servers]:
                started.result()
        bases = [server.base_url for server in servers]
        yield Cluster(layer, [bases[slot % len(bases)] for slot in range(PROCESSES)], env, servers)
    finally:
        for server in servers:
            server.stop()

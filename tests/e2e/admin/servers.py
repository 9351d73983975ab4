"""The admin tests' server processes: daphne serving ``tests.e2e.admin.asgi`` on the e2e database."""

from __future__ import annotations

from pathlib import Path

from tests.servers import AsgiServer, environment, run_checked

SETTINGS = "tests.e2e.admin.settings"
CLUSTER_SETTINGS = "tests.e2e.admin.cluster_settings"
APPLICATION = "tests.e2e.admin.asgi:application"

__all__ = ["APPLICATION", "CLUSTER_SETTINGS", "SETTINGS", "admin_environment", "pid", "run_checked", "start_server"]


def admin_environment(db_dir: Path, settings: str = SETTINGS, **extra: str) -> dict[str, str]:
    return environment(settings, SIGNALR_E2E_DB_DIR=str(db_dir), **extra)


def start_server(env: dict[str, str], log_path: Path) -> AsgiServer:
    """A started daphne (its port accepts connections)."""
    server = AsgiServer(APPLICATION, env, log_path)
    server.start()
    return server


def pid(server: AsgiServer) -> int:
    """The server's pid (``python -m daphne`` is the process itself)."""
    assert server.process is not None
    return server.process.pid

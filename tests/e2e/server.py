"""A real daphne process serving ``tests.e2e.asgi``, and the database it reads."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ..servers import AsgiServer, environment, run_checked

SETTINGS = "tests.e2e.settings"


@dataclass(frozen=True)
class Credentials:
    pk: str
    session: str
    token: str


@dataclass(frozen=True)
class Users:
    session_cookie_name: str
    by_name: dict[str, Credentials]

    def __getitem__(self, username: str) -> Credentials:
        return self.by_name[username]

    def cookie(self, username: str) -> str:
        """A ``Cookie`` header value that logs in as ``username``."""
        return f"{self.session_cookie_name}={self.by_name[username].session}"


def server_environment(db_dir: Path) -> dict[str, str]:
    return environment(SETTINGS, SIGNALR_E2E_DB_DIR=str(db_dir))


def bootstrap(db_dir: Path, timeout: float = 120.0) -> Users:
    """Migrate the e2e database and create the users (in a subprocess, before any server)."""
    output = run_checked([sys.executable, "-m", "tests.e2e.bootstrap"], server_environment(db_dir), timeout)
    data = json.loads(output)
    users = {name: Credentials(**values) for name, values in data["users"].items()}
    return Users(data["session_cookie_name"], users)


class DaphneServer(AsgiServer):
    """``daphne ... tests.e2e.asgi:application`` on the e2e database."""

    def __init__(self, db_dir: Path, log_path: Path) -> None:
        super().__init__("tests.e2e.asgi:application", server_environment(db_dir), log_path)

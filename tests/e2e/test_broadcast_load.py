"""Broadcasting to 1,000 official-client connections loses nothing, on one process and on
three processes sharing Redis (the load is bounded: one burst, a 60 s deadline)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .jsclient import JS_DIR

SCRIPT = JS_DIR / "broadcast_check.mjs"
CONNECTIONS = 1000
MESSAGES = 200
TIMEOUT = 120


def run_check(urls: list[str]) -> dict[str, int]:
    result = subprocess.run(
        ["node", str(SCRIPT), str(CONNECTIONS), str(MESSAGES), *urls],
        cwd=JS_DIR,
        capture_output=True,
        timeout=TIMEOUT,
        check=True,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_nothing_lost(report: dict[str, int]) -> None:
    assert report["complete"] == CONNECTIONS, report
    assert report["lost"] == report["duplicated"] == report["outOfOrder"] == 0, report


@pytest.mark.usefixtures("js_modules")
def test_one_process(base_url: str) -> None:
    assert_nothing_lost(run_check([f"{base_url}/hubs/echo"]))


@pytest.mark.usefixtures("js_modules")
def test_three_processes_on_redis(cluster: list[str], e2e_db_dir: Path) -> None:
    assert_nothing_lost(run_check(cluster))

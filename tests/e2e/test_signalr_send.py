"""``manage.py signalr_send`` in a process of its own reaches connections on three server processes
through the Redis layer: every target option, JSON arguments, and ``--invoke`` (a client result)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from ..servers import ROOT, run_checked
from .jsclient import JsDriver
from .pairs import unique
from .server import Users

pytestmark = pytest.mark.asyncio(loop_scope="module")

HUB = "tests.e2e.scaleout.hubs.ScaleHub"
COMMAND_TIMEOUT = 60.0


def signalr_send(env: dict[str, str], *args: str, hub: str = HUB) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", "signalr_send", hub, *args],
        cwd=ROOT,
        env=env,
        timeout=COMMAND_TIMEOUT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


async def send(env: dict[str, str], *args: str) -> str:
    return await asyncio.to_thread(
        run_checked, [sys.executable, "-m", "django", "signalr_send", HUB, *args], env, COMMAND_TIMEOUT
    )


async def test_every_target_reaches_exactly_its_connections_on_every_process(
    js: JsDriver, cluster: list[str], cluster_env: dict[str, str], users: Users
) -> None:
    connections = [await js.connect(unique("cmd"), url) for url in cluster]
    bob = await js.connect(unique("cmd"), cluster[2], accessToken=users["bob"].token)
    group = unique("group")
    for connection in connections[:2]:
        await connection.invoke("AddToGroup", await connection.connection_id(), group)
    everyone = [*connections, bob]

    await send(cluster_env, "Receive", "hello", "42", '{"a": [1, true]}')
    for connection in everyone:
        assert await connection.next() == ["hello", 42, {"a": [1, True]}]

    await send(cluster_env, "Receive", "to-group", "--group", group)
    await send(cluster_env, "Receive", "to-bob", "--user", users["bob"].pk)
    await send(cluster_env, "Receive", "to-one", "--connection", str(await connections[2].connection_id()))
    await send(cluster_env, "Receive", "not-first", "--except", str(await connections[0].connection_id()))
    assert await connections[0].next() == ["to-group"]
    assert await connections[1].next() == ["to-group"]
    assert await connections[1].next() == ["not-first"]
    assert await connections[2].next() == ["to-one"]
    assert await connections[2].next() == ["not-first"]
    assert await bob.next() == ["to-bob"]
    assert await bob.next() == ["not-first"]
    for connection in everyone:
        assert await connection.drain() == []


async def test_invoke_prints_the_client_result_and_fails_clearly(
    js: JsDriver, cluster: list[str], cluster_env: dict[str, str]
) -> None:
    answerer = await js.connect(unique("cmd"), cluster[1])
    await answerer.handle("Answer", "value", value={"from": "js"})
    connection_id = str(await answerer.connection_id())
    out = await send(cluster_env, "Answer", "why?", "--connection", connection_id, "--invoke", "--timeout", "10")
    assert out.strip() == '{"from": "js"}'
    assert await answerer.next("Answer") == ["why?"]

    await answerer.handle("Answer", "throw", message="no answer for you")
    failed = await asyncio.to_thread(signalr_send, cluster_env, "Answer", "--connection", connection_id, "--invoke")
    assert failed.returncode == 1
    assert "no answer for you" in failed.stderr

    missing = await asyncio.to_thread(signalr_send, cluster_env, "Answer", "--connection", "nope", "--invoke")
    assert missing.returncode == 1
    assert "nope" in missing.stderr


async def test_an_in_memory_layer_is_refused_with_an_explanation(cluster_env: dict[str, str]) -> None:
    env = {**cluster_env, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = await asyncio.to_thread(signalr_send, env, "Receive", "x")
    assert result.returncode == 1
    assert "in-memory" in result.stderr


async def test_a_path_that_is_not_a_hub_is_refused(cluster_env: dict[str, str]) -> None:
    result = await asyncio.to_thread(signalr_send, cluster_env, "X", hub="tests.e2e.scaleout.hubs.os")
    assert result.returncode == 1
    assert "is not a Hub subclass" in result.stderr

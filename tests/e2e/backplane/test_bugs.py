"""Bugs of django_signalr the backplane spec ran into, each as the smallest test that showed
it, kept as regression tests now that they are fixed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.layers import InMemoryChannelLayer
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from ...servers import ROOT, AsgiServer
from ..jsclient import JsDriver
from ..pairs import unique
from ..server import Users
from .conftest import APPLICATION, LAYERS, Layer, copy_database, layer_environment
from .hubs import dotted_path

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMMAND_TIMEOUT = 60.0
QUERY_TIMEOUT = 2.0  # django_signalr.lifetime.layer.QUERY_TIMEOUT


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        timeout=COMMAND_TIMEOUT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def layer_env(request: pytest.FixtureRequest, e2e_db_dir: Path) -> dict[str, str]:
    """A layer's process environment (no server started): its Redis or PostgreSQL is required."""
    layer: Layer = request.param
    return layer_environment(layer, e2e_db_dir, request)


def _layer(name: str) -> Layer:
    return next(layer for layer in LAYERS if layer.name == name)


# ``layer_env`` over the layers that span processes.
on_shared_layers = pytest.mark.parametrize(
    "layer_env", [pytest.param(layer, id=layer.name) for layer in LAYERS if layer.spans_processes], indirect=True
)


async def probe(env: dict[str, str], name: str) -> dict[str, int]:
    result = await asyncio.to_thread(run, env, "-m", "tests.e2e.backplane.probe", name)
    assert result.returncode == 0, result.stderr
    counts: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["sent"] > 0
    return counts


@on_shared_layers
async def test_a_nodes_channel_receives_what_is_sent_right_after_it_exists(layer_env: dict[str, str]) -> None:
    """Everything sent to a node's channel after ``Node.channel()`` returns arrives
    (``probe first-messages`` sends for 0.5 s).

    It did not on channels_postgres, which LISTENs a moment after the first receive:
    ``{"sent": 317, "arrived": 315}``, and end to end ``signalr_send --invoke`` failed about
    one run in three with "Connection '<id>' does not exist" after 5 s although the client
    had been asked (the owner's "found" reply was lost). ``Node.channel()`` now returns once a
    probe sent to the channel came back."""
    counts = await probe(layer_env, "first-messages")
    assert counts["arrived"] == counts["sent"]


@on_shared_layers
async def test_a_layer_group_joined_while_its_last_member_leaves_keeps_the_node(layer_env: dict[str, str]) -> None:
    """The last local member of a layer group leaves while a new one joins (a process whose
    last connection of a hub, a user or a group disconnects as another connects): the node
    counts one member, so the layer must still deliver the group's messages to it.

    ``Node.leave`` used to drop the group's lock *before* awaiting ``group_discard``; the
    concurrent ``Node.join`` made a new lock, saw no membership and ran ``group_add`` at once.
    When the add landed before the discard (channels_postgres deletes through the ORM in a
    thread, so it usually did), the discard removed the node for good: that hub's
    ``clients.all`` (or the user's, or the group's) stopped reaching the process's connections
    (``{"sent": 10, "arrived": 4}``). The lock now lives until nobody holds or awaits it."""
    counts = await probe(layer_env, "rejoin")
    assert counts["arrived"] == counts["sent"]


@on_shared_layers
async def test_many_groups_joined_at_once_all_succeed(layer_env: dict[str, str]) -> None:
    """200 layer groups joined at once. On channels_redis each join was a ``group_add`` of its
    own, all at once, and redis-py (6 and later) pools refuse a 101st connection with "Too
    many connections" instead of waiting: 1,000 clients joining 100 groups failed their
    ``JoinGroup`` (``bench/run --cases groups-redis-msgpack``). A node now makes at most
    ``LAYER_CALLS_MAX`` layer calls at once."""
    counts = await probe(layer_env, "many-joins")
    assert counts["arrived"] == counts["sent"]


@pytest.mark.parametrize("layer_env", [pytest.param(_layer("redis"), id="redis")], indirect=True)
async def test_signalr_send_takes_ids_and_names_that_start_with_a_dash(layer_env: dict[str, str]) -> None:
    """Connection ids are ``secrets.token_urlsafe(16)`` and may start with "-" (the spec met
    ``-fuURpKF_97DCRNCXuPnKQ``); group names are any string. ``--group -lobby --except
    -fuURpKF_97`` exited 2 with "argument --group: expected one argument" (argparse takes such
    a value for an option); the command now attaches each value to its option first."""
    hub = dotted_path("backplane")
    command = ["-m", "django", "signalr_send", hub, "Receive", "hello", "--group", "-lobby", "--except", "-fuURpKF_97"]
    result = await asyncio.to_thread(run, layer_env, *command)
    assert result.returncode == 0, result.stderr


class UnbuildableLayer(InMemoryChannelLayer):
    """A layer whose constructor fails with a ``KeyError``, as channels_postgres's does for a
    ``CONFIG`` without ``PASSWORD`` or ``TIME_ZONE``."""

    def __init__(self, **config: object) -> None:
        raise KeyError("PASSWORD")


async def test_a_layer_that_fails_to_build_is_not_reported_as_missing() -> None:
    """A configured layer whose backend raises ``KeyError('PASSWORD')`` while being built
    (channels_postgres with a ``CONFIG`` missing a key Django fills in for ``DATABASES``):
    every negotiate answered 500 with "CHANNEL_LAYERS['default'] is not set" (channels'
    ``get_channel_layer`` turns that KeyError into ``None``), which sent the reader to the
    wrong place. Now the error says the layer could not be built and chains the KeyError."""
    from django_signalr.lifetime.node import get_node

    layers = {"default": {"BACKEND": f"{__name__}.UnbuildableLayer"}}
    with override_settings(CHANNEL_LAYERS=layers), pytest.raises(ImproperlyConfigured) as raised:
        get_node("default")
    assert str(raised.value) == "CHANNEL_LAYERS['default'] could not be built: KeyError('PASSWORD')"
    assert isinstance(raised.value.__cause__, KeyError)


async def test_a_process_that_stopped_gracefully_does_not_hold_up_queries(
    js: JsDriver, request: pytest.FixtureRequest, e2e_db_dir: Path, users: Users, tmp_path: Path
) -> None:
    """Two daphnes on one Redis layer; the second one serves a connection, then stops the
    normal way (the client disconnects, then SIGTERM). A query asked right after must not wait
    for the stopped process: in a rolling deploy, every query would take 2 s longer for 20 s
    after each process goes (it did: the stopped process kept its registry row until
    ``DEAD_AFTER``, 20 s, and each query waited ``QUERY_TIMEOUT``, 2 s, for it and logged
    "presumed dead"; the registry writer now forgets its process at exit)."""
    copy_database(e2e_db_dir / "e2e.sqlite3", tmp_path / "e2e.sqlite3")
    env = layer_environment(_layer("redis"), tmp_path, request)
    staying, leaving = (AsgiServer(APPLICATION, env, tmp_path / f"{n}.log") for n in ("staying", "leaving"))
    try:
        await asyncio.gather(asyncio.to_thread(staying.start), asyncio.to_thread(leaving.start))
        asker = await js.connect(unique("asker"), f"{staying.base_url}/hubs/backplane")
        gone = await js.connect(unique("gone"), f"{leaving.base_url}/hubs/backplane")
        assert len(await asker.invoke("Query", "all")) == 2
        await gone.stop()
        await asyncio.to_thread(leaving.stop)
        started = time.monotonic()
        assert await asker.invoke("Query", "all") == [await asker.connection_id()]
        assert time.monotonic() - started < QUERY_TIMEOUT / 2
    finally:
        staying.stop()
        leaving.stop()

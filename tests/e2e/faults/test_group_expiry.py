"""Memberships outlive the layer's own expiry (the issue's third fault).

channels_redis forgets a group member ``group_expiry`` seconds after it was added (86,400 s by
default): ``group_send`` first drops members older than that, and the group's key expires.
A hub group joined long ago must still receive, so the node re-adds its memberships before the
layer forgets them. Here ``group_expiry`` is 2 s (``settings_short_expiry``) and two processes
(daphne, uvicorn) wait four expiry periods. Proven:

- a control channel added to a layer group with the same settings is really forgotten after
  that time (so the rest is not proven by accident);
- a send to the hub group from either process reaches every member on both processes and no
  one else, and so do a send to all, to a user and to one connection on the other process --
  each of those rides a layer group membership that is as old as the connection.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]

from ..jsclient import JsDriver
from . import SHORT_GROUP_EXPIRY as GROUP_EXPIRY
from .conftest import Site
from .support import (
    Client,
    Cluster,
    RedisServer,
    bounded_gather,
    check_deliveries,
    connect_client,
    start_cluster,
    summarize,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "joined long ago"
WAIT = 4 * GROUP_EXPIRY
PER_PROCESS = 4  # clients on each process: 3 members, 1 not
DELIVERY_TIMEOUT = 5.0
CONTROL_RECEIVE_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def cluster(site: Site, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = start_cluster(
        "tests.e2e.faults.settings_short_expiry",
        ("daphne", "uvicorn"),
        redis_server,
        site.directory,
        tmp_path_factory.mktemp("expiry-logs"),
    )
    try:
        yield started
    finally:
        started.stop()


async def control_is_forgotten(redis_url: str) -> bool:
    """A plain channel in a layer group, untouched for ``WAIT`` seconds, no longer receives the
    group's messages: the layer's expiry is in force."""
    layer: Any = RedisChannelLayer(
        hosts=[redis_url], prefix=f"control-{uuid.uuid4().hex[:8]}", group_expiry=GROUP_EXPIRY
    )
    try:
        await layer.group_add("control", "control-member")
        await asyncio.sleep(WAIT)
        await layer.group_send("control", {"type": "control.message"})
        try:
            await asyncio.wait_for(layer.receive("control-member"), CONTROL_RECEIVE_TIMEOUT)
        except TimeoutError:
            return True
        return False
    finally:
        await layer.close_pools()


async def test_a_group_joined_long_ago_still_receives(
    js: JsDriver, cluster: Cluster, redis_server: RedisServer, site: Site
) -> None:
    alice = site.users["alice"]
    clients = []
    for server in range(len(cluster.servers)):
        for n in range(PER_PROCESS):
            is_alice = n == 0
            clients.append(
                await connect_client(
                    js,
                    f"expiry-{server}-{n}",
                    cluster.hub_url(server),
                    server=server,
                    user=alice.pk if is_alice else None,
                    token=alice.token if is_alice else None,
                )
            )
    try:
        members = [c for c in clients if not c.name.endswith(f"-{PER_PROCESS - 1}")]
        await bounded_gather(c.connection.invoke("Join", GROUP) for c in members)
        for client in members:
            client.groups = (GROUP,)
        started = time.monotonic()
        forgotten = await control_is_forgotten(redis_server.url)
        await asyncio.sleep(max(0.0, WAIT - (time.monotonic() - started)))
        assert forgotten, f"the layer did not forget a member after {WAIT} s: the test proves nothing"
        await check_sends(clients, alice.pk)
    finally:
        await bounded_gather(c.connection.stop() for c in clients)


async def check_sends(clients: list[Client], alice_pk: str) -> None:
    by_server = {0: [c for c in clients if c.server == 0], 1: [c for c in clients if c.server == 1]}
    failures = []
    for sender_server in (0, 1):
        sender = by_server[sender_server][-1]  # not a member: the send is not delivered locally only
        remote = by_server[1 - sender_server][1]
        tag = f"from {sender_server}"
        await sender.connection.invoke("SendToGroup", GROUP, f"group {tag}")
        await sender.connection.invoke("SendToUser", alice_pk, f"user {tag}")
        await sender.connection.invoke("SendToClient", await remote.connection.connection_id(), f"client {tag}")

        def expected(client: Client, tag: str = tag, remote: Client = remote) -> list[str]:
            want = [f"all {tag}"]
            if GROUP in client.groups:
                want.append(f"group {tag}")
            if client.user is not None:
                want.append(f"user {tag}")
            if client is remote:
                want.append(f"client {tag}")
            return want

        await sender.connection.invoke("SendToAll", f"all {tag}")
        fence = f"fence {tag}"
        problems = await check_deliveries(
            clients, expected, fence, functools.partial(sender.connection.invoke, "SendToAll", fence), DELIVERY_TIMEOUT
        )
        if problems:
            failures.append(f"sends from process {sender_server} after {WAIT} s: " + summarize(problems))
    assert not failures, "\n".join(failures)

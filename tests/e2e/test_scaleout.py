"""Three server processes (daphne and uvicorn) on one Redis channel layer, the official client.

Checks DESIGN decision 2 by counting, in every process: a send to all, a group or a user is
one layer message per process that has receivers, and the message is serialized once per
protocol, by the sender's process only. Also: groups changed and connections reached across
processes, and a connection negotiated on one process and opened on another.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request
from collections import Counter
from typing import Any

import orjson
import pytest
import websockets

from ..servers import run_checked
from .jsclient import JsConnection, JsDriver
from .server import Users

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECORD = b"\x1e"


_count = iter(range(10**9))


async def connect(js: JsDriver, url: str, **options: Any) -> JsConnection:
    return await js.connect(f"scale-{next(_count)}", url, **options)


async def reset(probes: list[JsConnection]) -> None:
    pids = {await probe.invoke("ResetStats") for probe in probes}
    assert len(pids) == len(probes), "each probe must be on its own process"


async def stats(probe: JsConnection) -> Counter[str]:
    return Counter(await probe.invoke("Stats"))


async def nothing_else_arrived(sender: JsConnection, connections: list[JsConnection]) -> None:
    """A later send to all must be the next message everywhere: no copy or stray came first."""
    fence = f"fence-{next(_count)}"
    await sender.invoke("SendToAll", fence)
    for connection in connections:
        assert await connection.next() == [fence]


async def test_send_to_all_is_one_layer_message_per_process_and_one_serialization_per_protocol(
    js: JsDriver, cluster: list[str]
) -> None:
    probes = [await connect(js, url) for url in cluster]
    others = [await connect(js, url) for url in cluster]
    packed = await connect(js, cluster[1], protocol="messagepack")
    await reset(probes)

    await probes[0].invoke("SendToAll", "to all")

    receivers = [*probes, *others, packed]
    for connection in receivers:
        assert await connection.next() == ["to all"]
    counts = [await stats(probe) for probe in probes]
    assert counts[0]["group_send signalr.send"] == 1
    assert counts[0]["serialize json"] == 1
    assert counts[0]["serialize messagepack"] == 1
    for receiving in counts[1:]:
        assert receiving["group_send signalr.send"] == 0
        assert receiving["serialize json"] == receiving["serialize messagepack"] == 0
    # Every process, the sender's included, gets the one message once (the sender skips it).
    assert [c["receive signalr.send"] for c in counts] == [1, 1, 1]
    await nothing_else_arrived(probes[0], receivers)


async def test_group_send_reaches_only_processes_with_members(js: JsDriver, cluster: list[str]) -> None:
    probes = [await connect(js, url) for url in cluster]
    members = [await connect(js, cluster[0]), await connect(js, cluster[1]), await connect(js, cluster[1])]
    group = f"group-{next(_count)}"
    for member in members:
        await member.invoke("Join", group)
    await reset(probes)

    await probes[2].invoke("SendToGroup", group, "to group")

    for member in members:
        assert await member.next() == ["to group"]
    counts = [await stats(probe) for probe in probes]
    assert counts[2]["group_send signalr.send"] == 1
    assert [c["receive signalr.send"] for c in counts] == [1, 1, 0]
    assert sum(c["serialize json"] for c in counts) == 1
    await nothing_else_arrived(probes[0], [*probes, *members])


async def test_user_send_reaches_every_connection_of_the_user_once(
    js: JsDriver, cluster: list[str], users: Users
) -> None:
    probes = [await connect(js, url) for url in cluster]
    alice = [await connect(js, url, accessToken=users["alice"].token) for url in cluster[1:]]
    await reset(probes)

    await probes[0].invoke("SendToUser", users["alice"].pk, "for alice")

    for connection in alice:
        assert await connection.next() == ["for alice"]
    counts = [await stats(probe) for probe in probes]
    assert counts[0]["group_send signalr.send"] == 1
    assert [c["receive signalr.send"] for c in counts] == [0, 1, 1]
    await nothing_else_arrived(probes[0], [*probes, *alice])


async def test_groups_and_clients_across_processes(js: JsDriver, cluster: list[str]) -> None:
    near, far, sender = [await connect(js, url) for url in cluster]
    far_id = await far.connection_id()
    group = f"remote-{next(_count)}"

    await near.invoke("AddToGroup", far_id, group)  # far lives on another process
    await sender.invoke("SendToGroup", group, "joined from afar")
    assert await far.next() == ["joined from afar"]

    await near.invoke("SendToClient", far_id, "direct")
    assert await far.next() == ["direct"]
    await nothing_else_arrived(sender, [near, far, sender])


def negotiate(url: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/negotiate?negotiateVersion=1", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_negotiate_on_one_process_and_open_the_socket_on_another(cluster: list[str]) -> None:
    negotiated = negotiate(cluster[0])
    socket_url = cluster[1].replace("http://", "ws://") + f"?id={negotiated['connectionToken']}"
    async with websockets.connect(socket_url, open_timeout=5, close_timeout=2) as socket:
        await socket.send('{"protocol":"json","version":1}\x1e')
        assert await socket.recv(decode=False) == b"{}" + RECORD
        await socket.send('{"type":1,"invocationId":"1","target":"ConnectionId","arguments":[]}\x1e')
        completion = orjson.loads((await socket.recv(decode=False)).rstrip(RECORD))
        assert completion == {"type": 3, "invocationId": "1", "result": negotiated["connectionId"]}
    with pytest.raises(websockets.InvalidStatus):  # a token opens one connection only
        async with websockets.connect(socket_url, open_timeout=5):
            pass


SEND_FROM_OUTSIDE = """
import django
django.setup()
from asgiref.sync import async_to_sync
from django_signalr import get_hub_context
from tests.e2e.scaleout.hubs import ScaleHub
async_to_sync(get_hub_context(ScaleHub).clients.all.send)("Receive", "from a script")
"""


async def test_hub_context_from_a_process_that_serves_nothing(
    js: JsDriver, cluster: list[str], cluster_env: dict[str, str]
) -> None:
    receivers = [await connect(js, url) for url in cluster]
    await asyncio.to_thread(run_checked, [sys.executable, "-c", SEND_FROM_OUTSIDE], cluster_env, 60)
    for connection in receivers:
        assert await connection.next() == ["from a script"]


async def test_uvicorn_refuses_websockets_with_aspnet_status(cluster: list[str]) -> None:
    """uvicorn lets an application answer a WebSocket request with HTTP (ASGI's
    websocket.http.response); daphne does not, so there a refusal is a 403."""
    token = negotiate(cluster[2])["connectionToken"]
    url = cluster[2].replace("http://", "ws://") + f"?id={token}"  # the uvicorn process
    async with websockets.connect(url, open_timeout=5):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, open_timeout=5):
                pass
    assert refused.value.response.status_code == 409  # a second socket for one connection

"""Automatic reconnect of the official JS client (``withAutomaticReconnect()``) on every
transport x protocol pair (PROTOCOL.md section 3, "Close handling"):

- a Close with ``allowReconnect`` -- sent when a message is over the hub's
  ``maximum_receive_message_size`` (``SmallHub``, 1,024 bytes) -- makes the client reconnect:
  ``onreconnecting`` with the close error, a new negotiate, ``onreconnected`` with a NEW
  connection id, and the connection works again;
- a Close without ``allowReconnect`` -- ``self.context.abort()`` -- stops it for good:
  ``onclose`` without error, no reconnect.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver
from .pairs import connect_pair, each_pair, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")


SMALL_LIMIT = 1024
CLOSED_WITH_ERROR = "Server returned an error on close: Connection closed with an error."


async def connect(js: JsDriver, base_url: str, pair: tuple[str, str], hub: str, **options: Any) -> JsConnection:
    return await connect_pair(js, base_url, pair, hub, automaticReconnect=True, **options)


@each_pair
async def test_close_with_allow_reconnect_reconnects_with_a_new_id(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    connection = await connect(js, base_url, pair, "small")
    old_id = await connection.connection_id()
    assert await connection.invoke("Echo", "before") == "before"

    await connection.send("Echo", "x" * (SMALL_LIMIT + 100))
    assert await connection.event() == {"event": "reconnecting", "error": CLOSED_WITH_ERROR}
    reconnected = await connection.event(timeout=5)
    assert reconnected["event"] == "reconnected"
    new_id = reconnected["connectionId"]
    assert new_id
    assert new_id != old_id
    assert await connection.connection_id() == new_id
    assert await connection.state() == "Connected"

    info = await connection.invoke("ContextInfo")
    assert (info["connection_id"], info["transport"], info["protocol"]) == (new_id, *pair)
    assert await connection.invoke("Echo", "after") == "after"
    await connection.send("SendToCaller", "pushed")
    assert await connection.next() == ["pushed"]
    assert await connection.events() == []


@each_pair
async def test_a_reconnected_client_can_be_sent_to_by_its_new_id(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    """The old id is gone from the server; the new one is reachable from another client."""
    connection = await connect(js, base_url, pair, "small")
    sender = await js.connect(unique("sender"), f"{base_url}/hubs/small")
    old_id = await connection.connection_id()
    await connection.send("Echo", "x" * (SMALL_LIMIT + 100))
    assert (await connection.event())["event"] == "reconnecting"
    new_id = (await connection.event(timeout=5))["connectionId"]
    await sender.invoke("SendToClient", old_id, "to the old id")
    await sender.invoke("SendToClient", new_id, "to the new id")
    assert await connection.next() == ["to the new id"]
    await asyncio.sleep(0.2)
    assert await connection.drain() == []


@each_pair
async def test_abort_stops_without_reconnecting(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair, "echo")
    assert await connection.invoke("Echo", "before") == "before"
    await connection.send("Abort")
    assert await connection.event() == {"event": "close", "error": None}
    await asyncio.sleep(0.5)  # a reconnect would start at once (first delay: 0)
    assert await connection.events() == []
    assert await connection.state() == "Disconnected"


@each_pair
async def test_the_detailed_close_error_reaches_onreconnecting(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    """With detailed errors the Close says why; the client hands that text to ``onreconnecting``."""
    connection = await connect(js, base_url, pair, "small-detailed")
    await connection.send("Echo", "x" * (SMALL_LIMIT + 100))
    event = await connection.event()
    assert event["event"] == "reconnecting"
    assert event["error"] == (
        f"{CLOSED_WITH_ERROR} InvalidDataException: The maximum message size of {SMALL_LIMIT}B was exceeded. "
        "The message size can be configured in AddHubOptions."
    )
    assert (await connection.event(timeout=5))["event"] == "reconnected"
    assert await connection.invoke("Echo", "again") == "again"


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_allow_reconnect_on_a_stateful_connection(js: JsDriver, base_url: str, protocol: str) -> None:
    """With stateful reconnect too, the Close ends the logical connection: the client may try
    the old token once (PROTOCOL.md section 4, quirk), is refused, and starts over with a new
    negotiate and a new id."""
    connection = await connect(js, base_url, ("WebSockets", protocol), "small", statefulReconnect=True)
    old_id = await connection.connection_id()
    await connection.send("Echo", "x" * (SMALL_LIMIT + 100))
    assert await connection.event() == {"event": "reconnecting", "error": CLOSED_WITH_ERROR}
    reconnected = await connection.event(timeout=5)
    assert reconnected["event"] == "reconnected"
    assert reconnected["connectionId"] not in (None, old_id)
    assert await connection.features() == {"reconnect": True}
    assert await connection.invoke("Echo", "after") == "after"

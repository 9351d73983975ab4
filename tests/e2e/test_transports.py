"""The official JS client (@microsoft/signalr 10.0.11) on every transport and protocol it can
combine: WebSockets, Server-Sent Events and Long Polling, JSON and MessagePack (PROTOCOL.md
section 2; SSE is Text-only, so there is no SSE + MessagePack pair).

Each test forces one transport, so a server that silently fell back would not pass: the hub
reports the transport and protocol it sees (``EchoHub.context_info``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver, JsError
from .pairs import connect_pair, each_pair, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def connect(
    js: JsDriver, base_url: str, pair: tuple[str, str], hub: str = "echo", **options: Any
) -> JsConnection:
    return await connect_pair(js, base_url, pair, hub, **options)


async def assert_fenced(sender: JsConnection, receivers: list[JsConnection], others: list[JsConnection]) -> None:
    """Each receiver got exactly one message before the fence; the others got none."""
    fence = unique("fence")
    await sender.invoke("SendToAll", fence)
    for connection in [*others, *receivers]:
        assert await connection.next() == [fence], f"{connection.name} got a message it should not have"


async def next_left(witness: JsConnection, connection_id: str | None) -> list[Any]:
    """The next ``Left`` (PresenceHub.on_disconnected) of ``connection_id``; other connections
    (those of earlier tests, stopped at their teardown) may still be leaving."""
    assert connection_id is not None
    while True:
        left = await witness.next("Left")
        if left[0] == connection_id:
            return left


# -- every transport x protocol pair ---------------------------------------------------------


@each_pair
async def test_invoke_returns_the_result(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    assert await connection.invoke("Echo", "héllo ✓ 🎉") == "héllo ✓ 🎉"
    assert await connection.invoke("Add", 2, 3) == 5
    assert await connection.invoke("Nothing") is None
    info = await connection.invoke("ContextInfo")
    assert (info["transport"], info["protocol"]) == pair
    assert info["connection_id"] == await connection.connection_id()


@each_pair
async def test_send_causes_a_server_push(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    await connection.send("SendToCaller", "pushed")
    assert await connection.next() == ["pushed"]


@each_pair
async def test_push_to_caller_others_and_group(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    a, b, c = [await connect(js, base_url, pair) for _ in range(3)]

    await a.invoke("SendToCaller", "to caller")
    assert await a.next() == ["to caller"]
    await assert_fenced(a, [a], [b, c])

    await a.invoke("SendToOthers", "to others")
    assert await b.next() == ["to others"]
    assert await c.next() == ["to others"]
    await assert_fenced(a, [b, c], [a])

    group = unique("group")
    await a.invoke("Join", group)
    await b.invoke("Join", group)
    await c.invoke("SendToGroup", group, "to group")
    assert await a.next() == ["to group"]
    assert await b.next() == ["to group"]
    await assert_fenced(c, [a, b], [c])

    await a.invoke("Leave", group)
    await c.invoke("SendToGroup", group, "after leave")
    assert await b.next() == ["after leave"]
    await assert_fenced(c, [b], [a, c])


@each_pair
async def test_errors_reach_the_client_and_the_connection_stays(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    connection = await connect(js, base_url, pair)
    with pytest.raises(JsError) as raised:
        await connection.invoke("Fail", "nope ✓")
    assert str(raised.value) == "An unexpected error occurred invoking 'Fail' on the server. HubException: nope ✓"
    with pytest.raises(JsError) as raised:
        await connection.invoke("Crash")
    assert str(raised.value) == "An unexpected error occurred invoking 'Crash' on the server."
    assert await connection.invoke("Echo", "still connected") == "still connected"
    assert await connection.state() == "Connected"


@each_pair
async def test_one_megabyte_round_trip(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """Under a raised ``maximum_receive_message_size``, 1 MB goes up and comes back whole.
    (ASCII, so that the record stays under daphne's own 1 MiB WebSocket message limit.)"""
    connection = await connect(js, base_url, pair, hub="big")
    text = "".join(f"{i:07d}," for i in range(125_000))  # 1,000,000 characters and bytes
    echoed = await connection.invoke("Echo", text, timeout=30)
    assert isinstance(echoed, str)
    assert len(echoed) == len(text) == 1_000_000
    assert echoed == text
    assert await connection.invoke("Echo", "after") == "after"


@each_pair
async def test_clean_stop_calls_on_disconnected_once(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    witness = await connect(js, base_url, ("WebSockets", "json"), hub="presence", listen=["Left"])
    leaving = await connect(js, base_url, pair, hub="presence")
    leaving_id = await leaving.connection_id()
    await leaving.stop()
    assert await leaving.state() == "Disconnected"
    assert await leaving.closed() is None
    assert await next_left(witness, leaving_id) == [leaving_id, None]
    await asyncio.sleep(0.5)
    again = [left for left in await witness.drain("Left") if left[0] == leaving_id]
    assert again == [], "on_disconnected ran more than once"


@each_pair
async def test_server_abort_closes_cleanly(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """``context.abort()``: a Close without error reaches the client on every transport."""
    witness = await connect(js, base_url, ("WebSockets", "json"), hub="presence", listen=["Left"])
    leaving = await connect(js, base_url, pair, hub="presence")
    leaving_id = await leaving.connection_id()
    await leaving.send("Abort")
    assert await leaving.closed() is None
    assert await leaving.state() == "Disconnected"
    assert await next_left(witness, leaving_id) == [leaving_id, None]


JSON_VALUES = {
    "bytes": "AQID",
    "when": "2000-01-01T00:00:00Z",
    "id": "00010203-0405-0607-0706-050403020100",
    "point": {"x": 1, "y": 2, "label": "p"},
}
# The driver writes a Uint8Array as {"$bytes": base64} and a Date as Date.toJSON() (with
# milliseconds): a string would come through unchanged, as in JSON_VALUES.
MESSAGEPACK_VALUES = {**JSON_VALUES, "bytes": {"$bytes": "AQID"}, "when": "2000-01-01T00:00:00.000Z"}


@each_pair
async def test_values_by_protocol(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """MessagePack: bytes arrive as Uint8Array, datetimes as Date; JSON: base64 and ISO strings."""
    connection = await connect(js, base_url, pair)
    expected = MESSAGEPACK_VALUES if pair[1] == "messagepack" else JSON_VALUES
    assert await connection.invoke("Values") == expected


# -- transport selection -----------------------------------------------------------------------


async def test_server_sent_events_with_messagepack_is_refused_by_the_client(js: JsDriver, base_url: str) -> None:
    with pytest.raises(JsError) as raised:
        await connect(js, base_url, ("ServerSentEvents", "messagepack"))
    assert str(raised.value) == (
        "Unable to connect to the server with any of the available transports. "
        "WebSockets failed: Error: 'WebSockets' is disabled by the client. "
        "ServerSentEvents failed: Error: 'ServerSentEvents' does not support Binary. "
        "LongPolling failed: Error: 'LongPolling' is disabled by the client."
    )


@pytest.mark.parametrize(
    ("hub", "protocol", "transport"),
    [
        ("echo", "json", "WebSockets"),
        ("echo", "messagepack", "WebSockets"),
        ("echo-http", "json", "ServerSentEvents"),
        ("echo-http", "messagepack", "LongPolling"),
    ],
)
async def test_default_client_takes_the_first_transport_that_fits(
    js: JsDriver, base_url: str, hub: str, protocol: str, transport: str
) -> None:
    """No forced transport: the server's order, skipping SSE for MessagePack (Binary)."""
    connection = await js.connect(unique("default"), f"{base_url}/hubs/{hub}", protocol=protocol)
    info = await connection.invoke("ContextInfo")
    assert (info["transport"], info["protocol"]) == (transport, protocol)
    await connection.send("SendToCaller", "pushed")
    assert await connection.next() == ["pushed"]
    await connection.stop()
    assert await connection.closed() is None

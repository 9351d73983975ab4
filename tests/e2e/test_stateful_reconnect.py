"""Stateful reconnect (PROTOCOL.md section 4) with the official JS client built with
``withStatefulReconnect()`` over WebSockets, JSON and MessagePack, and with a raw
``websockets`` client where the client's own behaviour is in the way.

While numbered messages flow both ways -- the client ``send``s ``Record(n)`` (kept per
connection by ``NumberedHub``), the server pushes ``Numbered(n)`` to the caller with
``await self.clients.caller.send`` -- the client's TCP connection is dropped without a close
frame several times (the driver's ``terminate``). Every message must arrive exactly once and in
order, both ways, on the same connection id, with no ``onreconnecting``. Each message carries
padding so that both directions outgrow the 100,000-byte buffers: senders wait for Acks.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from .jsclient import JsConnection, JsDriver
from .pairs import unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 5.0
RS = "\x1e"
COUNT = 1000
PADDING = "x" * 150  # 1,000 messages of ~200 bytes: twice the stateful buffer each way
DROPS = 3


async def connect_stateful(
    js: JsDriver, base_url: str, protocol: str, hub: str = "numbered", **options: Any
) -> JsConnection:
    return await js.connect(
        unique(f"stateful-{protocol}"),
        f"{base_url}/hubs/{hub}",
        transport="WebSockets",
        protocol=protocol,
        statefulReconnect=True,
        **options,
    )


async def eventually(probe: Any, expected: Any, timeout: float = TIMEOUT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await probe()) != expected:
        assert loop.time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)
    return value


async def negotiate(base_url: str, hub: str, query: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
        session.post(f"{base_url}/hubs/{hub}/negotiate?{query}") as response,
    ):
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def send_status(base_url: str, hub: str, token: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
        session.post(f"{base_url}/hubs/{hub}", params={"id": token}, data=b"") as response,
    ):
        return response.status


def ws_url(base_url: str, hub: str, token: str) -> str:
    return base_url.replace("http://", "ws://", 1) + f"/hubs/{hub}?id={token}"


async def assert_refused(url: str) -> None:
    """The upgrade is answered 403 (a close before accept, as daphne sends it)."""
    with pytest.raises(InvalidStatus) as refused:
        await _open_and_close(url)
    assert refused.value.response.status_code == 403


async def _open_and_close(url: str) -> None:
    socket = await connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT)
    await socket.close()


# -- negotiate ---------------------------------------------------------------------------------


async def test_negotiate_answers_use_stateful_reconnect(base_url: str) -> None:
    asked = await negotiate(base_url, "numbered", "negotiateVersion=1&useStatefulReconnect=true")
    assert asked["useStatefulReconnect"] is True
    assert next(iter(asked)) == "useStatefulReconnect"  # the .NET writer's order
    not_asked = await negotiate(base_url, "numbered", "negotiateVersion=1")
    assert "useStatefulReconnect" not in not_asked


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_the_client_uses_it_over_websockets_only(js: JsDriver, base_url: str, protocol: str) -> None:
    stateful = await connect_stateful(js, base_url, protocol)
    assert await stateful.features() == {"reconnect": True}
    over_lp = await js.connect(
        unique("stateful-lp"),
        f"{base_url}/hubs/numbered",
        transport="LongPolling",
        protocol=protocol,
        statefulReconnect=True,
    )
    assert await over_lp.features() == {"reconnect": False}
    assert await over_lp.invoke("Echo", "lp") == "lp"


# -- dropped sockets ---------------------------------------------------------------------------


async def drop(connection: JsConnection) -> None:
    """Wait for the WebSocket to be open (a reconnect in progress would fail), then drop it."""
    await eventually(connection.socket_open, True)
    await connection.terminate()


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_messages_survive_dropped_sockets(js: JsDriver, base_url: str, protocol: str) -> None:
    connection = await connect_stateful(js, base_url, protocol, listen=["Numbered"])
    connection_id = await connection.connection_id()
    assert await connection.invoke("ConnectionId") == connection_id
    first_socket = await connection.socket_url()

    push = asyncio.ensure_future(connection.invoke("PushNumbered", COUNT, PADDING, timeout=60))
    sends = asyncio.ensure_future(connection.send_many("Record", 0, COUNT, PADDING, timeout=60))
    try:
        await asyncio.sleep(0.2)
        assert not push.done(), "the messages were all through before the first drop"
        for _ in range(DROPS):
            await drop(connection)
            await asyncio.sleep(0.4)
        assert await push == COUNT
        await sends
    finally:
        for task in (push, sends):
            if not task.done():
                task.cancel()

    received = [arguments[0] for arguments in await connection.drain("Numbered")]
    assert received == list(range(COUNT)), "server to client: lost, repeated or reordered"
    recorded = await eventually(lambda: _length(connection), COUNT, timeout=10)
    assert recorded == COUNT
    assert await connection.invoke("Recorded") == list(range(COUNT)), "client to server: lost, repeated or reordered"

    assert await connection.connection_id() == connection_id
    assert await connection.invoke("ConnectionId") == connection_id
    assert await connection.socket_url() == first_socket  # the same token, no new negotiate
    assert await connection.events() == [], "onreconnecting/onreconnected/onclose fired"
    assert await connection.state() == "Connected"


async def _length(connection: JsConnection) -> int:
    return len(await connection.invoke("Recorded"))


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_invocations_and_streams_in_flight_complete(js: JsDriver, base_url: str, protocol: str) -> None:
    connection = await connect_stateful(js, base_url, protocol)
    slow = await connection.invoke_start("Slow", 0.6, "done")
    counter = await connection.stream("Counter", 30, 0.02)
    subject = await connection.subject()
    upload = await connection.invoke_start("Upload", subject)
    await subject.next("a", "b")
    await drop(connection)
    await subject.next("c")
    await drop(connection)
    await subject.complete()
    assert await slow.result() == "done"
    assert await counter.end() == (list(range(30)), None)
    assert await upload.result() == ["a", "b", "c"]
    assert await connection.events() == []


# -- the end of a stateful connection ----------------------------------------------------------


async def test_graceful_stop_forgets_the_token(js: JsDriver, base_url: str) -> None:
    """After a drop and a resume, a client ``stop()`` (a Close message, a close frame) ends the
    connection at once: ``on_disconnected`` runs once, without error; the token is forgotten
    (a send gets 404, a WebSocket is refused)."""
    witness = await js.connect(unique("witness"), f"{base_url}/hubs/quick-dispose", listen=["Left"])
    connection = await connect_stateful(js, base_url, "json", hub="quick-dispose")
    connection_id = await connection.connection_id()
    url = await connection.socket_url()
    assert url is not None
    token = parse_qs(urlsplit(url).query)["id"][0]
    assert await send_status(base_url, "quick-dispose", token) == 405  # known, and a WebSocket connection
    await drop(connection)
    assert await connection.invoke("ConnectionId") == connection_id
    await connection.stop()
    assert await connection.closed() is None
    assert await witness.next("Left") == [connection_id, None]
    assert await send_status(base_url, "quick-dispose", token) == 404
    await assert_refused(ws_url(base_url, "quick-dispose", token))
    await asyncio.sleep(1.2)  # past DISCONNECT_TIMEOUT: no second on_disconnected
    assert await witness.drain("Left") == []


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_a_client_result_awaited_across_a_drop(js: JsDriver, base_url: str, protocol: str) -> None:
    """The server waits for the caller's answer while its socket is replaced."""
    connection = await connect_stateful(js, base_url, protocol)
    await connection.handle("Answer", "value", value="answered", delayMs=400)
    call = await connection.invoke_start("AskCaller", "still there?")
    assert await connection.next("Answer") == ["still there?"]
    await drop(connection)
    assert await call.result() == "answered"
    assert await connection.events() == []


class RawStateful:
    """A hand-made stateful JSON client: negotiate v1 with ``useStatefulReconnect``, the
    handshake at version 2, and records read whatever the frames (Pings and Acks skipped)."""

    def __init__(self, base_url: str, hub: str) -> None:
        self.base_url = base_url
        self.hub = hub
        self.token = ""
        self.connection_id = ""
        self.socket: ClientConnection | None = None
        self.buffer = ""

    async def start(self) -> None:
        negotiated = await negotiate(self.base_url, self.hub, "negotiateVersion=1&useStatefulReconnect=true")
        assert negotiated["useStatefulReconnect"] is True
        self.token, self.connection_id = negotiated["connectionToken"], negotiated["connectionId"]
        await self.open()
        await self.write({"protocol": "json", "version": 2})
        assert await self.next() == {}

    async def open(self) -> None:
        self.buffer = ""
        self.socket = await connect(ws_url(self.base_url, self.hub, self.token), open_timeout=TIMEOUT)

    async def write(self, message: dict[str, Any]) -> None:
        assert self.socket is not None
        await self.socket.send(json.dumps(message) + RS)

    async def next(self) -> dict[str, Any]:
        assert self.socket is not None
        while True:
            while RS in self.buffer:
                record, self.buffer = self.buffer.split(RS, 1)
                message: dict[str, Any] = json.loads(record)
                if message.get("type") not in (6, 8):  # Ping, Ack
                    return message
            frame = await asyncio.wait_for(self.socket.recv(), TIMEOUT)
            self.buffer += frame if isinstance(frame, str) else frame.decode()

    def drop(self) -> None:
        """Close the TCP connection without a close frame."""
        assert self.socket is not None
        self.socket.transport.abort()


async def test_a_raw_client_resumes_with_sequence(js: JsDriver, base_url: str) -> None:
    """After a drop the server answers the same token with ``Sequence`` and every message not
    acknowledged (here: the completion of invocation 1 and the push it caused), and skips what
    the client sends again."""
    witness = await js.connect(unique("witness"), f"{base_url}/hubs/quick-dispose", listen=["Left"])
    client = RawStateful(base_url, "quick-dispose")
    await client.start()
    await client.write({"type": 1, "invocationId": "1", "target": "SendToCaller", "arguments": ["pushed"]})
    assert await client.next() == {"type": 1, "target": "Receive", "arguments": ["pushed"]}
    assert await client.next() == {"type": 3, "invocationId": "1", "result": None}
    client.drop()
    await asyncio.sleep(0.2)
    await client.open()  # the same token
    assert await client.next() == {"type": 9, "sequenceId": 1}
    assert await client.next() == {"type": 1, "target": "Receive", "arguments": ["pushed"]}
    assert await client.next() == {"type": 3, "invocationId": "1", "result": None}
    # The client had its one message acknowledged? Not yet (Acks come each second): it sends
    # it again after its own Sequence; the server must skip it, then run the new one.
    await client.write({"type": 9, "sequenceId": 1})
    await client.write({"type": 1, "invocationId": "1", "target": "SendToCaller", "arguments": ["pushed"]})
    await client.write({"type": 1, "invocationId": "2", "target": "ConnectionId", "arguments": []})
    assert await client.next() == {"type": 3, "invocationId": "2", "result": client.connection_id}
    await client.write({"type": 8, "sequenceId": 4})
    await client.write({"type": 7})
    assert await client.next() == {"type": 7}
    assert await witness.next("Left") == [client.connection_id, None]


async def test_a_client_that_does_not_come_back_is_disconnected(js: JsDriver, base_url: str) -> None:
    """``disconnect_timeout = 1``: ``on_disconnected`` runs (with the error) about a second
    after the drop, and the token is refused from then on."""
    witness = await js.connect(unique("witness"), f"{base_url}/hubs/quick-dispose", listen=["Left"])
    client = RawStateful(base_url, "quick-dispose")
    await client.start()
    await client.write({"type": 1, "invocationId": "1", "target": "ConnectionId", "arguments": []})
    assert await client.next() == {"type": 3, "invocationId": "1", "result": client.connection_id}
    loop = asyncio.get_running_loop()
    dropped = loop.time()
    client.drop()
    await asyncio.sleep(0.3)
    assert await witness.drain("Left") == [], "disposed before DISCONNECT_TIMEOUT"
    left = await witness.next("Left", timeout=5)
    assert left == [client.connection_id, "ConnectionResetError"]
    assert 0.8 <= loop.time() - dropped < 4
    await assert_refused(ws_url(base_url, "quick-dispose", client.token))
    assert await send_status(base_url, "quick-dispose", client.token) == 404


async def test_server_abort_ends_a_stateful_connection(js: JsDriver, base_url: str) -> None:
    """``context.abort()``: a Close without reconnect; the client stops, whatever it tries
    with the old token (PROTOCOL.md section 4, quirk), and never reports reconnecting."""
    connection = await connect_stateful(js, base_url, "json", hub="echo", automaticReconnect=True)
    await connection.send("Abort")
    assert await connection.closed() is None
    assert await connection.state() == "Disconnected"
    await asyncio.sleep(0.3)
    assert [event["event"] for event in await connection.events()] == ["close"]

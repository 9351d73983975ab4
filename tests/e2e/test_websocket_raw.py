"""The WebSocket endpoint spoken to byte by byte (``websockets``) through the live daphne:
which upgrades are refused (PROTOCOL.md section 2, API.md authentication) and how records are
framed (PROTOCOL.md section 3)."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from .server import Users

TIMEOUT = 5.0
RS = "\x1e"
HANDSHAKE = json.dumps({"protocol": "json", "version": 1}) + RS


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def negotiate(base_url: str, hub: str = "echo") -> dict[str, Any]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
    try:
        connection.request("POST", f"/hubs/{hub}/negotiate?negotiateVersion=1", body=b"")
        body: dict[str, Any] = json.loads(connection.getresponse().read())
        return body
    finally:
        connection.close()


class Records:
    """Reads JSON records from a socket, whatever the frames (pings skipped)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.buffer = ""

    async def next(self) -> dict[str, Any]:
        while True:
            while RS in self.buffer:
                record, self.buffer = self.buffer.split(RS, 1)
                message: dict[str, Any] = json.loads(record)
                if message.get("type") != 6:
                    return message
            frame = await asyncio.wait_for(self.socket.recv(), TIMEOUT)
            self.buffer += frame if isinstance(frame, str) else frame.decode()


async def open_hub(url: str, **options: Any) -> tuple[ClientConnection, Records]:
    socket = await connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)
    await socket.send(HANDSHAKE)
    records = Records(socket)
    assert await records.next() == {}
    return socket, records


def invocation(invocation_id: str, target: str, *args: Any) -> str:
    message = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}
    return json.dumps(message) + RS


async def open_and_close(url: str, **options: Any) -> None:
    socket = await connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, **options)
    await socket.close()


async def assert_refused(url: str, **options: Any) -> None:
    """The upgrade is answered 403 (a close before accept, as daphne and uvicorn send it)."""
    with pytest.raises(InvalidStatus) as refused:
        await open_and_close(url, **options)
    assert refused.value.response.status_code == 403


async def test_access_token_query_parameter_authenticates_the_websocket(base_url: str, users: Users) -> None:
    await assert_refused(ws_url(base_url, "/hubs/secret"))
    url = ws_url(base_url, f"/hubs/secret?access_token={users['alice'].token}")
    socket, records = await open_hub(url)
    async with socket:
        await socket.send(invocation("1", "Secret"))
        assert await records.next() == {"type": 3, "invocationId": "1", "result": "42"}


async def test_a_connection_token_opens_one_websocket_only(base_url: str) -> None:
    negotiated = negotiate(base_url)
    url = ws_url(base_url, f"/hubs/echo?id={negotiated['connectionToken']}")
    socket, records = await open_hub(url)
    async with socket:
        await assert_refused(url)
        await socket.send(invocation("1", "ConnectionId"))
        assert await records.next() == {"type": 3, "invocationId": "1", "result": negotiated["connectionId"]}


@pytest.mark.parametrize("which", ["connection-id", "unknown"])
async def test_only_the_secret_token_names_a_connection(base_url: str, which: str) -> None:
    negotiated = negotiate(base_url)
    wrong = negotiated["connectionId"] if which == "connection-id" else "nope"
    await assert_refused(ws_url(base_url, f"/hubs/echo?id={wrong}"))


@pytest.mark.parametrize(("origin", "allowed"), [("http://evil.example", False), ("http://localhost:1234", True)])
async def test_browser_origins_are_checked_against_allowed_hosts(base_url: str, origin: str, allowed: bool) -> None:
    url = ws_url(base_url, "/hubs/echo")
    if not allowed:
        await assert_refused(url, origin=origin)
        return
    socket, records = await open_hub(url, origin=origin)
    async with socket:
        await socket.send(invocation("1", "Echo", "ok"))
        assert await records.next() == {"type": 3, "invocationId": "1", "result": "ok"}


async def test_records_are_parsed_across_frames(base_url: str) -> None:
    """The handshake and two invocations in one frame, then one invocation split in two frames."""
    async with connect(ws_url(base_url, "/hubs/echo"), open_timeout=TIMEOUT, close_timeout=TIMEOUT) as socket:
        await socket.send(HANDSHAKE + invocation("1", "Echo", "a") + invocation("2", "Add", 1, 2))
        records = Records(socket)
        assert await records.next() == {}
        assert await records.next() == {"type": 3, "invocationId": "1", "result": "a"}
        assert await records.next() == {"type": 3, "invocationId": "2", "result": 3}
        split = invocation("3", "Echo", "split ✓")
        await socket.send(split[:20])
        await socket.send(split[20:])
        assert await records.next() == {"type": 3, "invocationId": "3", "result": "split ✓"}

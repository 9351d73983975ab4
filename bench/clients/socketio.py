"""Minimal Socket.IO v5 over Engine.IO v4 client, WebSocket transport only.

Connects straight to ``/socket.io/?EIO=4&transport=websocket`` (no polling
upgrade), joins the default namespace with ``40`` and uses acknowledgements
for echo: ``42<id>["echo",p]`` is answered by ``43<id>[p]``. Broadcasts arrive
as ``42["receive",b]``. Engine.IO pings (``2``) must be answered with ``3``.

Send to a connection: ``42["to_me",p]`` (no ack) is answered by the server's
``emit("echoed", p, to=sid)``, i.e. ``42["echoed",p]``. Groups: ``42<id>["join",g]``
is acknowledged with ``43<id>["joined"]``; ``42["group",g,b]`` (the event's
arguments are ``[group, body]``) makes the server ``emit("receive", b, room=g)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from bench.clients import rawws
from bench.clients.base import Parsed, ProtocolError, WireProtocol, ws_url


class SocketIOProtocol(WireProtocol[str]):
    """Client side of ``bench.servers.socketio_app``."""

    name = "socketio"

    def __init__(self) -> None:
        """Start with no echo message; :meth:`set_echo_payload` builds it."""
        super().__init__()
        self._echo_body = ""
        self._payload_json = ""
        self._to_me = ""
        self._join_seq = 0

    def set_echo_payload(self, payload: str, *, via_connection: bool = False) -> None:
        """Pre-encode the echo event arguments (and the ``to_me`` event)."""
        super().set_echo_payload(payload, via_connection=via_connection)
        self._echo_body = orjson.dumps(["echo", payload]).decode()
        self._payload_json = orjson.dumps([payload]).decode()
        self._to_me = "42" + orjson.dumps(["to_me", payload]).decode() if via_connection else ""

    async def open(
        self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float
    ) -> rawws.RawWebSocket[str]:
        """Open the Engine.IO socket and connect the default namespace."""
        ws = await rawws.connect(ws_url(base_url, path) + "?EIO=4&transport=websocket", timeout)

        async def handshake() -> rawws.RawWebSocket[str]:
            opened = await ws.recv(timeout)
            if not opened.startswith("0"):
                raise ProtocolError(f"expected Engine.IO open packet, got {opened[:80]!r}")
            ws.send_text("40")
            while True:
                message = await ws.recv(timeout)
                if message.startswith("40"):
                    return ws
                if message == "2":
                    ws.send_text("3")
                    continue
                raise ProtocolError(f"namespace connect refused: {message[:80]!r}")

        try:
            return await asyncio.wait_for(handshake(), timeout)
        except BaseException:
            ws.close()
            raise

    def echo_request(self, seq: int) -> str:
        """Emit ``echo`` with acknowledgement id ``seq`` (or, via the connection, ``to_me`` without ack)."""
        if self._to_me:
            return self._to_me
        return f"42{seq}{self._echo_body}"

    def broadcast_request(self, body: dict[str, Any]) -> str:
        """Emit ``broadcast`` (no ack)."""
        return "42" + orjson.dumps(["broadcast", body]).decode()

    def join_request(self, group: str) -> str:
        """Emit ``join`` with an acknowledgement id; the ack is ``["joined"]``."""
        self._join_seq += 1
        return f"42{self._join_seq}" + orjson.dumps(["join", group]).decode()

    def group_request(self, group: str, body: dict[str, Any]) -> str:
        """Emit ``group`` with arguments ``group, body`` (no ack)."""
        return "42" + orjson.dumps(["group", group, body]).decode()

    def parse(self, message: str) -> Parsed:
        """Recognise an ack, a ``receive`` event or an Engine.IO ping."""
        if message.startswith("42"):
            event = orjson.loads(message[2:])
            if event[0] == "receive":
                return Parsed(broadcasts=[event[1]])
            if event[0] == "echoed":
                if event[1:] != [self.echo_payload]:
                    raise ProtocolError("echo payload mismatch")
                return Parsed(echoes=1)
            raise ProtocolError(f"unexpected event {message[:80]!r}")
        if message.startswith("43"):
            start = message.index("[")
            if message[start:] != self._payload_json:
                acked = orjson.loads(message[start:])
                if acked == ["joined"]:
                    return Parsed(acks=1)
                if acked != [self.echo_payload]:
                    raise ProtocolError("echo payload mismatch")
            return Parsed(echoes=1)
        if message == "2":
            return Parsed(reply="3")
        if message.startswith("41") or message.startswith("1"):
            raise ProtocolError(f"server closed the session: {message[:80]!r}")
        return Parsed()

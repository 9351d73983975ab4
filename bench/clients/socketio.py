"""Minimal Socket.IO v5 over Engine.IO v4 client, WebSocket transport only.

Connects straight to ``/socket.io/?EIO=4&transport=websocket`` (no polling
upgrade), joins the default namespace with ``40`` and uses acknowledgements
for echo: ``42<id>["echo",p]`` is answered by ``43<id>[p]``. Broadcasts arrive
as ``42["receive",b]``. Engine.IO pings (``2``) must be answered with ``3``.
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

    def set_echo_payload(self, payload: str) -> None:
        """Pre-encode the echo event arguments."""
        super().set_echo_payload(payload)
        self._echo_body = orjson.dumps(["echo", payload]).decode()
        self._payload_json = orjson.dumps([payload]).decode()

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
        """Emit ``echo`` with acknowledgement id ``seq``."""
        return f"42{seq}{self._echo_body}"

    def broadcast_request(self, body: dict[str, Any]) -> str:
        """Emit ``broadcast`` (no ack)."""
        return "42" + orjson.dumps(["broadcast", body]).decode()

    def parse(self, message: str) -> Parsed:
        """Recognise an ack, a ``receive`` event or an Engine.IO ping."""
        if message.startswith("42"):
            event = orjson.loads(message[2:])
            if event[0] == "receive":
                return Parsed(broadcasts=[event[1]])
            raise ProtocolError(f"unexpected event {message[:80]!r}")
        if message.startswith("43"):
            start = message.index("[")
            if message[start:] != self._payload_json and orjson.loads(message[start:]) != [self.echo_payload]:
                raise ProtocolError("echo payload mismatch")
            return Parsed(echoes=1)
        if message == "2":
            return Parsed(reply="3")
        if message.startswith("41") or message.startswith("1"):
            raise ProtocolError(f"server closed the session: {message[:80]!r}")
        return Parsed()

"""The ad-hoc JSON protocol of the two hand-written Channels consumers.

``{"op": "echo", "payload": p}`` is answered with the same object;
``{"op": "broadcast", "payload": b}`` makes every connection receive
``{"op": "receive", "payload": b}``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from bench.clients import rawws
from bench.clients.base import Parsed, ProtocolError, WireProtocol, ws_url


class PlainProtocol(WireProtocol[str]):
    """Client side of ``bench.servers.channels_consumers``."""

    name = "plain"

    def __init__(self) -> None:
        """Start with no echo message; :meth:`set_echo_payload` builds it."""
        super().__init__()
        self._echo_message = ""

    def set_echo_payload(self, payload: str) -> None:
        """Pre-encode the (constant) echo request."""
        super().set_echo_payload(payload)
        self._echo_message = orjson.dumps({"op": "echo", "payload": payload}).decode()

    async def open(
        self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float
    ) -> rawws.RawWebSocket[str]:
        """Open the WebSocket; the plain protocol has no handshake of its own."""
        return await rawws.connect(ws_url(base_url, path), timeout)

    def echo_request(self, seq: int) -> str:
        """The pre-encoded echo request (no id needed: one request in flight per socket)."""
        return self._echo_message

    def broadcast_request(self, body: dict[str, Any]) -> str:
        """Ask the consumer to broadcast ``body``."""
        return orjson.dumps({"op": "broadcast", "payload": body}).decode()

    def parse(self, message: str) -> Parsed:
        """Recognise an echo reply or a pushed broadcast."""
        decoded = orjson.loads(message)
        op = decoded.get("op")
        if op == "receive":
            return Parsed(broadcasts=[decoded["payload"]])
        if op == "echo":
            if decoded["payload"] != self.echo_payload:
                raise ProtocolError("echo payload mismatch")
            return Parsed(echoes=1)
        raise ProtocolError(f"unexpected message {message[:80]!r}")

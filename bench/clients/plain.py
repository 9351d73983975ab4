"""The ad-hoc JSON protocol of the hand-written servers (Channels consumers, bare ``websockets``).

- ``{"op": "echo", "payload": p}`` is answered with the same object.
- ``{"op": "to_me", "payload": p}`` is answered with ``{"op": "echoed", "payload": p}``,
  delivered through the server's addressed send to that connection.
- ``{"op": "broadcast", "payload": b}`` makes every connection receive
  ``{"op": "receive", "payload": b}``.
- ``{"op": "join", "group": g}`` adds the connection to group ``g``; answered with ``{"op": "joined"}``.
- ``{"op": "group", "group": g, "payload": b}`` makes every member of ``g`` receive
  ``{"op": "receive", "payload": b}``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from bench.clients import rawws
from bench.clients.base import Parsed, ProtocolError, WireProtocol, ws_url


class PlainProtocol(WireProtocol[str]):
    """Client side of ``bench.servers.channels_consumers`` and ``bench.servers.websockets_ceiling``."""

    name = "plain"

    def __init__(self) -> None:
        """Start with no echo message; :meth:`set_echo_payload` builds it."""
        super().__init__()
        self._echo_message = ""

    def set_echo_payload(self, payload: str, *, via_connection: bool = False) -> None:
        """Pre-encode the (constant) echo or send-to-connection request."""
        super().set_echo_payload(payload, via_connection=via_connection)
        op = "to_me" if via_connection else "echo"
        self._echo_message = orjson.dumps({"op": op, "payload": payload}).decode()

    async def open(
        self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float
    ) -> rawws.RawWebSocket[str]:
        """Open the WebSocket; the plain protocol has no handshake of its own."""
        return await rawws.connect(ws_url(base_url, path), timeout)

    def echo_request(self, seq: int) -> str:
        """The pre-encoded echo (or ``to_me``) request (no id needed: one request in flight per socket)."""
        return self._echo_message

    def broadcast_request(self, body: dict[str, Any]) -> str:
        """Ask the server to broadcast ``body``."""
        return orjson.dumps({"op": "broadcast", "payload": body}).decode()

    def join_request(self, group: str) -> str:
        """Ask the server to add this connection to ``group``."""
        return orjson.dumps({"op": "join", "group": group}).decode()

    def group_request(self, group: str, body: dict[str, Any]) -> str:
        """Ask the server to push ``body`` to the members of ``group``."""
        return orjson.dumps({"op": "group", "group": group, "payload": body}).decode()

    def parse(self, message: str) -> Parsed:
        """Recognise an echo reply, an ``echoed`` push, a pushed broadcast or a join answer."""
        decoded = orjson.loads(message)
        op = decoded.get("op")
        if op == "receive":
            return Parsed(broadcasts=[decoded["payload"]])
        if op == "echo" or op == "echoed":
            if decoded["payload"] != self.echo_payload:
                raise ProtocolError("echo payload mismatch")
            return Parsed(echoes=1)
        if op == "joined":
            return Parsed(acks=1)
        raise ProtocolError(f"unexpected message {message[:80]!r}")

"""ASP.NET Core SignalR clients: negotiate v1, then one transport and one hub protocol.

``POST {hub}/negotiate?negotiateVersion=1`` yields a ``connectionToken``, used as
``?id=`` on every later request; the negotiate answer must list the
transport with the transfer format the hub protocol needs. Then the client
sends the handshake ``{"protocol":"json"|"messagepack","version":1}\\x1e``,
answered by ``{}\\x1e``. Echo is an invocation (``type 1`` with
``invocationId``) answered by a completion (``type 3``); broadcast is a
non-blocking invocation (no id) and the server pushes
``Receive(...)``. Pings (``type 6``) are ignored. Used for both aiosignalr and
django_signalr so the two see identical load.

Send to a connection (``set_echo_payload(..., via_connection=True)``):
``SendToMe(payload)`` as a non-blocking invocation, answered by the push
``Echoed(payload)`` that the hub sends with ``clients.client(<caller>)``.
Groups: ``JoinGroup(group)`` invoked with id ``j<n>`` and answered by its
(void) completion; ``SendToGroup(group, body)`` non-blocking, members get
``Receive(body)``. The wire details are in ``bench.clients.hubcodec``.

Two classes:

- :class:`SignalRProtocol` (``signalr``): WebSockets + JSON on ``str``
  messages, the original client and the one the broadcast scenario uses.
  JSON records end with ``\\x1e`` and one WebSocket message may carry several.
- :class:`SignalRColumnProtocol` (``signalr-<transport>-<protocol>``): every
  transport (``ws``, ``sse``, ``lp``) with either hub protocol (``json``,
  ``msgpack``) on ``bytes`` messages, for the echo scenario's columns
  (``bench.clients.hubcodec``, ``bench.clients.httpconn``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from bench.clients import rawws
from bench.clients.base import Connection, Parsed, ProtocolError, WireProtocol, ws_url
from bench.clients.httpconn import LongPollingConnection, SseConnection
from bench.clients.hubcodec import JOIN_ID_PREFIX, HubCodec, codec_for, json_record, split_handshake

RS = "\x1e"
HANDSHAKE = '{"protocol":"json","version":1}' + RS

#: Transport short names used in column names, and their negotiate names.
TRANSPORTS = {"ws": "WebSockets", "sse": "ServerSentEvents", "lp": "LongPolling"}
#: How long the first Long Polling poll may take before the client sends the handshake anyway.
FIRST_POLL_GRACE = 2.0


async def negotiate(
    session: aiohttp.ClientSession, base_url: str, path: str, transport: str, transfer_format: str
) -> str:
    """POST negotiate v1; check that ``transport`` is offered with ``transfer_format``; return the token."""
    async with session.post(f"{base_url}{path}/negotiate?negotiateVersion=1") as response:
        body = await response.read()
        if response.status != 200:
            raise ProtocolError(f"negotiate returned HTTP {response.status}: {body[:200]!r}")
    negotiation = orjson.loads(body)
    if negotiation.get("error"):
        raise ProtocolError(f"negotiate refused: {negotiation['error']!r}")
    token = negotiation.get("connectionToken") or negotiation.get("connectionId")
    if not token:
        raise ProtocolError(f"negotiate response without a token: {negotiation!r}")
    offered = {
        entry.get("transport"): entry.get("transferFormats", []) for entry in negotiation.get("availableTransports", [])
    }
    if transfer_format not in offered.get(transport, ()):
        raise ProtocolError(f"negotiate does not offer {transport} with {transfer_format}: {offered!r}")
    return str(token)


class SignalRProtocol(WireProtocol[str]):
    """WebSockets + JSON client of the ``BenchHub`` (``Echo``, ``Broadcast``, ``Receive``, ...)."""

    name = "signalr"

    def __init__(self) -> None:
        """Start with no echo frame; :meth:`set_echo_payload` builds its pieces."""
        super().__init__()
        self._echo_tail = ""
        self._to_me = ""
        self._join_seq = 0

    def set_echo_payload(self, payload: str, *, via_connection: bool = False) -> None:
        """Pre-encode everything after the invocation id (or the whole ``SendToMe`` frame)."""
        super().set_echo_payload(payload, via_connection=via_connection)
        self._echo_tail = '","target":"Echo","arguments":[' + orjson.dumps(payload).decode() + "]}" + RS
        self._to_me = (
            orjson.dumps({"type": 1, "target": "SendToMe", "arguments": [payload]}).decode() + RS
            if via_connection
            else ""
        )

    async def open(
        self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float
    ) -> rawws.RawWebSocket[str]:
        """Negotiate, open the WebSocket and complete the JSON hub handshake."""
        token = await asyncio.wait_for(negotiate(session, base_url, path, "WebSockets", "Text"), timeout)
        ws = await rawws.connect(f"{ws_url(base_url, path)}?id={quote(token, safe='')}", timeout)
        try:
            ws.send_text(HANDSHAKE)
            answer = await ws.recv(timeout)
            first, _, rest = answer.partition(RS)
            if orjson.loads(first).get("error"):
                raise ProtocolError(f"handshake refused: {first!r}")
            if rest:  # records that rode along with the handshake answer (pings)
                self.parse(rest)
            return ws
        except BaseException:
            ws.close()
            raise

    def echo_request(self, seq: int) -> str:
        """Invoke ``Echo`` with invocation id ``seq`` (or send ``SendToMe``, non-blocking, via the connection)."""
        if self._to_me:
            return self._to_me
        return '{"type":1,"invocationId":"' + str(seq) + self._echo_tail

    def broadcast_request(self, body: dict[str, Any]) -> str:
        """Send ``Broadcast`` as a non-blocking invocation (no invocation id, no completion)."""
        return orjson.dumps({"type": 1, "target": "Broadcast", "arguments": [body]}).decode() + RS

    def join_request(self, group: str) -> str:
        """Invoke ``JoinGroup(group)`` with invocation id ``j<n>``; its completion is the answer."""
        self._join_seq += 1
        invocation_id = f"{JOIN_ID_PREFIX}{self._join_seq}"
        message = {"type": 1, "invocationId": invocation_id, "target": "JoinGroup", "arguments": [group]}
        return orjson.dumps(message).decode() + RS

    def group_request(self, group: str, body: dict[str, Any]) -> str:
        """Send ``SendToGroup(group, body)`` as a non-blocking invocation."""
        return orjson.dumps({"type": 1, "target": "SendToGroup", "arguments": [group, body]}).decode() + RS

    def parse(self, message: str) -> Parsed:
        """Walk the frame's records: completions, ``Receive`` pushes, pings; fail on errors/close."""
        parsed = Parsed()
        payload = self.echo_payload
        for record in message.split(RS):
            if record:
                json_record(orjson.loads(record), record, payload, parsed)
        return parsed


class SignalRColumnProtocol(WireProtocol[bytes]):
    """One transport (``ws``, ``sse``, ``lp``) with one hub protocol (``json``, ``msgpack``), on bytes."""

    def __init__(self, transport: str, hub_protocol: str, *, lp_lenient: bool = False) -> None:
        """E.g. ``SignalRColumnProtocol("lp", "msgpack")``; the codec is built with the payload."""
        super().__init__()
        self.lp_lenient = lp_lenient
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown SignalR transport {transport!r}")
        self.transport = transport
        self.hub_protocol = hub_protocol
        self.name = f"signalr-{transport}-{hub_protocol}"
        self.codec: HubCodec = codec_for(hub_protocol, "")
        self._join_seq = 0

    def set_echo_payload(self, payload: str, *, via_connection: bool = False) -> None:
        """Build the codec, which pre-encodes the echo (and ``SendToMe``) request."""
        super().set_echo_payload(payload, via_connection=via_connection)
        self.codec = codec_for(self.hub_protocol, payload)

    async def open(self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float) -> Connection[bytes]:
        """Negotiate, start the transport, send the handshake, check its answer."""
        codec = self.codec
        token = await asyncio.wait_for(
            negotiate(session, base_url, path, TRANSPORTS[self.transport], codec.transfer_format), timeout
        )
        query = f"?id={quote(token, safe='')}"
        if self.transport == "ws":
            ws = await rawws.connect_binary(ws_url(base_url, path) + query, timeout)
            try:
                ws.send_text(codec.handshake.decode())  # a text message, as from the JS client
                self._after_handshake(await ws.recv(timeout))
            except BaseException:
                ws.close()
                raise
            return ws
        connection: SseConnection | LongPollingConnection
        if self.transport == "sse":
            connection = SseConnection(session, base_url + path + query)
        else:
            binary = codec.transfer_format == "Binary"
            connection = LongPollingConnection(session, base_url + path + query, binary)
        try:
            if isinstance(connection, SseConnection):
                await connection.start(timeout)
            else:
                connection.start()
                await self._first_poll(connection)
            await connection.post_now(codec.handshake, timeout)
            self._after_handshake(await connection.recv(timeout))
        except BaseException:
            connection.close()
            raise
        return connection

    async def _first_poll(self, connection: LongPollingConnection) -> None:
        """Wait for the first poll, which must come back at once (PROTOCOL.md §2 Long Polling, step 1).

        A server that holds it instead (waiting for data that only the
        handshake can produce) hangs the JS client's ``start()``. Strict (the
        default): fail the connection after :data:`FIRST_POLL_GRACE`. Lenient:
        send the handshake while the poll is pending (the pending poll then
        carries the answer) and record the deviation in :attr:`notes`.
        """
        try:
            await asyncio.wait_for(asyncio.shield(connection.first_poll_returned), FIRST_POLL_GRACE)
        except TimeoutError:
            held = f"first long poll not answered within {FIRST_POLL_GRACE:.0f} s (spec: at once, empty 200)"
            if not self.lp_lenient:
                raise ProtocolError(f"{held}; a JS client's start() would hang (--lp-lenient)") from None
            self.notes.add(f"{held}; handshake sent while it was pending (--lp-lenient)")

    def _after_handshake(self, unit: bytes) -> None:
        """Check the handshake answer; parse records that came with it (pings)."""
        rest = split_handshake(unit)
        if rest:
            self.codec.parse(rest)

    def echo_request(self, seq: int) -> bytes:
        """The codec's ``Echo`` invocation (its ``SendToMe`` one via the connection)."""
        if self.via_connection:
            return self.codec.to_me_request()
        return self.codec.echo_request(seq)

    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """The codec's non-blocking ``Broadcast`` invocation."""
        return self.codec.broadcast_request(body)

    def join_request(self, group: str) -> bytes:
        """The codec's ``JoinGroup`` invocation, with id ``j<n>``."""
        self._join_seq += 1
        return self.codec.join_request(f"{JOIN_ID_PREFIX}{self._join_seq}", group)

    def group_request(self, group: str, body: dict[str, Any]) -> bytes:
        """The codec's non-blocking ``SendToGroup`` invocation."""
        return self.codec.group_request(group, body)

    def parse(self, message: bytes) -> Parsed:
        """The codec's record walk."""
        return self.codec.parse(message)

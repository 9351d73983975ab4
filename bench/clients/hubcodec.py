"""SignalR hub protocols on raw bytes: JSON and MessagePack, for the transport/protocol columns.

Each codec pre-encodes the ``Echo`` invocation and parses whatever one
transport unit carries (a WebSocket message, one Server-Sent Event's data, or
one Long Polling response body). Servers write whole records into each unit
(the JS client relies on that too), so no state is kept between units and a
truncated record is an error.

- JSON: ``{...}\\x1e`` records (PROTOCOL.md §3 "JSON framing").
- MessagePack: ``[VarInt length][msgpack array]`` records; the client's
  invocation is the 5-element form ``[1, {}, id, "Echo", [payload]]`` and the
  completion is ``[3, headers, id, kind, result?]`` with kind 1 = error,
  2 = void, 3 = result (PROTOCOL.md §3 "MessagePack framing").

Besides ``Echo`` and ``Broadcast`` (pushed back as ``Receive(body)``), the
bench hub has ``SendToMe(payload)`` (non-blocking; the server answers with
``clients.client(<caller>).send("Echoed", payload)``), ``JoinGroup(group)``
(invoked with an id :data:`JOIN_ID_PREFIX` ``+ n``, answered by a void
completion) and ``SendToGroup(group, body)`` (non-blocking; members get
``Receive(body)``). A completion whose id starts with :data:`JOIN_ID_PREFIX` and
that does not carry the echo payload counts as a join answer
(:attr:`Parsed.acks`); echo ids are plain numbers.

The handshake is JSON for both: ``{"protocol":"json"|"messagepack","version":1}\\x1e``,
answered by ``{}\\x1e``, which may share its unit with the first records.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import msgpack
import orjson

from bench.clients.base import Parsed, ProtocolError

RS = b"\x1e"
#: Invocation ids of ``JoinGroup`` start with this (``Echo`` ids are decimal numbers).
JOIN_ID_PREFIX = "j"


def json_record(decoded: Any, record: str | bytes, payload: str, parsed: Parsed) -> None:
    """Fold one decoded JSON hub record into ``parsed`` (shared with the ``str`` WebSocket client)."""
    kind = decoded.get("type")
    if kind == 1:
        target = decoded.get("target")
        if target == "Receive":
            parsed.broadcasts.extend(decoded.get("arguments", ()))
        elif target == "Echoed":
            if decoded.get("arguments") != [payload]:
                raise ProtocolError("echo payload mismatch")
            parsed.echoes += 1
        else:
            raise ProtocolError(f"unexpected invocation {record[:80]!r}")
    elif kind == 3:
        if "error" in decoded:
            raise ProtocolError(f"invocation failed: {decoded['error']!r}")
        if decoded.get("result") != payload:
            if str(decoded.get("invocationId", "")).startswith(JOIN_ID_PREFIX):
                parsed.acks += 1
                return
            raise ProtocolError("echo payload mismatch")
        parsed.echoes += 1
    elif kind == 7:
        raise ProtocolError(f"server closed the connection: {record[:200]!r}")
    # type 6 (ping) and anything else harmless: ignore


def split_handshake(data: bytes) -> bytes:
    """Check the handshake answer at the start of ``data``; return the bytes after it.

    Raise :class:`ProtocolError` if the answer is incomplete or carries an error.
    """
    end = data.find(RS)
    if end < 0:
        raise ProtocolError(f"incomplete handshake answer: {data[:200]!r}")
    answer = orjson.loads(data[:end])
    if not isinstance(answer, dict) or answer.get("error") or "type" in answer:
        raise ProtocolError(f"handshake refused: {data[: end + 1]!r}")
    return data[end + 1 :]


class HubCodec(ABC):
    """Encoder/parser of one hub protocol on bytes."""

    #: Name sent in the handshake.
    name: str
    #: The negotiate transfer format this protocol needs (``Text`` or ``Binary``).
    transfer_format: str

    def __init__(self, payload: str) -> None:
        """Pre-encode everything about the echo request that does not depend on the invocation id."""
        self.payload = payload
        self.handshake = orjson.dumps({"protocol": self.name, "version": 1}) + RS

    @abstractmethod
    def echo_request(self, seq: int) -> bytes:
        """Invoke ``Echo(payload)`` with invocation id ``str(seq)``."""

    @abstractmethod
    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """Send ``Broadcast(body)`` as a non-blocking invocation (no id, no completion)."""

    @abstractmethod
    def to_me_request(self) -> bytes:
        """Send ``SendToMe(payload)`` as a non-blocking invocation (pre-encoded, constant)."""

    @abstractmethod
    def join_request(self, invocation_id: str, group: str) -> bytes:
        """Invoke ``JoinGroup(group)`` with ``invocation_id`` (which starts with :data:`JOIN_ID_PREFIX`)."""

    @abstractmethod
    def group_request(self, group: str, body: dict[str, Any]) -> bytes:
        """Send ``SendToGroup(group, body)`` as a non-blocking invocation."""

    @abstractmethod
    def parse(self, data: bytes) -> Parsed:
        """Parse every record in ``data``; raise :class:`ProtocolError` on errors, closes or bad echoes."""


class JsonCodec(HubCodec):
    """The JSON hub protocol (transfer format Text)."""

    name = "json"
    transfer_format = "Text"

    def __init__(self, payload: str) -> None:
        """Pre-encode the part of the invocation after its id."""
        super().__init__(payload)
        self._tail = b'","target":"Echo","arguments":[' + orjson.dumps(payload) + b"]}" + RS
        self._to_me = orjson.dumps({"type": 1, "target": "SendToMe", "arguments": [payload]}) + RS

    def echo_request(self, seq: int) -> bytes:
        """``{"type":1,"invocationId":"<seq>","target":"Echo","arguments":[payload]}\\x1e``."""
        return b'{"type":1,"invocationId":"' + str(seq).encode() + self._tail

    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """Non-blocking ``Broadcast`` invocation."""
        return orjson.dumps({"type": 1, "target": "Broadcast", "arguments": [body]}) + RS

    def to_me_request(self) -> bytes:
        """``{"type":1,"target":"SendToMe","arguments":[payload]}\\x1e``."""
        return self._to_me

    def join_request(self, invocation_id: str, group: str) -> bytes:
        """``{"type":1,"invocationId":"j<n>","target":"JoinGroup","arguments":[group]}\\x1e``."""
        message = {"type": 1, "invocationId": invocation_id, "target": "JoinGroup", "arguments": [group]}
        return orjson.dumps(message) + RS

    def group_request(self, group: str, body: dict[str, Any]) -> bytes:
        """Non-blocking ``SendToGroup(group, body)``."""
        return orjson.dumps({"type": 1, "target": "SendToGroup", "arguments": [group, body]}) + RS

    def parse(self, data: bytes) -> Parsed:
        """Walk the ``\\x1e``-terminated records."""
        parsed = Parsed()
        payload = self.payload
        for record in data.split(RS):
            if record:
                json_record(orjson.loads(record), record, payload, parsed)
        return parsed


def varint(size: int) -> bytes:
    """The MessagePack record length prefix: 7 bits a byte, low group first, high bit = more."""
    out = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class MessagePackCodec(HubCodec):
    """The MessagePack hub protocol (transfer format Binary)."""

    name = "messagepack"
    transfer_format = "Binary"

    def __init__(self, payload: str) -> None:
        """Pre-encode the invocation's head (type, empty headers) and tail (target, arguments)."""
        super().__init__(payload)
        self._head = b"\x95\x01\x80"  # fixarray(5), 1 = Invocation, {} headers
        self._tail: bytes = msgpack.packb("Echo") + msgpack.packb([payload])
        self._to_me = self._record([1, {}, None, "SendToMe", [payload]])

    @staticmethod
    def _record(message: list[Any]) -> bytes:
        """One length-prefixed record."""
        packed: bytes = msgpack.packb(message)
        return varint(len(packed)) + packed

    def echo_request(self, seq: int) -> bytes:
        """``[1, {}, "<seq>", "Echo", [payload]]`` with its length prefix."""
        invocation_id: bytes = msgpack.packb(str(seq))
        body = self._head + invocation_id + self._tail
        return varint(len(body)) + body

    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """Non-blocking ``Broadcast``: ``[1, {}, nil, "Broadcast", [body]]``."""
        packed: bytes = msgpack.packb([1, {}, None, "Broadcast", [body]])
        return varint(len(packed)) + packed

    def to_me_request(self) -> bytes:
        """Non-blocking ``SendToMe``: ``[1, {}, nil, "SendToMe", [payload]]`` (pre-encoded)."""
        return self._to_me

    def join_request(self, invocation_id: str, group: str) -> bytes:
        """``[1, {}, "j<n>", "JoinGroup", [group]]``."""
        return self._record([1, {}, invocation_id, "JoinGroup", [group]])

    def group_request(self, group: str, body: dict[str, Any]) -> bytes:
        """Non-blocking ``SendToGroup``: ``[1, {}, nil, "SendToGroup", [group, body]]``."""
        return self._record([1, {}, None, "SendToGroup", [group, body]])

    def parse(self, data: bytes) -> Parsed:
        """Walk the length-prefixed records."""
        parsed = Parsed()
        pos, size = 0, len(data)
        unpackb = msgpack.unpackb
        while pos < size:
            length = shift = 0
            while True:
                if pos >= size or shift > 28:
                    raise ProtocolError(f"bad MessagePack length prefix in {data[:80]!r}")
                byte = data[pos]
                pos += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            end = pos + length
            if end > size:
                raise ProtocolError(f"truncated MessagePack record ({length} B said, {size - pos} B left)")
            message = unpackb(data[pos:end], raw=False)
            pos = end
            if not isinstance(message, list) or not message:
                raise ProtocolError(f"MessagePack record is not a non-empty array: {message!r:.80}")
            kind = message[0]
            if kind == 3:  # [3, headers, id, resultKind, result?]
                if message[3] == 1:
                    raise ProtocolError(f"invocation failed: {message[4]!r}")
                if message[3] != 3 or message[4] != self.payload:
                    if str(message[2]).startswith(JOIN_ID_PREFIX):
                        parsed.acks += 1
                        continue
                    raise ProtocolError("echo payload mismatch")
                parsed.echoes += 1
            elif kind == 1:  # [1, headers, id, target, args, streamIds?]
                target = message[3]
                if target == "Receive":
                    parsed.broadcasts.extend(message[4])
                elif target == "Echoed":
                    if message[4] != [self.payload]:
                        raise ProtocolError("echo payload mismatch")
                    parsed.echoes += 1
                else:
                    raise ProtocolError(f"unexpected invocation {message!r:.80}")
            elif kind == 7:  # [7, error, allowReconnect?]
                raise ProtocolError(f"server closed the connection: {message!r:.200}")
            # 6 (ping) and anything else harmless: ignore
        return parsed


def codec_for(name: str, payload: str) -> HubCodec:
    """``json`` or ``msgpack``/``messagepack``."""
    if name == "json":
        return JsonCodec(payload)
    if name in ("msgpack", "messagepack"):
        return MessagePackCodec(payload)
    raise ValueError(f"unknown hub protocol {name!r}")

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


def json_record(decoded: Any, record: str | bytes, payload: str, parsed: Parsed) -> None:
    """Fold one decoded JSON hub record into ``parsed`` (shared with the ``str`` WebSocket client)."""
    kind = decoded.get("type")
    if kind == 1:
        if decoded.get("target") != "Receive":
            raise ProtocolError(f"unexpected invocation {record[:80]!r}")
        parsed.broadcasts.extend(decoded.get("arguments", ()))
    elif kind == 3:
        if "error" in decoded:
            raise ProtocolError(f"invocation failed: {decoded['error']!r}")
        if decoded.get("result") != payload:
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

    def echo_request(self, seq: int) -> bytes:
        """``{"type":1,"invocationId":"<seq>","target":"Echo","arguments":[payload]}\\x1e``."""
        return b'{"type":1,"invocationId":"' + str(seq).encode() + self._tail

    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """Non-blocking ``Broadcast`` invocation."""
        return orjson.dumps({"type": 1, "target": "Broadcast", "arguments": [body]}) + RS

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

    def echo_request(self, seq: int) -> bytes:
        """``[1, {}, "<seq>", "Echo", [payload]]`` with its length prefix."""
        invocation_id: bytes = msgpack.packb(str(seq))
        body = self._head + invocation_id + self._tail
        return varint(len(body)) + body

    def broadcast_request(self, body: dict[str, Any]) -> bytes:
        """Non-blocking ``Broadcast``: ``[1, {}, nil, "Broadcast", [body]]``."""
        packed: bytes = msgpack.packb([1, {}, None, "Broadcast", [body]])
        return varint(len(packed)) + packed

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
                    raise ProtocolError("echo payload mismatch")
                parsed.echoes += 1
            elif kind == 1:  # [1, headers, id, target, args, streamIds?]
                if message[3] != "Receive":
                    raise ProtocolError(f"unexpected invocation {message!r:.80}")
                parsed.broadcasts.extend(message[4])
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

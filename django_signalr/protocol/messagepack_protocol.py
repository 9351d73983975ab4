"""The MessagePack hub protocol: each record is a varint length and one msgpack array.

Readers accept the clients' short forms (an Invocation without the stream-ids element, a
two-element Close); writers emit the forms the .NET server writes (six-element Invocation,
three-element Close, a Completion of length 4 for void and 5 otherwise, ``{}`` headers).
``bytes`` travel as bin and datetimes as the timestamp extension (-1), so the JS client gets
``Uint8Array`` and ``Date`` as it does from ASP.NET Core.

ormsgpack (Rust) packs 2-4x faster than msgpack's ``packb`` with the options this protocol
needs and unpacks about as fast (``python -m bench.codecs``); it is stateless, so it is safe
from the threads sync hub methods run in. Maps with non-string keys are read (the .NET client
sends ``Dictionary<int, T>`` as such) and written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ormsgpack

from .base import TransferFormat
from .errors import InvalidDataException
from .framing import read_varint, size_exceeded, write_varint
from .messages import (
    PING,
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    MessageType,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)

_ERROR_RESULT = 1
_VOID_RESULT = 2
_NON_VOID_RESULT = 3


def _default(value: Any) -> Any:
    """ormsgpack's fallback for the Python values it does not know (it knows datetimes, UUIDs
    as strings, dataclasses as maps, enums and tuples)."""
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Type is not MessagePack serializable: {type(value).__name__}")


# Naive datetimes are UTC (Django's convention with USE_TZ), as in the JSON protocol.
_PACK_OPTIONS = ormsgpack.OPT_DATETIME_AS_TIMESTAMP_EXT | ormsgpack.OPT_NAIVE_UTC | ormsgpack.OPT_NON_STR_KEYS
_UNPACK_OPTIONS = ormsgpack.OPT_DATETIME_AS_TIMESTAMP_EXT | ormsgpack.OPT_NON_STR_KEYS


def packb(value: Any) -> bytes:
    """Serialize one value the way the hub protocol does (without framing); ``TypeError`` for
    a value that cannot be (ormsgpack's ``MsgpackEncodeError`` is one)."""
    return ormsgpack.packb(value, default=_default, option=_PACK_OPTIONS)


def unpackb(data: bytes | memoryview) -> Any:
    """Deserialize one record's body; bins become ``bytes``, timestamps aware UTC datetimes."""
    return ormsgpack.unpackb(data, option=_UNPACK_OPTIONS)


class MessagePackHubProtocol:
    """The ``messagepack`` hub protocol, versions 0 to 2."""

    name = "messagepack"
    version = 2
    transfer_format = TransferFormat.BINARY

    def parse_messages(self, data: bytes | bytearray, max_message_size: int | None) -> tuple[list[HubMessage], int]:
        view = memoryview(data)
        messages: list[HubMessage] = []
        offset = 0
        while offset < len(view):
            prefix = read_varint(view, offset)
            if prefix is None:
                break
            length, used = prefix
            if max_message_size is not None and length + used > max_message_size:
                raise InvalidDataException(size_exceeded(max_message_size))
            end = offset + used + length
            if end > len(view):
                break
            message = parse_record(view[offset + used : end])  # ormsgpack reads a view: no copy
            if message is not None:
                messages.append(message)
            offset = end
        return messages, offset

    def write_message(self, message: HubMessage) -> bytes:
        body = packb(_WRITERS[message.type](message))
        return write_varint(len(body)) + body


def parse_record(body: bytes | memoryview) -> HubMessage | None:
    """One record's msgpack array to a message; ``None`` for an unknown message type."""
    try:
        array = unpackb(body)
    except ormsgpack.MsgpackDecodeError as error:
        raise InvalidDataException("Error reading MessagePack data.") from error
    if type(array) is not list or not array:
        raise InvalidDataException("Unexpected message format: expected a non-empty array.")
    kind = array[0]
    if type(kind) is not int:  # a bool is not one either
        raise InvalidDataException("Reading 'messageType' as Int32 failed.")
    parser = _PARSERS.get(kind)
    if parser is None:
        return None
    try:
        return parser(array)
    except IndexError as error:
        raise InvalidDataException(f"Invalid message: too few elements for message type {kind}.") from error


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidDataException(f"Reading '{field}' as String failed.")
    return value


def _headers(value: Any) -> dict[str, str] | None:
    if value is None or value == {}:  # clients send {} on every message
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidDataException("Reading 'headers' as Map failed.")
    return value or None


def _array(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidDataException(f"Reading array length for '{field}' failed.")
    return value


def _stream_ids(array: Sequence[Any]) -> list[str] | None:
    if len(array) < 6 or (type(array[5]) is list and not array[5]):  # absent, or [] as clients send
        return None
    ids = _array(array[5], "streamIds")
    return [_string(i, "streamId") for i in ids] or None


def _parse_invocation(array: Sequence[Any]) -> InvocationMessage:
    invocation_id = array[2]
    if invocation_id is not None:
        invocation_id = _string(invocation_id, "invocationId") or None
    return InvocationMessage(
        _string(array[3], "target"),
        _array(array[4], "arguments"),
        invocation_id,
        _stream_ids(array),
        _headers(array[1]),
    )


def _parse_stream_invocation(array: Sequence[Any]) -> StreamInvocationMessage:
    return StreamInvocationMessage(
        _string(array[2], "invocationId"),
        _string(array[3], "target"),
        _array(array[4], "arguments"),
        _stream_ids(array),
        _headers(array[1]),
    )


def _parse_stream_item(array: Sequence[Any]) -> StreamItemMessage:
    return StreamItemMessage(_string(array[2], "invocationId"), array[3], _headers(array[1]))


def _parse_completion(array: Sequence[Any]) -> CompletionMessage:
    invocation_id = _string(array[2], "invocationId")
    kind = array[3]
    headers = _headers(array[1])
    if kind == _ERROR_RESULT:
        return CompletionMessage(invocation_id, error=_string(array[4], "error"), headers=headers)
    if kind == _VOID_RESULT:
        return CompletionMessage(invocation_id, headers=headers)
    if kind == _NON_VOID_RESULT:
        return CompletionMessage(invocation_id, array[4], has_result=True, headers=headers)
    raise InvalidDataException("Invalid invocation result kind.")


def _parse_close(array: Sequence[Any]) -> CloseMessage:
    error = array[1] if len(array) > 1 else None
    if error is not None:
        error = _string(error, "error")
    allow_reconnect = bool(array[2]) if len(array) > 2 else False
    return CloseMessage(error, allow_reconnect)


def _sequence_id(array: Sequence[Any]) -> int:
    value = array[1]
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidDataException("Reading 'sequenceId' as Int64 failed.")
    return value


_PARSERS: dict[int, Callable[[Sequence[Any]], HubMessage]] = {
    MessageType.INVOCATION: _parse_invocation,
    MessageType.STREAM_ITEM: _parse_stream_item,
    MessageType.COMPLETION: _parse_completion,
    MessageType.STREAM_INVOCATION: _parse_stream_invocation,
    MessageType.CANCEL_INVOCATION: lambda a: CancelInvocationMessage(_string(a[2], "invocationId"), _headers(a[1])),
    MessageType.PING: lambda a: PING,
    MessageType.CLOSE: _parse_close,
    MessageType.ACK: lambda a: AckMessage(_sequence_id(a)),
    MessageType.SEQUENCE: lambda a: SequenceMessage(_sequence_id(a)),
}


def _write_invocation(m: InvocationMessage | StreamInvocationMessage) -> list[Any]:
    return [
        m.type,
        m.headers or {},
        m.invocation_id,
        m.target,
        m.arguments,
        m.stream_ids or [],
    ]


def _write_completion(m: CompletionMessage) -> list[Any]:
    head = [m.type, m.headers or {}, m.invocation_id]
    if m.error:
        return [*head, _ERROR_RESULT, m.error]
    if m.has_result:
        return [*head, _NON_VOID_RESULT, m.result]
    return [*head, _VOID_RESULT]


def _write_ping(m: PingMessage) -> list[Any]:
    return [m.type]


_WRITERS: dict[MessageType, Callable[[Any], list[Any]]] = {
    MessageType.INVOCATION: _write_invocation,
    MessageType.STREAM_INVOCATION: _write_invocation,
    MessageType.STREAM_ITEM: lambda m: [m.type, m.headers or {}, m.invocation_id, m.item],
    MessageType.COMPLETION: _write_completion,
    MessageType.CANCEL_INVOCATION: lambda m: [m.type, m.headers or {}, m.invocation_id],
    MessageType.PING: _write_ping,
    MessageType.CLOSE: lambda m: [m.type, m.error, m.allow_reconnect],
    MessageType.ACK: lambda m: [m.type, m.sequence_id],
    MessageType.SEQUENCE: lambda m: [m.type, m.sequence_id],
}

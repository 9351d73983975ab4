"""The JSON hub protocol: one JSON object per record, records ended by ``0x1E``.

Parsing follows the .NET ``JsonHubProtocol``: properties in any order, unknown properties and
unknown message types ignored, the same ``InvalidDataException`` texts. Writing uses the .NET
property order and writes optional properties only when present (``"invocationId":null`` makes
the JS client reject an invocation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .base import TransferFormat
from .errors import InvalidDataException
from .framing import RECORD_SEPARATOR, size_exceeded
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
from .values import dumps


class JsonHubProtocol:
    """The ``json`` hub protocol, versions 0 to 2."""

    name = "json"
    version = 2
    transfer_format = TransferFormat.TEXT

    def parse_messages(self, data: bytes | bytearray, max_message_size: int | None) -> tuple[list[HubMessage], int]:
        records = bytes(data).split(RECORD_SEPARATOR)
        unfinished = records.pop()  # empty when data ends with a separator
        messages: list[HubMessage] = []
        for record in records:
            if max_message_size is not None and len(record) + 1 > max_message_size:
                raise InvalidDataException(size_exceeded(max_message_size))
            message = parse_record(record)
            if message is not None:
                messages.append(message)
        if max_message_size is not None and len(unfinished) > max_message_size:
            raise InvalidDataException(size_exceeded(max_message_size))
        return messages, len(data) - len(unfinished)

    def write_message(self, message: HubMessage) -> bytes:
        return dumps(_WRITERS[message.type](message)) + RECORD_SEPARATOR


def parse_record(record: bytes) -> HubMessage | None:
    """One record's JSON to a message; ``None`` for a message type this server does not know."""
    try:
        payload = orjson.loads(record)
    except orjson.JSONDecodeError as error:
        raise InvalidDataException("Error reading JSON.") from error
    if type(payload) is not dict:
        raise InvalidDataException("Unexpected JSON Token Type. Expected a JSON Object.")
    kind = payload.get("type")
    if type(kind) is int:  # not a bool, which would pass for 0 or 1 as a key of _PARSERS
        parser = _PARSERS.get(kind)
        return parser(payload) if parser is not None else None
    if kind is None:
        raise InvalidDataException("Missing required property 'type'.")
    raise InvalidDataException("Expected 'type' to be of type Number.")


def _string(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidDataException(f"Expected '{key}' to be of type String.")
    return value


def _required_string(payload: dict[str, Any], key: str) -> str:
    value = _string(payload, key)
    if not value:
        raise InvalidDataException(f"Missing required property '{key}'.")
    return value


def _headers(payload: dict[str, Any]) -> dict[str, str] | None:
    headers = payload.get("headers")
    if headers is None:
        return None
    if not isinstance(headers, dict):
        raise InvalidDataException("Expected 'headers' to be of type StartObject.")
    for name, value in headers.items():
        if not isinstance(value, str):
            raise InvalidDataException(f"Expected header '{name}' to be of type String.")
    return headers


def _arguments(payload: dict[str, Any]) -> list[Any]:
    if "arguments" not in payload:
        raise InvalidDataException("Missing required property 'arguments'.")
    arguments = payload["arguments"]
    if not isinstance(arguments, list):
        raise InvalidDataException("Expected 'arguments' to be of type Array.")
    return arguments


def _stream_ids(payload: dict[str, Any]) -> list[str] | None:
    stream_ids = payload.get("streamIds")
    if stream_ids is None:
        return None
    if not isinstance(stream_ids, list) or not all(isinstance(i, str) for i in stream_ids):
        raise InvalidDataException("Expected 'streamIds' to be of type Array.")
    return stream_ids


def _sequence_id(payload: dict[str, Any]) -> int:
    value = payload.get("sequenceId")
    if value is None:
        raise InvalidDataException("Missing required property 'sequenceId'.")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidDataException("Expected 'sequenceId' to be of type Number.")
    return value


def _parse_invocation(payload: dict[str, Any]) -> InvocationMessage:
    # Checked inline, the helpers giving the exact text only when something is wrong: this
    # runs for every invocation, and five helper calls were a tenth of an echo's Python time.
    get = payload.get
    invocation_id, target, arguments = get("invocationId"), get("target"), get("arguments")
    if (
        type(target) is not str
        or not target
        or type(arguments) is not list
        or (invocation_id is not None and type(invocation_id) is not str)
    ):
        _string(payload, "invocationId")
        target = _required_string(payload, "target")
        arguments = _arguments(payload)
    stream_ids = None if get("streamIds") is None else _stream_ids(payload)
    headers = None if get("headers") is None else _headers(payload)
    return InvocationMessage(target, arguments, invocation_id or None, stream_ids, headers)


def _parse_stream_invocation(payload: dict[str, Any]) -> StreamInvocationMessage:
    invocation_id = _required_string(payload, "invocationId")
    arguments = _arguments(payload)
    target = _required_string(payload, "target")
    return StreamInvocationMessage(invocation_id, target, arguments, _stream_ids(payload), _headers(payload))


def _parse_stream_item(payload: dict[str, Any]) -> StreamItemMessage:
    invocation_id = _required_string(payload, "invocationId")
    if "item" not in payload:
        raise InvalidDataException("Missing required property 'item'.")
    return StreamItemMessage(invocation_id, payload["item"], _headers(payload))


def _parse_completion(payload: dict[str, Any]) -> CompletionMessage:
    invocation_id = _required_string(payload, "invocationId")
    error = _string(payload, "error")
    has_result = "result" in payload
    if error is not None and has_result:
        raise InvalidDataException("The 'error' and 'result' properties are mutually exclusive.")
    return CompletionMessage(invocation_id, payload.get("result"), error, has_result, _headers(payload))


def _parse_cancel(payload: dict[str, Any]) -> CancelInvocationMessage:
    return CancelInvocationMessage(_required_string(payload, "invocationId"), _headers(payload))


def _parse_close(payload: dict[str, Any]) -> CloseMessage:
    allow_reconnect = payload.get("allowReconnect", False)
    if not isinstance(allow_reconnect, bool):
        raise InvalidDataException("Expected 'allowReconnect' to be of type Boolean.")
    return CloseMessage(_string(payload, "error"), allow_reconnect)


_PARSERS: dict[int, Callable[[dict[str, Any]], HubMessage]] = {
    MessageType.INVOCATION: _parse_invocation,
    MessageType.STREAM_ITEM: _parse_stream_item,
    MessageType.COMPLETION: _parse_completion,
    MessageType.STREAM_INVOCATION: _parse_stream_invocation,
    MessageType.CANCEL_INVOCATION: _parse_cancel,
    MessageType.PING: lambda payload: PING,
    MessageType.CLOSE: _parse_close,
    MessageType.ACK: lambda payload: AckMessage(_sequence_id(payload)),
    MessageType.SEQUENCE: lambda payload: SequenceMessage(_sequence_id(payload)),
}


def _with_headers(out: dict[str, Any], headers: Any) -> dict[str, Any]:
    if headers:
        out["headers"] = headers
    return out


def _write_invocation(m: InvocationMessage | StreamInvocationMessage) -> dict[str, Any]:
    out = _with_headers({"type": m.type}, m.headers)
    if m.invocation_id:
        out["invocationId"] = m.invocation_id
    out["target"] = m.target
    out["arguments"] = m.arguments
    if m.stream_ids is not None:
        out["streamIds"] = m.stream_ids
    return out


def _write_stream_item(m: StreamItemMessage) -> dict[str, Any]:
    out = _with_headers({"type": m.type}, m.headers)
    out["invocationId"] = m.invocation_id
    out["item"] = m.item
    return out


def _write_completion(m: CompletionMessage) -> dict[str, Any]:
    out = _with_headers({"type": m.type}, m.headers)
    out["invocationId"] = m.invocation_id
    if m.error:
        out["error"] = m.error
    elif m.has_result:
        out["result"] = m.result
    return out


def _write_cancel(m: CancelInvocationMessage) -> dict[str, Any]:
    out = _with_headers({"type": m.type}, m.headers)
    out["invocationId"] = m.invocation_id
    return out


def _write_close(m: CloseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.type}
    if m.error is not None:
        out["error"] = m.error
    if m.allow_reconnect:
        out["allowReconnect"] = True
    return out


def _write_ping(m: PingMessage) -> dict[str, Any]:
    return {"type": m.type}


def _write_sequenced(m: AckMessage | SequenceMessage) -> dict[str, Any]:
    return {"type": m.type, "sequenceId": m.sequence_id}


_WRITERS: dict[MessageType, Callable[[Any], dict[str, Any]]] = {
    MessageType.INVOCATION: _write_invocation,
    MessageType.STREAM_INVOCATION: _write_invocation,
    MessageType.STREAM_ITEM: _write_stream_item,
    MessageType.COMPLETION: _write_completion,
    MessageType.CANCEL_INVOCATION: _write_cancel,
    MessageType.PING: _write_ping,
    MessageType.CLOSE: _write_close,
    MessageType.ACK: _write_sequenced,
    MessageType.SEQUENCE: _write_sequenced,
}

"""The SignalR hub messages as immutable values.

Names and fields follow the hub protocol spec (``HubProtocol.md``) in Python spelling. A codec
turns bytes into these values and back; nothing here knows about bytes, I/O or Django.

They are values: nothing changes one after it is made. They are not ``frozen`` dataclasses
because two are made per echoed invocation and a frozen dataclass's ``__init__`` (one
``object.__setattr__`` per field) costs three times a plain one's: about 1 µs per round trip.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


class MessageType(enum.IntEnum):
    """The ``type`` discriminator every hub message carries on the wire."""

    INVOCATION = 1
    STREAM_ITEM = 2
    COMPLETION = 3
    STREAM_INVOCATION = 4
    CANCEL_INVOCATION = 5
    PING = 6
    CLOSE = 7
    ACK = 8
    SEQUENCE = 9


Headers = Mapping[str, str]


@dataclass(slots=True)
class InvocationMessage:
    """Call ``target`` with ``arguments``; without ``invocation_id`` nothing is sent back."""

    type: ClassVar[MessageType] = MessageType.INVOCATION
    target: str
    arguments: Sequence[Any]
    invocation_id: str | None = None
    stream_ids: Sequence[str] | None = None
    headers: Headers | None = None


@dataclass(slots=True)
class StreamInvocationMessage:
    """Call a streaming ``target``; the callee answers with stream items, then a completion."""

    type: ClassVar[MessageType] = MessageType.STREAM_INVOCATION
    invocation_id: str
    target: str
    arguments: Sequence[Any]
    stream_ids: Sequence[str] | None = None
    headers: Headers | None = None


@dataclass(slots=True)
class StreamItemMessage:
    """One item of a stream (either direction)."""

    type: ClassVar[MessageType] = MessageType.STREAM_ITEM
    invocation_id: str
    item: Any
    headers: Headers | None = None


@dataclass(slots=True)
class CompletionMessage:
    """The end of an invocation or stream: a ``result``, an ``error``, or neither (void).

    ``has_result`` tells a void completion from a completion whose result is ``None``: the
    JSON protocol writes ``"result":null`` only for the latter, and MessagePack uses a
    different result kind for each.
    """

    type: ClassVar[MessageType] = MessageType.COMPLETION
    invocation_id: str
    result: Any = None
    error: str | None = None
    has_result: bool = False
    headers: Headers | None = None

    @classmethod
    def with_result(cls, invocation_id: str, result: Any) -> CompletionMessage:
        return cls(invocation_id, result, None, True)

    @classmethod
    def with_error(cls, invocation_id: str, error: str) -> CompletionMessage:
        return cls(invocation_id, error=error)

    @classmethod
    def empty(cls, invocation_id: str) -> CompletionMessage:
        return cls(invocation_id)


@dataclass(slots=True)
class CancelInvocationMessage:
    """Ask the callee to stop a stream."""

    type: ClassVar[MessageType] = MessageType.CANCEL_INVOCATION
    invocation_id: str
    headers: Headers | None = None


@dataclass(slots=True)
class PingMessage:
    """Keep-alive; carries nothing."""

    type: ClassVar[MessageType] = MessageType.PING


@dataclass(slots=True)
class CloseMessage:
    """The sender is closing the connection, optionally with an error and a reconnect hint."""

    type: ClassVar[MessageType] = MessageType.CLOSE
    error: str | None = None
    allow_reconnect: bool = False


@dataclass(slots=True)
class AckMessage:
    """Stateful reconnect: every message up to ``sequence_id`` arrived."""

    type: ClassVar[MessageType] = MessageType.ACK
    sequence_id: int


@dataclass(slots=True)
class SequenceMessage:
    """Stateful reconnect: the next message the sender sends has id ``sequence_id``."""

    type: ClassVar[MessageType] = MessageType.SEQUENCE
    sequence_id: int


HubMessage = (
    InvocationMessage
    | StreamInvocationMessage
    | StreamItemMessage
    | CompletionMessage
    | CancelInvocationMessage
    | PingMessage
    | CloseMessage
    | AckMessage
    | SequenceMessage
)

PING = PingMessage()

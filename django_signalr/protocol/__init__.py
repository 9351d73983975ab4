"""Sans-I/O SignalR protocol core: messages, handshake, codecs and framing.

Nothing in this package imports Django, Channels or asyncio: bytes in, messages out, and back.
"""

from __future__ import annotations

from .base import HubProtocol, TransferFormat
from .errors import InvalidDataException
from .json_protocol import JsonHubProtocol
from .messagepack_protocol import MessagePackHubProtocol
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

PROTOCOLS: dict[str, HubProtocol] = {
    "json": JsonHubProtocol(),
    "messagepack": MessagePackHubProtocol(),
}

__all__ = [
    "PING",
    "PROTOCOLS",
    "AckMessage",
    "CancelInvocationMessage",
    "CloseMessage",
    "CompletionMessage",
    "HubMessage",
    "HubProtocol",
    "InvalidDataException",
    "InvocationMessage",
    "JsonHubProtocol",
    "MessagePackHubProtocol",
    "MessageType",
    "PingMessage",
    "SequenceMessage",
    "StreamInvocationMessage",
    "StreamItemMessage",
    "TransferFormat",
]

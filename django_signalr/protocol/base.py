"""What every hub protocol codec offers the connection layer."""

from __future__ import annotations

import enum
from typing import Protocol

from .messages import HubMessage


class TransferFormat(enum.Enum):
    """Whether a protocol's bytes are text (UTF-8) or binary; decides WebSocket frame types."""

    TEXT = "Text"
    BINARY = "Binary"


class HubProtocol(Protocol):
    """A sans-I/O codec: complete records in, messages out; messages in, framed bytes out."""

    name: str
    version: int
    transfer_format: TransferFormat

    def parse_messages(self, data: bytes | bytearray, max_message_size: int | None) -> tuple[list[HubMessage], int]:
        """Parse every complete record in ``data``.

        Returns the messages and how many bytes they used; the caller keeps the rest for the
        next read. Raises ``InvalidDataException`` for malformed data, and for a record (or an
        unfinished one) longer than ``max_message_size``.
        """
        ...

    def write_message(self, message: HubMessage) -> bytes:
        """Serialize one message with its framing; raises ``TypeError`` for unserializable values."""
        ...

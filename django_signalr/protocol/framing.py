"""Record framing shared by the codecs: the text record separator and binary varint lengths."""

from __future__ import annotations

from .errors import InvalidDataException

RECORD_SEPARATOR = b"\x1e"

# A varint length uses at most 5 bytes of 7 bits; .NET refuses lengths above 2 GB.
_MAX_VARINT_BYTES = 5
_MAX_LENGTH = 2**31 - 1


def size_exceeded(max_message_size: int) -> str:
    """The exact text ASP.NET Core closes a connection with when a message is too big."""
    return (
        f"The maximum message size of {max_message_size}B was exceeded. "
        "The message size can be configured in AddHubOptions."
    )


def write_varint(length: int) -> bytes:
    """The length prefix of one binary record (7 bits a byte, least significant first)."""
    if length < 0x4000:  # most records: one or two bytes, no loop
        return bytes((length,)) if length < 0x80 else bytes((length & 0x7F | 0x80, length >> 7))
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes | bytearray | memoryview, offset: int) -> tuple[int, int] | None:
    """Decode a length prefix at ``offset``: ``(length, bytes used)``, or ``None`` if cut short."""
    if offset < len(data) and data[offset] < 0x80:  # a record under 128 bytes
        return data[offset], 1
    length = 0
    for index in range(_MAX_VARINT_BYTES):
        if offset + index >= len(data):
            return None
        byte = data[offset + index]
        length |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            if length > _MAX_LENGTH:
                raise InvalidDataException("Messages over 2GB in size are not supported.")
            return length, index + 1
    raise InvalidDataException("Messages over 2GB in size are not supported.")

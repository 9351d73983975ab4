"""The handshake: the first record from the client names the hub protocol and its version.

It is always a JSON record ended by ``0x1E``, even for MessagePack, and so is the server's
answer (``{}`` or ``{"error": ...}``). The exact error texts are ASP.NET Core's.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from .errors import InvalidDataException
from .framing import RECORD_SEPARATOR

HANDSHAKE_CANCELED = "Handshake was canceled."
HANDSHAKE_FAILED = "An unexpected error occurred during connection handshake."
SUCCESS_RESPONSE = b"{}" + RECORD_SEPARATOR


@dataclass(frozen=True, slots=True)
class HandshakeRequest:
    protocol: str
    version: int


def parse_handshake_request(
    data: bytes | bytearray, max_message_size: int | None
) -> tuple[HandshakeRequest, int] | None:
    """The handshake request at the start of ``data`` and the bytes it used.

    ``None`` while the record is incomplete. Raises ``InvalidDataException`` when it is not a
    valid request, and ``HandshakeTooLarge`` when it outgrows ``max_message_size`` first.
    """
    end = data.find(RECORD_SEPARATOR)
    limit_reached = max_message_size is not None and (
        (end == -1 and len(data) > max_message_size) or end + 1 > max_message_size
    )
    if limit_reached:
        raise HandshakeTooLarge
    if end == -1:
        return None
    try:
        payload = orjson.loads(bytes(data[:end]))
    except orjson.JSONDecodeError as error:
        raise InvalidDataException("Error reading JSON.") from error
    if not isinstance(payload, dict):
        raise InvalidDataException("Unexpected JSON Token Type. Expected a JSON Object.")
    protocol = payload.get("protocol")
    version = payload.get("version")
    if protocol is None:
        raise InvalidDataException("Missing required property 'protocol'.")
    if not isinstance(protocol, str):
        raise InvalidDataException("Expected 'protocol' to be of type String.")
    if version is None:
        raise InvalidDataException("Missing required property 'version'.")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidDataException("Expected 'version' to be of type Number.")
    return HandshakeRequest(protocol, version), end + 1


class HandshakeTooLarge(Exception):  # noqa: N818 - a signal, not an error to show
    """The handshake outgrew the receive limit before it was complete."""


def error_response(error: str) -> bytes:
    """The server's answer to a failed handshake; the connection closes after it."""
    return orjson.dumps({"error": error}) + RECORD_SEPARATOR

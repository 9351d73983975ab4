"""Per-connection protocol state with no I/O: handshake, inbound buffer and the clocks.

The transport feeds received bytes in and gets messages (or a handshake outcome) back; the
heartbeat asks what is due at a given time. Time is passed in, so every rule here is tested
without sleeping.

Clock rules are ASP.NET Core's (``HubConnectionContext``):
- keep-alive: a Ping is due when nothing was sent for ``keep_alive_interval`` (never on long
  polling, whose polls are the keep-alive);
- client timeout: armed by the client's first Ping (clients that never ping, such as long
  polling, are never timed out here), paused while a received message is being dispatched,
  due when nothing arrived for ``client_timeout_interval``;
- handshake timeout: due ``handshake_timeout`` after the transport opened.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from .conf import HubOptions
from .protocol import PROTOCOLS, HubMessage, HubProtocol, InvalidDataException, TransferFormat
from .protocol.handshake import (
    HANDSHAKE_CANCELED,
    HANDSHAKE_FAILED,
    HandshakeTooLarge,
    parse_handshake_request,
)


class Phase(enum.Enum):
    HANDSHAKE = "handshake"
    OPEN = "open"
    CLOSED = "closed"


class Due(enum.Enum):
    """What the heartbeat must do for a connection."""

    PING = "ping"
    CLIENT_TIMEOUT = "client timeout"
    HANDSHAKE_TIMEOUT = "handshake timeout"


@dataclass(frozen=True, slots=True)
class HandshakeOutcome:
    """The handshake's result: on success ``protocol`` is set and ``messages`` holds what
    followed the handshake in the same read; on failure ``error`` is the text to send."""

    protocol: HubProtocol | None = None
    version: int = 0
    error: str | None = None
    messages: tuple[HubMessage, ...] = ()


class HubConnectionState:
    """The state machine of one connection: ``HANDSHAKE`` → ``OPEN`` → ``CLOSED``."""

    __slots__ = (
        "_buffer",
        "_client_timeout_started",
        "_dispatching",
        "_keep_alive",
        "_max_message_size",
        "_options",
        "_protocols",
        "_transfer_formats",
        "handshake_deadline",
        "last_received",
        "last_sent",
        "phase",
        "protocol",
    )

    def __init__(
        self,
        options: HubOptions,
        transfer_formats: Collection[TransferFormat],
        now: float,
        *,
        keep_alive: bool = True,
    ) -> None:
        self._options = options
        self._keep_alive = keep_alive
        self._protocols = frozenset(options.protocols)
        self._transfer_formats = frozenset(transfer_formats)
        self._max_message_size = options.maximum_receive_message_size
        self._buffer = bytearray()
        self._client_timeout_started = False
        self._dispatching = False
        self.phase = Phase.HANDSHAKE
        self.protocol: HubProtocol | None = None
        self.handshake_deadline = now + options.handshake_timeout
        self.last_received = now
        self.last_sent = now

    def receive_handshake(self, data: bytes) -> HandshakeOutcome | None:
        """Feed bytes during the handshake; ``None`` until the request is complete."""
        self._buffer += data
        try:
            parsed = parse_handshake_request(self._buffer, self._max_message_size)
        except HandshakeTooLarge:
            return self._fail(HANDSHAKE_CANCELED)
        except InvalidDataException as error:
            detail = f" {type(error).__name__}: {error}" if self._options.enable_detailed_errors else ""
            return self._fail(HANDSHAKE_FAILED + detail)
        if parsed is None:
            return None
        request, used = parsed
        protocol = PROTOCOLS.get(request.protocol) if request.protocol in self._protocols else None
        if protocol is None:
            return self._fail(f"The protocol '{request.protocol}' is not supported.")
        if request.version > protocol.version:
            return self._fail(
                f"The server does not support version {request.version} of the '{request.protocol}' protocol."
            )
        if protocol.transfer_format not in self._transfer_formats:
            return self._fail(
                f"Cannot use the '{protocol.name}' protocol on the current transport. The "
                f"transport does not support '{protocol.transfer_format.value}' transfer format."
            )
        self.protocol = protocol
        self.phase = Phase.OPEN
        rest = bytes(self._buffer[used:])
        self._buffer.clear()
        return HandshakeOutcome(protocol, request.version, messages=tuple(self.receive(rest)))

    def _fail(self, error: str) -> HandshakeOutcome:
        self.phase = Phase.CLOSED
        self._buffer.clear()
        return HandshakeOutcome(error=error)

    def receive(self, data: bytes) -> list[HubMessage]:
        """Feed bytes of an open connection; returns the complete messages they finish.

        Raises ``InvalidDataException`` for malformed data or a message over the size limit.
        """
        if not data:
            return []
        assert self.protocol is not None, "receive() before the handshake completed"
        if self._buffer:
            self._buffer += data
            messages, used = self.protocol.parse_messages(self._buffer, self._max_message_size)
            del self._buffer[:used]
            return messages
        messages, used = self.protocol.parse_messages(data, self._max_message_size)
        if used < len(data):
            self._buffer += data[used:]
        return messages

    def ping_received(self) -> None:
        """The client pinged: from now on it is expected to keep talking."""
        self._client_timeout_started = True

    def dispatch_started(self, now: float) -> None:
        """A received message is being handled: the client-timeout clock stops meanwhile."""
        self._dispatching = True
        self.last_received = now

    def dispatch_finished(self, now: float) -> None:
        self._dispatching = False
        self.last_received = now

    def due(self, now: float) -> Due | None:
        """What the heartbeat must do now, if anything (timeouts first, then a Ping)."""
        if self.phase is Phase.HANDSHAKE:
            return Due.HANDSHAKE_TIMEOUT if now >= self.handshake_deadline else None
        if self.phase is not Phase.OPEN:
            return None
        if (
            self._client_timeout_started
            and not self._dispatching
            and now - self.last_received >= self._options.client_timeout_interval
        ):
            return Due.CLIENT_TIMEOUT
        if self._keep_alive and now - self.last_sent >= self._options.keep_alive_interval:
            return Due.PING
        return None

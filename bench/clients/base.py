"""The interfaces every load-client wire protocol and connection implement.

The scenario loops (``bench.load``) are protocol- and transport-agnostic: they
open connections through :meth:`WireProtocol.open` (a :class:`Connection`
that already completed the protocol's own handshake), build requests with the
``*_request`` methods and classify incoming messages with :meth:`parse`.
``parse`` is on the hot path (tens of thousands of calls per second per
process) so implementations keep it to a split and an ``orjson.loads``.

A protocol is generic in its message type ``M``: ``str`` for the text
protocols over WebSocket (plain, Socket.IO, SignalR JSON over WebSockets, the
historical path) and ``bytes`` for the SignalR transport/protocol columns
(MessagePack, and JSON over Server-Sent Events and Long Polling), where the
raw bytes go straight to ``orjson``/``msgpack``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

M = TypeVar("M", str, bytes)


class ProtocolError(RuntimeError):
    """The server answered something the protocol does not allow (wrong echo, error completion, ...)."""


@dataclass(slots=True)
class Parsed:
    """What one incoming message contained.

    ``echoes`` counts echo replies (each already checked against the payload:
    the request's own reply, or in send-to-connection mode the ``Echoed`` /
    ``echoed`` push), ``broadcasts`` holds the payloads of pushed broadcast and
    group messages, ``acks`` counts answers to group joins and ``reply`` is a
    message the client must send back (e.g. a Socket.IO pong).
    """

    echoes: int = 0
    broadcasts: list[Any] = field(default_factory=list)
    reply: str | None = None
    acks: int = 0


class Connection(Protocol[M]):
    """One open, handshaken client connection, whatever its transport.

    Incoming messages go to the ``on_message`` callback (called synchronously
    from the transport's read path, so a closed loop can send its next
    request without a task switch); :meth:`send` never blocks.
    """

    closed_reason: str | None

    def set_handler(self, on_message: Callable[[M], None], on_close: Callable[[str], None] | None = None) -> None:
        """Switch to callback delivery, flushing anything received before."""

    def send(self, message: M) -> None:
        """Queue one message for the server."""

    def close(self) -> None:
        """Drop the connection (the bench never waits for a clean close)."""


class WireProtocol(ABC, Generic[M]):
    """Adapter between the generic load loops and one server wire protocol."""

    name: str = "base"

    #: Payload the echo replies are checked against; set by :meth:`set_echo_payload`.
    echo_payload: str = ""

    #: Whether :meth:`echo_request` asks for a send to this connection instead of a plain echo.
    via_connection: bool = False

    #: Ways the server departed from its protocol that the client tolerated (reported with the result).
    notes: set[str]

    def __init__(self) -> None:
        """Start with no notes."""
        self.notes = set()

    def set_echo_payload(self, payload: str, *, via_connection: bool = False) -> None:
        """Fix the echo payload (one per run) so requests can be pre-encoded.

        With ``via_connection``, :meth:`echo_request` builds the
        send-to-connection request instead (SignalR ``SendToMe``, plain
        ``to_me``, Socket.IO ``to_me``): the server answers through its
        addressed-send API with an ``Echoed``/``echoed`` push, which
        :meth:`parse` checks against the payload and counts in
        :attr:`Parsed.echoes`, so the echo loop runs unchanged.
        """
        self.echo_payload = payload
        self.via_connection = via_connection

    @abstractmethod
    async def open(self, session: aiohttp.ClientSession, base_url: str, path: str, timeout: float) -> Connection[M]:
        """Open and fully handshake one connection; raise on failure within ``timeout`` seconds.

        ``session`` is for the HTTP steps: SignalR's negotiate, and its
        Server-Sent Events and Long Polling transports.
        """

    @abstractmethod
    def echo_request(self, seq: int) -> M:
        """Return the message asking for an echo of :attr:`echo_payload` (request number ``seq``).

        In :attr:`via_connection` mode: the send-to-connection request (``seq`` unused).
        """

    @abstractmethod
    def broadcast_request(self, body: dict[str, Any]) -> M:
        """Return the message asking the server to broadcast ``body`` to all connections."""

    @abstractmethod
    def join_request(self, group: str) -> M:
        """Return the message asking the server to add this connection to ``group`` (answered: :attr:`Parsed.acks`)."""

    @abstractmethod
    def group_request(self, group: str, body: dict[str, Any]) -> M:
        """Return the message asking the server to push ``body`` to the members of ``group`` (as a broadcast)."""

    @abstractmethod
    def parse(self, message: M) -> Parsed:
        """Classify one incoming message; ignore keep-alives; raise :class:`ProtocolError` on bad data."""


def ws_url(base_url: str, path: str) -> str:
    """``http://h:p`` + ``/path`` -> ``ws://h:p/path``."""
    return "ws" + base_url.removeprefix("http") + path


def new_session(connections: int) -> aiohttp.ClientSession:
    """HTTP session for negotiate, SSE and Long Polling requests.

    The pool must never make a request wait for a free socket: an SSE or Long
    Polling connection holds one socket for its stream or poll and needs a
    second for its POSTs, so the limit is two per connection plus room for
    the negotiates.
    """
    connector = aiohttp.TCPConnector(limit=2 * connections + 64, limit_per_host=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))

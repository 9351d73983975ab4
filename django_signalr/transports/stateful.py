"""Stateful WebSocket connections on the process that owns them, and the sockets serving them.

A stateful connection (PROTOCOL.md §4) outlives its socket: when the socket drops, the hub
connection waits ``DISCONNECT_TIMEOUT`` for the client to come back with the same token. With
no sticky sessions the new socket may land on any process. On the owner it simply takes the
connection over; elsewhere that process relays the socket's frames to the owner and the
owner's frames back through the channel layer (``RelayedSocket`` here, at the owner, and
``WebSocketTransport`` relaying at the socket's process), so the hub connection, its groups,
its message buffer and its sequence numbers never move.

Wire of a relay (messages on the node channels): the socket's process asks the owner
``signalr.ws_attach`` (token, stream id), the owner answers ``status`` and ``binary``; then
``signalr.ws_data`` carries client frames to the owner, ``signalr.stream`` (manager.py's
stream relay) carries the owner's frames back and its ``end``, and ``signalr.ws_gone`` says the
socket closed (``dropped`` when without a close frame).

Known limit: a relay has no flow control across the layer. A client that floods its socket is
bounded by what the owner accepts per message (``MAXIMUM_RECEIVE_MESSAGE_SIZE``), not by how
fast the owner's hub methods run.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..lifetime import names
from ..lifetime.node import HANDLERS, Node
from ..protocol import TransferFormat
from . import manager

if TYPE_CHECKING:
    from ..endpoint import HubEndpoint
    from ..hub_connection import HubConnection

logger = logging.getLogger("django_signalr.transports")

# How long a process relaying a resumed socket waits for the owner to take it.
ATTACH_TIMEOUT = 5.0


class StatefulSocket(Protocol):
    """What serves a stateful connection now: a local socket or a relay to another process."""

    connection: HubConnection | None
    superseded: bool

    def close_socket(self) -> None: ...


_stateful: weakref.WeakKeyDictionary[Node, dict[str, StatefulSocket]] = weakref.WeakKeyDictionary()


def sockets(node: Node) -> dict[str, StatefulSocket]:
    """This process's stateful connections by token: the socket serving each now."""
    found = _stateful.get(node)
    if found is None:
        found = _stateful[node] = {}
    return found


def resumable(node: Node, token: str) -> StatefulSocket | None:
    """The socket whose connection a new socket with ``token`` may take over."""
    previous = sockets(node).get(token)
    if previous is None or previous.connection is None or previous.connection.ending:
        return None  # never here, or it ended while detached (a timeout, say)
    return previous


def take_over(
    node: Node,
    token: str,
    previous: StatefulSocket,
    successor: StatefulSocket,
    flush: Callable[[], Awaitable[None]],
    flush_queued: Callable[[], Awaitable[None]] | None = None,
) -> HubConnection:
    """``successor`` serves ``previous``'s connection from now on (the old socket may still
    look open: it is closed); the connection replays what the client has not acknowledged."""
    connection = previous.connection
    assert connection is not None
    logger.debug("Stateful connection %s: %r takes over from %r", token, successor, previous)
    previous.superseded = True
    previous.close_socket()
    sockets(node)[token] = successor
    connection.attach(flush, flush_queued)
    return connection


async def end(endpoint: HubEndpoint, node: Node, token: str | None, socket: StatefulSocket) -> None:
    """A connection served by ``socket`` is over: the disconnect path, then the token goes."""
    assert socket.connection is not None
    await socket.connection.disconnected()
    if token is not None:
        found = sockets(node)
        if found.get(token) is socket:
            del found[token]
        manager.notify(endpoint, token, "release")


class RelayedSocket:
    """At the owner: a stateful connection whose socket is held by another process."""

    def __init__(self, endpoint: HubEndpoint, node: Node, token: str, holder: str, stream: str) -> None:
        self.endpoint = endpoint
        self.node = node
        self.token = token
        self.holder = holder  # the node id of the process holding the socket
        self.stream = stream  # its stream id there (manager.py's remote streams)
        self.connection: HubConnection | None = None
        self.superseded = False
        self._inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._send_lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None

    def start(self, previous: StatefulSocket) -> None:
        logger.debug("Stateful connection %s: served through %s from now on", self.token, self.stream)
        connection = self.connection = take_over(self.node, self.token, previous, self, self.flush)
        loop = self.node.loop
        loop.create_task(self._read_loop(connection))
        self._writer = loop.create_task(self._write_loop(connection))

    def __repr__(self) -> str:
        return f"<RelayedSocket {self.stream}>"

    def received(self, data: bytes) -> None:
        self._inbound.put_nowait(data)

    async def _read_loop(self, connection: HubConnection) -> None:
        """Client frames in the order the socket's process sent them, until the socket goes.
        A frame being processed then is finished, never cancelled (an inline invocation may be
        running in it, as in a local socket's receive loop); frames queued behind it were not
        acknowledged, so the client sends them again on its next socket."""
        while (data := await self._inbound.get()) is not None:
            await connection.receive(data)

    async def flush(self) -> None:
        connection = self.connection
        if connection is None:
            return
        outbox = connection.outbox
        async with self._send_lock:
            while outbox.pending and not self.superseded:
                await self._to_holder(data=outbox.take())

    async def _write_loop(self, connection: HubConnection) -> None:
        outbox = connection.outbox
        try:
            while not (outbox.closed and not outbox.pending):
                await outbox.wait()
                await self.flush()
        except Exception as error:  # the layer failed: the client will reconnect
            logger.warning("Relaying to the socket of %s failed: %r", connection.connection_id, error)
            self.gone(dropped=True)
            return
        # The server ended the connection: the socket closes after the last frame.
        self._stop()
        await self._to_holder(end=True)
        await end(self.endpoint, self.node, self.token, self)

    async def _to_holder(self, **fields: Any) -> None:
        await self.node.send(names.node(self.holder), {"type": "signalr.stream", "stream": self.stream, **fields})

    def close_socket(self) -> None:
        """A newer socket took the connection over: close this one at its process."""
        self._stop()
        self.node.loop.create_task(self._to_holder(end=True))

    def gone(self, *, dropped: bool) -> None:
        """The socket closed at its process: wait for the client again, or end."""
        logger.debug("Stateful connection %s: socket %s gone (dropped: %s)", self.token, self.stream, dropped)
        self._stop()
        connection = self.connection
        if connection is None or self.superseded:
            return
        if dropped and not connection.ending:
            connection.detach(self._end)
        else:
            self.node.loop.create_task(self._end())

    async def _end(self) -> None:
        await end(self.endpoint, self.node, self.token, self)

    def _stop(self) -> None:
        """No more frames either way: the reader ends after the frame it is on, the writer now."""
        while not self._inbound.empty():
            self._inbound.get_nowait()
        self._inbound.put_nowait(None)
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()


def _relay_of(node: Node, message: dict[str, Any]) -> RelayedSocket | None:
    """The relay a message is about, if it still serves its connection."""
    socket = sockets(node).get(message["token"])
    if isinstance(socket, RelayedSocket) and socket.stream == message["relay"]:
        return socket
    return None  # superseded or ended: a late message from an old socket


async def _on_attach(node: Node, message: dict[str, Any]) -> None:
    token = message["token"]
    previous = resumable(node, token)
    connection = previous.connection if previous is not None else None
    if previous is None or connection is None or connection.endpoint.manager.key != message["hub"]:
        await node.reply(message, status=404)
        return
    binary = connection.protocol is not None and connection.protocol.transfer_format is TransferFormat.BINARY
    # The answer goes first: on the same node channel, the replayed frames follow it.
    await node.reply(message, status=200, binary=binary)
    RelayedSocket(connection.endpoint, node, token, message["stream"].partition(".")[0], message["stream"]).start(
        previous
    )


async def _on_data(node: Node, message: dict[str, Any]) -> None:
    relay = _relay_of(node, message)
    if relay is not None:
        relay.received(message["data"])


async def _on_gone(node: Node, message: dict[str, Any]) -> None:
    relay = _relay_of(node, message)
    if relay is not None:
        relay.gone(dropped=message["dropped"])


HANDLERS["signalr.ws_attach"] = _on_attach
HANDLERS["signalr.ws_data"] = _on_data
HANDLERS["signalr.ws_gone"] = _on_gone

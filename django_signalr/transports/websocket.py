"""The WebSockets transport, a Channels consumer that owns its receive loop (DESIGN decision 6).

The generic consumer dispatch (a channel-layer receive and ``asyncio.wait`` per message, and
``close_old_connections`` in a thread) costs more than the whole hub protocol; this consumer
reads the ASGI ``receive`` directly and never listens on the layer, since the process's node
delivers fan-out to it. A writer task sends what other tasks put in the outbox; a reply to
the client's own invocation is sent by the receive loop itself, with no task switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import orjson
from asgiref.typing import WebSocketSendEvent

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from ..auth import anonymous_user
from ..endpoint import HubEndpoint
from ..hub_connection import HubConnection
from ..lifetime import names
from ..lifetime.node import Node
from ..protocol import TransferFormat
from . import manager, stateful
from .base import HubConsumer
from .manager import WEBSOCKETS, Response
from .stateful import StatefulSocket

logger = logging.getLogger("django_signalr.transports")

NORMAL_CLOSURE = 1000
# Closes with these codes are clean: normal, going away (a closed tab). Anything else is a
# dropped connection: 1006 from daphne when TCP went without a close frame, and 1005 from
# uvicorn's websockets-sansio implementation in that same case (it cannot be told apart from
# a close frame with no status, which clients do not send).
CLEAN_CLOSE_CODES = frozenset((1000, 1001))
# A refused upgrade: daphne and uvicorn answer a close before accept with HTTP 403.
POLICY_VIOLATION = 1008

_FORMATS = frozenset((TransferFormat.TEXT, TransferFormat.BINARY))


@dataclass(frozen=True, slots=True)
class Admission:
    """Who an accepted upgrade is: a new connection, a stateful one it resumes here, or a
    stateful one owned by another process, which this socket relays to (``relay``)."""

    connection_id: str
    stateful: bool = False
    resumes: StatefulSocket | None = None
    relay: Relay | None = None


@dataclass(frozen=True, slots=True)
class Relay:
    """A socket of a stateful connection owned by another process."""

    owner: str
    stream: str
    binary: bool


def _frame(data: bytes, *, binary: bool) -> WebSocketSendEvent:
    """Text for JSON, binary for MessagePack. One of the two keys only: ASGI allows both (one
    None), Channels' test communicators do not."""
    frame = {"type": "websocket.send", "bytes": data} if binary else {"type": "websocket.send", "text": data.decode()}
    return cast(WebSocketSendEvent, frame)


class WebSocketTransport(HubConsumer):
    """One WebSocket to one hub: a connection of its own, or a stateful connection it resumes
    after the previous socket dropped (the connection, its groups and its unacknowledged
    messages live on; the client sees the same connection id and no reconnect)."""

    def __init__(self, endpoint: HubEndpoint) -> None:
        super().__init__(endpoint)
        self.connection: HubConnection | None = None
        self.token: str | None = None  # None for skip-negotiation connections
        self.superseded = False  # a newer socket resumed this socket's connection
        # Held while sending: the receive loop (replying to its client) and the writer task
        # (fan-out from elsewhere) both flush, one at a time, in order.
        self._send_lock = asyncio.Lock()
        self._broken = False
        # A relayed socket: the owner's frames, held until the upgrade is accepted.
        self._relayed: deque[bytes | None] = deque()
        self._relay_open = False
        self._relay_binary = False

    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        """The consumer's whole life: admit, accept, then read until the peer leaves."""
        self.base_send = send
        if (await receive())["type"] != "websocket.connect":
            return
        admission = await self._admit(scope)
        if isinstance(admission, Response):
            await self._refuse(scope, admission)
            return
        await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
        if admission.relay is not None:
            await self._serve_relay(admission.relay, receive)
            return
        node = self._node()
        if admission.resumes is not None:
            assert self.token is not None
            connection = stateful.take_over(node, self.token, admission.resumes, self, self.flush, self.flush_queued)
        else:
            connection = HubConnection(
                self.endpoint,
                connection_id=admission.connection_id,
                scope=scope,
                user=scope.get("user") or anonymous_user(),
                transport=WEBSOCKETS,
                transfer_formats=_FORMATS,
                flush=self.flush,
                stateful=admission.stateful,
                flush_queued=self.flush_queued,
            )
            if admission.stateful and self.token is not None:
                stateful.sockets(node)[self.token] = self
        self.connection = connection
        writer = asyncio.get_running_loop().create_task(self._write_loop(connection))
        dropped = False
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    data = text.encode() if text is not None else message.get("bytes") or b""
                    await connection.receive(data)
                elif message["type"] == "websocket.disconnect":
                    dropped = message.get("code", NORMAL_CLOSURE) not in CLEAN_CLOSE_CODES
                    if dropped and not connection.message_buffer:
                        code = message.get("code")
                        connection.transport_closed(ConnectionResetError(f"The WebSocket closed with code {code}."))
                    break
        finally:
            writer.cancel()
            if not self.superseded:
                if dropped and connection.message_buffer is not None and not connection.ending:
                    connection.detach(self._end)  # the client may come back with the token
                else:
                    await self._end()

    async def _end(self) -> None:
        await stateful.end(self.endpoint, self._node(), self.token, self)

    def close_socket(self) -> None:
        """Close this socket (replaced by a newer one); errors mean it is gone already."""
        self._broken = True
        asyncio.get_running_loop().create_task(self._send_close())

    async def _send_close(self) -> None:
        with contextlib.suppress(Exception):
            await self.base_send({"type": "websocket.close", "code": NORMAL_CLOSURE, "reason": None})

    def _node(self) -> Node:
        return self.endpoint.manager.node(serving=True)

    async def _admit(self, scope: Scope) -> Admission | Response:
        """Who this upgrade is, or the HTTP answer refusing it."""
        if WEBSOCKETS not in self.endpoint.transports():
            return Response(404, b"WebSockets transport not supported by this end point type")
        if not await self.authorized(scope):
            return Response(401)
        token = self.query_param(scope, "id")
        if token is None:  # skipNegotiation: a new connection, negotiate-version-0 style
            return Admission(manager.new_connection_id())
        claimed = await manager.request(
            self.endpoint, token, "claim", supported=self.endpoint.transports(), node=self._node().id
        )
        if claimed.status != 200:
            return claimed
        claim = orjson.loads(claimed.body)
        self.token = token
        if claim["owner"] != self._node().id:
            relay = await self._attach_to(claim["owner"], token)
            return manager.NOT_FOUND if relay is None else Admission(claim["id"], True, relay=relay)
        if not claim["stateful"] or token not in stateful.sockets(self._node()):
            return Admission(claim["id"], claim["stateful"])
        resumes = stateful.resumable(self._node(), token)
        return manager.NOT_FOUND if resumes is None else Admission(claim["id"], True, resumes)

    # -- relaying a stateful connection owned by another process -----------------------------

    async def _attach_to(self, owner: str, token: str) -> Relay | None:
        """Ask the owner to serve its connection through this socket; ``None`` if it cannot
        (the connection ended, or the owner's process is gone)."""
        node = self._node()
        stream = manager.remote_stream(node, self._from_owner)
        request = {"type": "signalr.ws_attach", "hub": self.endpoint.manager.key, "token": token, "stream": stream}
        answer = await node.request(request, stateful.ATTACH_TIMEOUT, node=owner)
        if answer is None or answer["status"] != 200:
            manager.forget_stream(self.endpoint, self._from_owner)
            logger.info("Stateful reconnect of %s: its owner %s did not take it", token, owner)
            return None
        return Relay(owner, stream, answer["binary"])

    async def _from_owner(self, data: bytes | None) -> None:
        """The owner's frames (``None``: it closed the connection or another socket took it)."""
        self._relayed.append(data)
        if self._relay_open:
            await self._send_relayed()

    async def _send_relayed(self) -> None:
        async with self._send_lock:
            while self._relayed and not self._broken:
                data = self._relayed.popleft()
                if data is None:
                    self._broken = True  # the owner is done with this socket: nothing is reported back
                    await self._send_close()
                    return
                try:
                    await self.base_send(_frame(data, binary=self._relay_binary))
                except Exception as error:  # the client is gone: the receive loop tells the owner
                    logger.debug("Sending to the socket of %s failed: %r", self.token, error)
                    self._relayed.clear()
                    return

    async def _serve_relay(self, relay: Relay, receive: ASGIReceiveCallable) -> None:
        """Pass client frames to the owner in order; tell it when the socket goes."""
        self._relay_binary, self._relay_open = relay.binary, True
        logger.debug("Socket of %s: relaying to its owner %s as %s", self.token, relay.owner, relay.stream)
        node, owner = self._node(), names.node(relay.owner)
        about = {"token": self.token, "relay": relay.stream}
        dropped = True
        try:
            await self._send_relayed()
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    text = message.get("text")
                    data = text.encode() if text is not None else message.get("bytes") or b""
                    await node.send(owner, {"type": "signalr.ws_data", **about, "data": data})
                elif message["type"] == "websocket.disconnect":
                    dropped = message.get("code", NORMAL_CLOSURE) not in CLEAN_CLOSE_CODES
                    break
        except Exception as error:  # the layer failed: end this socket, the client comes back
            logger.warning("Relaying a socket of %s to its owner failed: %r", self.token, error)
            self._broken = True
            await self._send_close()
        finally:
            logger.debug("Socket of %s (%s) closed; dropped: %s", self.token, relay.stream, dropped)
            manager.forget_stream(self.endpoint, self._from_owner)
            if not self._broken or dropped:
                with contextlib.suppress(Exception):
                    await node.send(owner, {"type": "signalr.ws_gone", **about, "dropped": dropped})

    async def _refuse(self, scope: Scope, response: Response) -> None:
        """Refuse the upgrade with ASP.NET Core's status and text where the server can send an
        HTTP answer to a WebSocket request (uvicorn); elsewhere (daphne) closing before accept
        makes it a 403. Browsers show every refusal alike; the Node client shows the status."""
        logger.info("WebSocket refused: %s %s", response.status, response.body.decode())
        if "websocket.http.response" in scope.get("extensions", {}):
            await self.base_send(
                cast(
                    Any,
                    {
                        "type": "websocket.http.response.start",
                        "status": response.status,
                        "headers": [(b"content-type", response.content_type)],
                    },
                )
            )
            await self.base_send(cast(Any, {"type": "websocket.http.response.body", "body": response.body}))
        else:
            await self.base_send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": None})

    async def flush(self) -> None:
        """Send everything pending as one frame per take; text for JSON, binary for MessagePack."""
        connection = self.connection
        if connection is None:
            return
        outbox = connection.outbox
        # acquire/release rather than ``async with``: two coroutine frames less per reply.
        await self._send_lock.acquire()
        try:
            protocol = connection.protocol  # None until the handshake answer has gone: text
            binary = protocol is not None and protocol.transfer_format is TransferFormat.BINARY
            while outbox.pending and not self._broken:
                await self.base_send(_frame(outbox.take(), binary=binary))
        except Exception as error:  # the peer is gone; the receive loop sees the disconnect
            logger.debug("Sending to %s failed: %r", connection.connection_id, error)
            self._broken = True
            if connection.message_buffer is None:
                outbox.close()  # a stateful connection waits for its client to come back
        finally:
            self._send_lock.release()

    async def flush_queued(self) -> None:
        """From the node's flusher: send now, unless a send is under way (it loops until the
        outbox is empty, so it sends this too; waiting for it here would hold up every other
        connection of the fan-out behind this one)."""
        if not self._send_lock.locked():
            await self.flush()

    async def _write_loop(self, connection: HubConnection) -> None:
        outbox = connection.outbox
        while True:
            await outbox.wait()
            await self.flush()
            if self._broken or (outbox.closed and not outbox.pending):
                break
        if self._broken:
            return  # the socket failed or was replaced: the receive loop decides what follows
        try:
            await self.base_send({"type": "websocket.close", "code": NORMAL_CLOSURE, "reason": None})
        except Exception as error:
            logger.debug("Closing %s failed: %r", connection.connection_id, error)
        await connection.disconnected()  # the server ended the connection: no need to wait for the peer

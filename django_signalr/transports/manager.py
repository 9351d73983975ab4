"""Negotiated connections and every HTTP request about them (ASP.NET Core's
``HttpConnectionManager`` and ``HttpConnectionDispatcher``), with no sticky sessions.

Negotiate creates an ``HttpConnection`` record on the process that answered it -- its *home* --
and the token names that process's node (``<random>.<node id>``). Any request with the token
may land on any process: it is handled by the home record, directly or through the channel
layer, so every status code is decided in one place.

- WebSockets: the process holding the socket claims the record and owns the hub connection
  (the hot path stays local); it releases the record when the socket ends.
- Server-Sent Events and Long Polling: the hub connection lives at home. A stream opened on
  another process receives its data through the layer; polls, sends and deletes are requests
  to home answered through the layer.

A token not known at home (never negotiated, expired after ``DISCONNECT_TIMEOUT`` without a
transport, or disposed) is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..asgi_types import Scope
from ..auth import authenticate_scope
from ..endpoint import HubEndpoint
from ..hub_connection import HubConnection
from ..lifetime import names
from ..lifetime.node import HANDLERS, Node
from ..protocol import TransferFormat
from .http import TEXT_PLAIN

logger = logging.getLogger("django_signalr.transports")

WEBSOCKETS, SERVER_SENT_EVENTS, LONG_POLLING = "WebSockets", "ServerSentEvents", "LongPolling"
OCTET_STREAM = b"application/octet-stream"

# How long a request relayed to the home process waits for its answer (a poll: longer).
RELAY_TIMEOUT = 10.0
# Unread POST bodies kept per connection before a send waits (ASP.NET's pipe pauses likewise).
INBOUND_CHUNKS = 16


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: bytes = TEXT_PLAIN

    def to_message(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body, "content_type": self.content_type}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Response:
        return cls(message["status"], message["body"], message["content_type"])


NOT_FOUND = Response(404, b"No Connection with that ID")
OK = Response(200)


def new_connection_id() -> str:
    """16 random bytes in base64url (22 characters), like ASP.NET Core's ids."""
    return secrets.token_urlsafe(16)


StreamSink = Callable[[bytes | None], Awaitable[None]]  # data, or None for the end


@dataclass(eq=False)
class HttpConnection:
    """One negotiated connection, on its home process."""

    endpoint: HubEndpoint
    node: Node
    connection_id: str
    token: str
    negotiate_version: int
    stateful: bool = False  # the client asked for stateful reconnect, and it is allowed
    owner: str | None = None  # the node owning a WebSocket connection
    transport: str | None = None
    hub: HubConnection | None = None
    active: bool = False  # an SSE stream is open, or a poll is waiting
    disposed: bool = False
    inbound: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(INBOUND_CHUNKS))
    poll: asyncio.Future[Response] | None = None
    remote_polls: dict[str, asyncio.Task[Response]] = field(default_factory=dict)
    expiry: asyncio.TimerHandle | None = None
    reader: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def expire_after(self, seconds: float, reason: str) -> None:
        """Dispose unless a transport request comes within ``seconds``."""
        self.cancel_expiry()
        self.expiry = self.node.loop.call_later(seconds, self._expire, reason)

    def cancel_expiry(self) -> None:
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None

    def _expire(self, reason: str) -> None:
        logger.info("Disposing connection %s: %s", self.connection_id, reason)
        if self.hub is None or self.hub.outbox.closed:
            self.dispose()
        else:  # the disconnect path runs, then the record goes (_end_when_closed)
            self.hub.transport_closed(TimeoutError(reason))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.node.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def dispose(self) -> None:
        """Forget the connection: later requests with its token get 404."""
        if self.disposed:
            return
        self.disposed = True
        self.cancel_expiry()
        if self.poll is not None and not self.poll.done():
            self.poll.set_result(Response(204))
        if self.reader is not None:
            self.reader.cancel()
        _records(self.node).pop(self.token, None)

    async def start_hub(self, scope: Scope, transport: str, formats: frozenset[TransferFormat]) -> HubConnection:
        """The hub connection of an SSE or long-polling connection, with its inbound reader."""
        hub = HubConnection(
            self.endpoint,
            connection_id=self.connection_id,
            scope=scope,
            user=scope["user"],
            transport=transport,
            transfer_formats=formats,
            flush=self._notify,
            keep_alive=transport != LONG_POLLING,
        )
        self.hub = hub
        self.reader = self.spawn(self._read_inbound(hub))
        return hub

    async def _notify(self) -> None:
        if self.hub is not None:
            self.hub.outbox.notify()

    async def _read_inbound(self, hub: HubConnection) -> None:
        """POST bodies feed the hub connection one at a time, in order, while sends return
        (a send waits only when ``INBOUND_CHUNKS`` bodies are unread, as a pipe pauses)."""
        while True:
            await hub.receive(await self.inbound.get())


_registry: weakref.WeakKeyDictionary[Node, dict[str, HttpConnection]] = weakref.WeakKeyDictionary()


def _records(node: Node) -> dict[str, HttpConnection]:
    records = _registry.get(node)
    if records is None:
        records = _registry[node] = {}
    return records


# -- negotiate (always at home) -------------------------------------------------------------


async def create(endpoint: HubEndpoint, negotiate_version: int, *, stateful: bool = False) -> HttpConnection:
    """The connection negotiate answers with; kept until a transport takes it or it expires."""
    node = endpoint.manager.node(serving=True)
    if not node.local_only:
        await node.channel()  # other processes reach this record through our node channel
    connection_id = new_connection_id()
    # Negotiate version 0 has no token: the client sends the id, so the id carries the node.
    if negotiate_version == 0:
        connection_id = token = f"{connection_id}.{node.id}"
    else:
        token = f"{new_connection_id()}.{node.id}"
    record = HttpConnection(endpoint, node, connection_id, token, negotiate_version, stateful)
    _records(node)[token] = record
    record.expire_after(endpoint.options.disconnect_timeout, "no transport came for it")
    return record


# -- what home does for each request ---------------------------------------------------------


def _bind(record: HttpConnection, transport: str, supported: list[str]) -> Response | None:
    """ASP.NET Core's EnsureConnectionState: ``None`` when the request may use the connection."""
    if transport not in supported:
        return Response(404, f"{transport} transport not supported by this end point type".encode())
    if record.transport is None:
        record.transport = transport
        return None
    if record.transport != transport:
        return Response(400, b"Cannot change transports mid-connection")
    if transport != LONG_POLLING:
        return Response(409)
    return None


async def _claim(record: HttpConnection, request: dict[str, Any]) -> Response:
    """A WebSocket takes the connection: its process owns it from now on, and releases the
    record when the connection ends. A stateful connection may be claimed again by a new
    socket (stateful reconnect), which goes to the owner. The body is JSON: the connection id,
    whether it is stateful, and the owner's node id."""
    if not (record.stateful and record.transport == WEBSOCKETS):
        refused = _bind(record, WEBSOCKETS, request["supported"])
        if refused is not None:
            return refused
    record.cancel_expiry()
    if record.owner is None:
        record.owner = request["node"]
    claim = {"id": record.connection_id, "stateful": record.stateful, "owner": record.owner}
    return Response(200, orjson.dumps(claim), b"application/json")


async def _release(record: HttpConnection, request: dict[str, Any]) -> Response:
    record.dispose()
    return OK


async def _open_stream(record: HttpConnection, request: dict[str, Any]) -> Response:
    refused = _bind(record, SERVER_SENT_EVENTS, request["supported"])
    if refused is not None:
        return refused
    record.cancel_expiry()
    record.active = True
    hub = await record.start_hub(await _scope(request), SERVER_SENT_EVENTS, frozenset((TransferFormat.TEXT,)))
    sink: StreamSink = request["sink"]
    record.spawn(_pump(record, hub, sink))
    return OK


async def _pump(record: HttpConnection, hub: HubConnection, sink: StreamSink) -> None:
    """Everything the hub writes goes to the stream; the stream ends with the connection."""
    outbox = hub.outbox
    try:
        while True:
            await outbox.wait()
            if outbox.pending:
                await sink(outbox.take())
            elif outbox.closed:
                break
        await sink(None)
    except Exception:
        logger.exception("Streaming to %s failed", record.connection_id)
    finally:
        await hub.disconnected()
        record.dispose()


async def _stream_closed(record: HttpConnection, request: dict[str, Any]) -> Response:
    """The client closed its EventSource: that is how an SSE client goes away."""
    if record.hub is not None:
        record.hub.transport_closed()
    return OK


async def _poll(record: HttpConnection, request: dict[str, Any]) -> Response:
    refused = _bind(record, LONG_POLLING, request["supported"])
    if refused is not None:
        return refused
    loop = record.node.loop
    timeout = record.endpoint.options.disconnect_timeout
    if record.hub is None:
        # The first poll starts the connection and returns at once (the client's start()
        # waits for it); the hub's Close, if it comes, waits for the next poll.
        record.cancel_expiry()
        hub = await record.start_hub(
            await _scope(request), LONG_POLLING, frozenset((TransferFormat.TEXT, TransferFormat.BINARY))
        )
        record.spawn(_end_when_closed(record, hub))
        record.expire_after(timeout, "the long polling client stopped polling")
        return Response(200, content_type=OCTET_STREAM)
    hub = record.hub
    if record.poll is not None and not record.poll.done():
        record.poll.set_result(Response(204))  # a new poll supersedes the waiting one
    record.cancel_expiry()
    this_poll: asyncio.Future[Response] = loop.create_future()
    record.poll = this_poll
    data_or_close = loop.create_task(hub.outbox.wait())
    waiting: set[asyncio.Future[Any]] = {data_or_close, this_poll}
    try:
        await asyncio.wait(
            waiting,
            timeout=record.endpoint.options.long_polling_poll_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if this_poll.done():
            return this_poll.result()
        if hub.outbox.pending:
            return Response(200, hub.outbox.take(), OCTET_STREAM)
        if hub.outbox.closed:
            record.dispose()
            return Response(204)
        return Response(200, content_type=OCTET_STREAM)  # nothing within the poll timeout
    finally:
        data_or_close.cancel()
        if record.poll is this_poll:
            record.poll = None
            if not record.disposed:
                record.expire_after(timeout, "the long polling client stopped polling")


async def _end_when_closed(record: HttpConnection, hub: HubConnection) -> None:
    """A long-polling hub connection ends when its outbox closes: run the disconnect path at
    once; the record stays for the poll that fetches the Close message, then goes (204)."""
    await hub.outbox.wait_closed()
    await hub.disconnected()
    if not hub.outbox.pending:
        record.dispose()


async def _abort_poll(record: HttpConnection, request: dict[str, Any]) -> Response:
    task = record.remote_polls.pop(request["poll"], None)
    if task is not None:
        task.cancel()
    return OK


async def _send(record: HttpConnection, request: dict[str, Any]) -> Response:
    if record.transport == WEBSOCKETS:
        return Response(405, b"POST requests are not allowed for WebSocket connections.")
    hub = record.hub
    if hub is None:
        # Before the transport starts, as ASP.NET Core's pipe does from negotiate on: the hub
        # reads it once the first poll or stream starts the connection (signalrcore's long
        # polling sends its handshake first).
        try:
            record.inbound.put_nowait(request["body"])
        except asyncio.QueueFull:
            return Response(400, b"Too much data before the transport started")
        return OK
    if hub.outbox.closed:
        return NOT_FOUND  # the connection is over
    put = record.node.loop.create_task(record.inbound.put(request["body"]))
    over = record.node.loop.create_task(hub.outbox.wait_closed())
    await asyncio.wait({put, over}, return_when=asyncio.FIRST_COMPLETED)
    over.cancel()
    if not put.done():
        put.cancel()
        return NOT_FOUND
    return OK


async def _delete(record: HttpConnection, request: dict[str, Any]) -> Response:
    if record.transport != LONG_POLLING:
        return Response(400, b"Cannot terminate this connection using the DELETE endpoint.")
    if record.hub is not None:
        record.hub.transport_closed()
    record.dispose()
    return Response(202)


async def _scope(request: dict[str, Any]) -> Scope:
    """The scope of the request that opened the transport: as it came, when it came to this
    process; rebuilt and authenticated again here when it was relayed from another one."""
    scope: Scope = request["scope"]
    return scope if "user" in scope else await authenticate_scope(scope)


Operation = Callable[[HttpConnection, dict[str, Any]], Coroutine[Any, Any, Response]]
OPERATIONS: dict[str, Operation] = {
    "claim": _claim,
    "release": _release,
    "stream": _open_stream,
    "stream_closed": _stream_closed,
    "poll": _poll,
    "abort_poll": _abort_poll,
    "send": _send,
    "delete": _delete,
}


# -- where a request goes --------------------------------------------------------------------


def home_of(token: str) -> str:
    return token.rpartition(".")[2]


async def request(endpoint: HubEndpoint, token: str, operation: str, **fields: Any) -> Response:
    """Run ``operation`` on the record of ``token`` at its home, here or through the layer.

    ``fields`` must be msgpack-safe when home is another process (the scope is reduced to its
    portable parts, and a stream sink becomes this node's stream id).
    """
    node = endpoint.manager.node(serving=True)
    home = home_of(token)
    if home == node.id:
        record = _records(node).get(token)
        if record is None or record.endpoint.hub_class is not endpoint.hub_class:
            return NOT_FOUND
        return await OPERATIONS[operation](record, {"token": token, **fields})
    if node.local_only or not home:
        return NOT_FOUND
    return await _relay(node, endpoint, home, token, operation, fields)


async def _relay(
    node: Node, endpoint: HubEndpoint, home: str, token: str, operation: str, fields: dict[str, Any]
) -> Response:
    message = {"type": "signalr.http", "op": operation, "hub": endpoint.manager.key, "token": token}
    if "scope" in fields:
        fields = {**fields, "scope": portable_scope(fields["scope"])}
    if "sink" in fields:
        fields = {**fields, "sink": remote_stream(node, fields.pop("sink"))}
    timeout = RELAY_TIMEOUT
    if operation == "poll":
        timeout += endpoint.options.long_polling_poll_timeout
    try:
        answer = await node.request({**message, **fields}, timeout, node=home)
    except asyncio.CancelledError:
        if operation == "poll":  # the client left: home must not answer it with data
            notify(endpoint, token, "abort_poll", poll=fields["poll"])
        raise
    return NOT_FOUND if answer is None else Response.from_message(answer)


def notify(endpoint: HubEndpoint, token: str, operation: str, **fields: Any) -> None:
    """Tell home something without waiting for the answer (a stream closed, a poll gone)."""
    node = endpoint.manager.node(serving=True)
    node.loop.create_task(_notify(endpoint, token, operation, fields))


async def _notify(endpoint: HubEndpoint, token: str, operation: str, fields: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # home is gone: its record went with it
        await request(endpoint, token, operation, **fields)


_PORTABLE_SCOPE_KEYS = (
    "type",
    "path",
    "root_path",
    "query_string",
    "headers",
    "client",
    "server",
    "scheme",
    "method",
)


def portable_scope(scope: Scope) -> Scope:
    """The parts of a scope that can cross the layer (and from which home authenticates)."""
    return {key: scope[key] for key in _PORTABLE_SCOPE_KEYS if key in scope}


def remote_stream(node: Node, sink: StreamSink) -> str:
    """Register a local stream sink under an id home can send to through the layer."""
    stream_id = f"{node.id}.{secrets.token_urlsafe(9)}"
    _streams(node)[stream_id] = sink
    return stream_id


_stream_registry: weakref.WeakKeyDictionary[Node, dict[str, StreamSink]] = weakref.WeakKeyDictionary()


def _streams(node: Node) -> dict[str, StreamSink]:
    streams = _stream_registry.get(node)
    if streams is None:
        streams = _stream_registry[node] = {}
    return streams


def forget_stream(endpoint: HubEndpoint, sink: StreamSink) -> None:
    """A local stream ended: stop delivering data relayed to it."""
    streams = _streams(endpoint.manager.node(serving=True))
    for stream_id, registered in list(streams.items()):
        if registered is sink:
            del streams[stream_id]


def _layer_sink(home: Node, reply_node: str, stream_id: str) -> StreamSink:
    """At home: send a remote stream's data to the node that holds the response."""

    async def send(data: bytes | None) -> None:
        message: dict[str, Any] = {"type": "signalr.stream", "stream": stream_id}
        message.update({"end": True} if data is None else {"data": data})
        await home.send(names.node(reply_node), message)

    return send


# -- the layer side --------------------------------------------------------------------------


async def _on_http(node: Node, message: dict[str, Any]) -> None:
    """At home: a request relayed from another process. Each runs in a task of its own, so a
    waiting poll never holds up the node's other messages."""
    node.loop.create_task(_serve_relayed(node, message))


async def _serve_relayed(node: Node, message: dict[str, Any]) -> None:
    record = _records(node).get(message["token"])
    operation = message["op"]
    if record is None or record.endpoint.manager.key != message["hub"]:
        response = NOT_FOUND
    else:
        if "sink" in message:
            holder = message["sink"].partition(".")[0]
            message["sink"] = _layer_sink(node, holder, message["sink"])
        if operation == "poll":
            task = node.loop.create_task(OPERATIONS["poll"](record, message))
            record.remote_polls[message["poll"]] = task
            try:
                response = await task
            except asyncio.CancelledError:
                return  # the client left before the answer: nobody to answer
            finally:
                record.remote_polls.pop(message["poll"], None)
        else:
            response = await OPERATIONS[operation](record, message)
    if "reply" in message:
        await node.reply(message, **response.to_message())


async def _on_stream(node: Node, message: dict[str, Any]) -> None:
    """At the process holding an SSE response: data relayed from home."""
    sink = _streams(node).get(message["stream"])
    if sink is not None:
        await sink(None if message.get("end") else message["data"])


HANDLERS["signalr.http"] = _on_http
HANDLERS["signalr.stream"] = _on_stream

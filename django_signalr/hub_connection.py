"""One logical SignalR connection on the process that owns it: handshake, dispatch, lifetime.

Transports feed it received bytes (``receive``), send what its outbox holds, and report when
the peer is gone (``disconnected``). It knows nothing of ASGI. The end of a connection always
takes one path: a Close message (when the hub protocol is up), the outbox closed so the
transport flushes and closes, then -- once -- the lifetime manager and ``on_disconnected``.

Invocations run inline in the receive loop when ``MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT`` is 1
(no task per message; the next message of the client waits, as in ASP.NET Core), and as tasks
up to the limit otherwise, the receive loop waiting for a free slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from .auth import user_identifier
from .clients import HubCallerClients
from .connection import Due, HandshakeOutcome, HubConnectionState, Phase
from .dispatcher import build_error_message
from .exceptions import ConnectionDisconnectedError, HubException
from .heartbeat import get_heartbeat
from .hub import HubCallerContext
from .message_buffer import TRACKABLE, MessageBuffer
from .outbox import Outbox
from .protocol import (
    PING,
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    HubProtocol,
    InvalidDataException,
    MessageType,
    SequenceMessage,
    StreamItemMessage,
    TransferFormat,
)
from .protocol.handshake import HANDSHAKE_CANCELED, HANDSHAKE_FAILED, SUCCESS_RESPONSE, error_response
from .streams import StreamTracker, UploadStream

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    from .endpoint import HubEndpoint
    from .lifetime.base import SerializedMessage
    from .lifetime.layer import ChannelLayerHubLifetimeManager

logger = logging.getLogger("django_signalr.connection")

CLOSED_WITH_ERROR = "Connection closed with an error."

# A stream waits while this much is unsent to its client (ASP.NET Core's pipe pauses there).
_HIGH_WATER = 64 * 1024


class OperationCanceledException(TimeoutError):  # noqa: N818 - .NET's name, shown in detailed errors
    """The client went silent for longer than ``CLIENT_TIMEOUT_INTERVAL``."""


class SendBufferOverflowError(OverflowError):
    """The client stopped reading and its unsent messages outgrew ``MAXIMUM_SEND_BUFFER_SIZE``."""


CLIENT_TIMEOUT_TEXT = "Client hasn't sent a message/ping within the configured ClientTimeoutInterval."


class HubConnection:
    __slots__ = (
        "__weakref__",
        "_ack_waiters",
        "_close_exception",
        "_detach_expiry",
        "_disconnected",
        "_ending",
        "_flush",
        "_flush_queued",
        "_hub_connected",
        "_inline_dispatch",
        "_invocation_slots",
        "_loop",
        "_ping",
        "_registered",
        "_results",
        "_running_streams",
        "_seen_written",
        "_tasks",
        "authorized_methods",
        "caller_clients",
        "connecting_clients",
        "connection_id",
        "context",
        "dispatcher",
        "endpoint",
        "group_names",
        "manager",
        "message_buffer",
        "options",
        "outbox",
        "protocol",
        "scope",
        "state",
        "stateful_negotiated",
        "streams",
        "tick",
        "transport",
        "user",
        "user_identifier",
    )

    def __init__(
        self,
        endpoint: HubEndpoint,
        *,
        connection_id: str,
        scope: dict[str, Any],
        user: AbstractBaseUser | AnonymousUser,
        transport: str,
        transfer_formats: Collection[TransferFormat],
        flush: Callable[[], Awaitable[None]],
        keep_alive: bool = True,
        stateful: bool = False,
        flush_queued: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.options = options = endpoint.options
        # Looked up once: every invocation needs both.
        self.dispatcher = endpoint.dispatcher
        self.manager: ChannelLayerHubLifetimeManager = endpoint.manager
        self.connection_id = connection_id
        self.scope = scope
        self.user = user
        self.transport = transport
        self._loop = asyncio.get_running_loop()
        self.state = HubConnectionState(options, transfer_formats, self._loop.time(), keep_alive=keep_alive)
        self.outbox = Outbox(options.maximum_send_buffer_size, self._on_overflow)
        self._flush = flush
        self._flush_queued = flush_queued
        # Negotiated; turned on by a handshake of version 2 or more (PROTOCOL.md section 4).
        self.stateful_negotiated = stateful
        self.message_buffer: MessageBuffer | None = None
        self._ack_waiters: list[asyncio.Future[None]] = []
        self._detach_expiry: asyncio.TimerHandle | None = None
        self.protocol: HubProtocol | None = None
        self.user_identifier: str | None = None
        # Completed by the handshake (protocol, user identifier) before any hub code runs.
        self.context = HubCallerContext(
            connection_id=connection_id,
            user=user,
            user_identifier=None,
            transport=transport,
            protocol="",
            scope=scope,
            abort=self.abort,
        )
        self.caller_clients = HubCallerClients(self.manager, self)
        self.connecting_clients = HubCallerClients(self.manager, self, invoke_allowed=False)
        self.streams = StreamTracker(options.stream_buffer_capacity)
        self._running_streams: dict[str, asyncio.Task[Any]] = {}
        self._results: dict[str, asyncio.Future[CompletionMessage]] = {}
        self.group_names: set[str] = set()
        self.authorized_methods: dict[str, bool] = {}
        self._registered = False
        self._hub_connected = False
        self._ending = False
        self._disconnected = False
        self._close_exception: Exception | None = None
        self._inline_dispatch = False
        self._ping = b""
        self._seen_written = 0
        limit = options.maximum_parallel_invocations_per_client
        self._invocation_slots = asyncio.Semaphore(limit) if limit > 1 else None
        self._tasks: set[asyncio.Task[None]] = set()
        self.tick = min(options.keep_alive_interval, options.client_timeout_interval, options.handshake_timeout) / 4
        get_heartbeat().add(self)

    # -- inbound -----------------------------------------------------------------------------

    async def receive(self, data: bytes) -> None:
        """Bytes from the client (any split: partial records are kept for the next call)."""
        if self._ending:
            return
        if self.state.phase is Phase.HANDSHAKE:
            outcome = self.state.receive_handshake(data)
            if outcome is None:
                return
            if not await self._complete_handshake(outcome):
                return
            messages: list[HubMessage] | tuple[HubMessage, ...] = outcome.messages
        else:
            try:
                messages = self.state.receive(data)
            except InvalidDataException as error:
                self.fail(error)
                return
        if messages:
            await self._dispatch_all(messages)

    async def _complete_handshake(self, outcome: HandshakeOutcome) -> bool:
        if outcome.error is not None:
            logger.debug("Handshake of %s failed: %s", self.connection_id, outcome.error)
            self.outbox.write(error_response(outcome.error))
            self._end(None, None)
            return False
        protocol = outcome.protocol
        assert protocol is not None
        self.protocol = protocol
        if self.stateful_negotiated and outcome.version >= 2:
            self.message_buffer = MessageBuffer(self.options.stateful_reconnect_buffer_size)
        self._ping = protocol.write_message(PING)
        self.user_identifier = self.context.user_identifier = user_identifier(self.user, self.scope)
        self.context.protocol = protocol.name
        # Reachable from every process before the client hears it is connected (registered
        # before the manager finishes, so a failure half way is still undone).
        self._registered = True
        try:
            await self.manager.on_connected(self)
        except Exception as error:  # the channel layer is down, say: the client may retry
            logger.exception("Registering %s with the lifetime manager failed", self.connection_id)
            self._fail_handshake(error)
            return False
        self.outbox.write(SUCCESS_RESPONSE)
        await self._flush()
        try:
            await self.dispatcher.on_connected(self)
        except Exception as error:
            logger.exception("on_connected of %s failed", self.endpoint.hub_class.__qualname__)
            # The client must not reconnect into the same failure; on_disconnected is not
            # called for a connection that never finished connecting (as in ASP.NET Core).
            self._end(CloseMessage(self._error_text(error), allow_reconnect=False), None)
            return False
        self._hub_connected = True
        return True

    def _fail_handshake(self, error: Exception) -> None:
        """The handshake was fine but the connection could not be registered: say so in the
        handshake answer (the client has not been told it is connected)."""
        detail = f" {type(error).__name__}: {error}" if self.options.enable_detailed_errors else ""
        self.outbox.write(error_response(HANDSHAKE_FAILED + detail))
        self._end(None, error)

    async def _dispatch_all(self, messages: Collection[HubMessage]) -> None:
        state = self.state
        state.dispatch_started(self._loop.time())
        buffer = self.message_buffer
        try:
            for message in messages:
                if self._ending:
                    break
                if buffer is not None and not self._sequenced(buffer, message):
                    continue
                if message.type is MessageType.INVOCATION:  # most messages: no detour through _dispatch
                    await self.dispatcher.dispatch(self, message)  # type: ignore[arg-type]
                else:
                    await self._dispatch(message)
        finally:
            state.dispatch_finished(self._loop.time())

    def _sequenced(self, buffer: MessageBuffer, message: HubMessage) -> bool:
        """Stateful reconnect: whether to dispatch ``message`` (Ack and Sequence are handled
        here; messages sent again after a reconnect are skipped)."""
        if not buffer.should_process(message):
            return False
        if message.type is MessageType.ACK:
            assert isinstance(message, AckMessage)
            buffer.ack(message.sequence_id)
            self._wake_ack_waiters()
            return False
        if message.type is MessageType.SEQUENCE:
            assert isinstance(message, SequenceMessage)
            try:
                buffer.reset_sequence(message.sequence_id)
            except InvalidDataException as error:
                self.fail(error)
            return False
        return True

    async def _dispatch(self, message: HubMessage) -> None:
        kind = message.type
        if kind is MessageType.INVOCATION or kind is MessageType.STREAM_INVOCATION:
            await self.dispatcher.dispatch(self, message)  # type: ignore[arg-type]
        elif kind is MessageType.STREAM_ITEM:
            assert isinstance(message, StreamItemMessage)
            if not await self.streams.put(message.invocation_id, message.item):
                logger.debug("Stream item for unknown stream %r of %s", message.invocation_id, self.connection_id)
        elif kind is MessageType.COMPLETION:
            assert isinstance(message, CompletionMessage)
            self._complete(message)
        elif kind is MessageType.CANCEL_INVOCATION:
            assert isinstance(message, CancelInvocationMessage)
            task = self._running_streams.get(message.invocation_id)
            if task is not None:
                task.cancel()
        elif kind is MessageType.PING:
            self.state.ping_received()
        elif kind is MessageType.CLOSE:
            assert isinstance(message, CloseMessage)
            exception = HubException(message.error) if message.error else None
            self._end(CloseMessage(), exception)
        else:
            logger.debug("Ignoring %s from %s", kind.name, self.connection_id)

    def _complete(self, message: CompletionMessage) -> None:
        """A client's Completion ends one of its upload streams, or answers a client result."""
        if self.streams.complete(message.invocation_id, message.error):
            return
        result = self._results.get(message.invocation_id)
        if result is not None and not result.done():
            result.set_result(message)
        else:
            logger.debug("Unexpected completion %r from %s", message.invocation_id, self.connection_id)

    async def run_invocation(
        self, invocation: Coroutine[Any, Any, None], *, background: bool, streams: Sequence[UploadStream] = ()
    ) -> None:
        """Run a checked invocation: inline when one at a time is allowed (no task per
        message), in a slot when more are, in the background (no slot) for streams."""
        if background:
            self._spawn(self._with_streams(invocation, streams))
            return
        slots = self._invocation_slots
        if slots is None:
            self._inline_dispatch = True
            try:
                await invocation
            finally:
                self._inline_dispatch = False
            if self.outbox.pending:
                await self._flush()
            return
        await slots.acquire()
        self._spawn(self._in_slot(invocation, slots))

    async def _in_slot(self, invocation: Coroutine[Any, Any, None], slots: asyncio.Semaphore) -> None:
        try:
            await invocation
        finally:
            slots.release()

    async def _with_streams(self, invocation: Coroutine[Any, Any, None], streams: Sequence[UploadStream]) -> None:
        try:
            await invocation
        finally:
            self.streams.close(streams)  # later items for them are ignored

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def register_stream(self, invocation_id: str) -> bool:
        """A server-to-client stream starts in the current task; ``False`` if the id is taken."""
        if invocation_id in self._running_streams:
            return False
        task = asyncio.current_task()
        assert task is not None
        self._running_streams[invocation_id] = task
        return True

    def unregister_stream(self, invocation_id: str) -> None:
        self._running_streams.pop(invocation_id, None)

    # -- client results ------------------------------------------------------------------------

    def check_client_results(self, *, invoke_allowed: bool) -> None:
        """ASP.NET Core's rules for client results asked from inside a hub."""
        if not invoke_allowed:
            raise RuntimeError("Client results inside OnConnectedAsync Hub methods are not allowed.")
        if self.options.maximum_parallel_invocations_per_client <= 1:
            # The receive loop runs this invocation, so it could never read the answer.
            raise RuntimeError(
                "Client results inside a Hub method requires "
                "HubOptions.MaximumParallelInvocationsPerClient to be greater than 1."
            )

    async def invoke_client(self, invocation_id: str, message: bytes, timeout: float | None) -> Any:
        """Send an Invocation (serialized already, with ``invocation_id``) and return the
        client's result; ``HubException`` with the client's error text if it answers one."""
        if self._ending:
            raise ConnectionDisconnectedError(self.connection_id)
        answer: asyncio.Future[CompletionMessage] = self._loop.create_future()
        self._results[invocation_id] = answer
        try:
            self._emit(message, trackable=True)
            completion = await asyncio.wait_for(answer, timeout)
        finally:
            self._results.pop(invocation_id, None)
        if completion.error is not None:
            raise HubException(completion.error)
        return completion.result

    # -- outbound ----------------------------------------------------------------------------

    def write_message(self, message: HubMessage) -> None:
        """Serialize and queue one message for this connection only.

        A Completion written by an inline invocation is flushed by the receive loop right after
        the method returns, so it does not wake the transport's writer.
        """
        assert self.protocol is not None, "write before the handshake"
        kind = message.type
        self._emit(
            self.protocol.write_message(message),
            trackable=kind in TRACKABLE,
            notify=not (self._inline_dispatch and kind is MessageType.COMPLETION),
        )

    async def wait_writable(self) -> None:
        """Wait while the client has much to catch up with: unacknowledged messages past
        ``STATEFUL_RECONNECT_BUFFER_SIZE``, or much unsent (a stream must not outrun its client)."""
        buffer = self.message_buffer
        while buffer is not None and buffer.full and not self._ending:
            waiter = self._loop.create_future()
            self._ack_waiters.append(waiter)
            await waiter
        await self.outbox.drained(_HIGH_WATER)

    def _wake_ack_waiters(self) -> None:
        waiters, self._ack_waiters = self._ack_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def write_serialized(self, message: SerializedMessage) -> None:
        """Queue a message serialized once for many connections, without waking the writer:
        the fan-out has ``flush_queued`` called for it (``Node.flush_later``)."""
        protocol = self.protocol
        if protocol is None or self._ending:
            return
        try:
            data = message.for_protocol(protocol)
        except LookupError:
            logger.error(
                "A fan-out message came without %s bytes; is PROTOCOLS the same on every server?",
                protocol.name,
            )
            return
        self._emit(data, trackable=True, notify=False)

    async def flush_queued(self) -> None:
        """Send what fan-outs queued without waking this connection's writer: from the node's
        flusher, which serves every connection a fan-out touched from one task. A transport
        that cannot send at once (SSE, long polling, a relayed socket) gets its writer woken."""
        if self._flush_queued is None:
            self.outbox.notify()
        else:
            await self._flush_queued()

    def _emit(self, data: bytes, *, trackable: bool, notify: bool = True) -> None:
        """Every hub message to the client goes here: kept for stateful reconnect when trackable."""
        if trackable and self.message_buffer is not None:
            self.message_buffer.track(data)
        self.outbox.write(data, notify=notify)

    # -- stateful reconnect ------------------------------------------------------------------

    @property
    def ending(self) -> bool:
        """The connection is closing or closed: nothing more reaches the hub."""
        return self._ending

    @property
    def detached(self) -> bool:
        return self._detach_expiry is not None

    def detach(self, on_expired: Callable[[], Awaitable[None]]) -> None:
        """The WebSocket dropped without a close frame: keep the connection (hub state,
        groups, unacknowledged messages) for ``DISCONNECT_TIMEOUT``, waiting for the client to
        reconnect with the same token; then end it with ``on_expired``."""
        self._detach_expiry = self._loop.call_later(
            self.options.disconnect_timeout, lambda: self._spawn(self._expire(on_expired))
        )

    async def _expire(self, on_expired: Callable[[], Awaitable[None]]) -> None:
        self._detach_expiry = None
        self.transport_closed(ConnectionResetError("The client did not reconnect within DISCONNECT_TIMEOUT."))
        await on_expired()

    def attach(
        self, flush: Callable[[], Awaitable[None]], flush_queued: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """A new WebSocket with the token replaces the old one: send Sequence and everything
        not acknowledged, and ignore the client until its own Sequence."""
        assert self.message_buffer is not None
        assert self.protocol is not None
        if self._detach_expiry is not None:
            self._detach_expiry.cancel()
            self._detach_expiry = None
        self._flush = flush
        self._flush_queued = flush_queued
        self.outbox.clear()
        sequence, unacknowledged = self.message_buffer.resend()
        self.outbox.write(self.protocol.write_message(sequence))
        for data in unacknowledged:
            self.outbox.write(data)

    # -- ending ------------------------------------------------------------------------------

    def abort(self) -> None:
        """Close from the server: a Close message without reconnect, ``on_disconnected(None)``."""
        self._end(CloseMessage(), None)

    def fail(self, exception: Exception) -> None:
        """Close because of an error; the client may reconnect (ASP.NET Core's rule)."""
        logger.info("Closing %s: %s: %s", self.connection_id, type(exception).__name__, exception)
        self._end(CloseMessage(self._error_text(exception), allow_reconnect=True), exception)

    def _error_text(self, exception: Exception) -> str:
        return build_error_message(CLOSED_WITH_ERROR, exception, self.options.enable_detailed_errors)

    def _on_overflow(self) -> None:
        self.fail(
            SendBufferOverflowError(
                f"The client is not reading: more than {self.options.maximum_send_buffer_size} "
                "bytes are waiting to be sent."
            )
        )

    def transport_closed(self, exception: Exception | None = None) -> None:
        """The client's side is gone: cleanly (an SSE stream closed, a long-polling DELETE) or
        not (a dropped TCP connection, a client that stopped polling). ``on_disconnected`` gets
        ``exception`` unless the connection was already ending for another reason."""
        if not self._ending:
            self._close_exception = exception
            self._ending = True
            self.outbox.close()

    def _end(self, close: CloseMessage | None, exception: Exception | None) -> None:
        if self._ending:
            return
        self._ending = True
        self._close_exception = exception
        if close is not None and self.protocol is not None:
            self.outbox.write(self.protocol.write_message(close))
        self.outbox.close()

    async def disconnected(self) -> None:
        """The transport is done (the peer left, or it closed after our Close). Runs once."""
        if self._disconnected:
            return
        self._disconnected = True
        self._ending = True
        self.outbox.close()
        get_heartbeat().discard(self)
        if self._detach_expiry is not None:
            self._detach_expiry.cancel()
            self._detach_expiry = None
        self._wake_ack_waiters()
        # Server streams stop (their generators close); methods reading client streams see
        # them fail; client results still awaited fail. Plain invocations run to their end.
        for task in list(self._running_streams.values()):
            task.cancel()
        self.streams.close_all(ConnectionDisconnectedError(self.connection_id))
        for answer in self._results.values():
            if not answer.done():
                answer.set_exception(ConnectionDisconnectedError(self.connection_id))
        try:
            if self._registered:
                await self.manager.on_disconnected(self)
        finally:
            if self._hub_connected:
                try:
                    await self.dispatcher.on_disconnected(self, self._close_exception)
                except Exception:
                    logger.exception("on_disconnected of %s failed", self.endpoint.hub_class.__qualname__)

    # -- clocks ------------------------------------------------------------------------------

    def on_heartbeat(self, now: float) -> None:
        state = self.state
        written = self.outbox.written
        if written != self._seen_written:
            self._seen_written = written
            state.last_sent = now
        buffer = self.message_buffer
        if buffer is not None and not self.detached and not self._ending:
            acknowledged = buffer.ack_due()
            if acknowledged is not None:
                assert self.protocol is not None
                self.outbox.write(self.protocol.write_message(AckMessage(acknowledged)))
        due = state.due(now)
        if due is None or self._ending:
            return
        if due is Due.PING:
            self.outbox.write(self._ping)
        elif due is Due.CLIENT_TIMEOUT:
            self.fail(OperationCanceledException(CLIENT_TIMEOUT_TEXT))
        else:
            self.outbox.write(error_response(HANDSHAKE_CANCELED))
            self._end(None, None)

    def __repr__(self) -> str:
        return f"<HubConnection {self.connection_id} {self.transport}>"

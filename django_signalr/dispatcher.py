"""Running a hub's invocations and lifetime events (ASP.NET Core's ``DefaultHubDispatcher``).

An invocation is checked in ASP.NET Core's order -- method exists, caller authorized, the
right kind of invocation (streaming or not), as many streams as the method takes, arguments
that bind -- and each failure answers with its exact text. Then it runs through the hub filters
on a fresh hub instance:
- a plain invocation runs inline in the connection's receive loop, or in one of
  ``MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT`` slots;
- a streaming invocation, or one taking client-to-server streams, runs in the background
  and takes no slot, so streams never block other invocations.
``async def`` methods run on the event loop; plain ``def`` methods in a worker thread through
``database_sync_to_async`` (Django's ORM rules apply to them).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.utils.module_loading import import_string

from .auth import is_authorized
from .binding import normalize_name
from .conf import HubOptions
from .exceptions import HubException
from .filters import (
    HubFilter,
    HubInvocationContext,
    HubLifetimeContext,
    chain_connected,
    chain_disconnected,
    chain_invoke,
)
from .hub import Hub
from .methods import HubMethodDescriptor, build_method_table
from .protocol import (
    CompletionMessage,
    InvalidDataException,
    InvocationMessage,
    MessageType,
    StreamInvocationMessage,
    StreamItemMessage,
)

if TYPE_CHECKING:
    from .hub_connection import HubConnection
    from .streams import UploadStream

logger = logging.getLogger("django_signalr.dispatcher")

_TARGET_CACHE_SIZE = 1024

BINDING_FAILED_DETAIL = (
    "Error binding arguments. Make sure that the types of the provided values match the "
    "types of the hub method being invoked."
)


def build_error_message(message: str, exception: BaseException, detailed: bool) -> str:
    """ASP.NET Core's ``ErrorMessageHelper``: HubException details are always shown."""
    if detailed or isinstance(exception, HubException):
        return f"{message} {type(exception).__name__}: {exception}"
    return message


class HubDispatcher:
    """Runs invocations and lifetime events of one hub class."""

    def __init__(self, hub_class: type[Hub]) -> None:
        self.hub_class = hub_class
        self.methods = build_method_table(hub_class)
        self._by_target: dict[str, HubMethodDescriptor] = {}
        self._on_connected = _as_coroutine(hub_class.on_connected)
        self._on_disconnected = _as_coroutine(hub_class.on_disconnected)
        self._filters_of: HubOptions | None = None
        self._filters: list[HubFilter] = []

    def filters(self, options: HubOptions) -> list[HubFilter]:
        """``HUB_FILTERS`` then the hub's ``hub_filters``, built once per options object."""
        if self._filters_of is not options:
            configured = [*options.hub_filters, *getattr(self.hub_class, "hub_filters", ())]
            self._filters = [import_string(f)() if isinstance(f, str) else f for f in configured]
            self._filters_of = options
        return self._filters

    def activate(self, connection: HubConnection, *, invoke_allowed: bool = True) -> Hub:
        """A fresh hub instance bound to ``connection``."""
        hub = self.hub_class()
        hub.context = connection.context
        hub.clients = connection.caller_clients if invoke_allowed else connection.connecting_clients
        manager = connection.manager
        hub.groups = manager.groups
        hub.connections = manager.connections
        return hub

    async def on_connected(self, connection: HubConnection) -> None:
        # Client results are not allowed here: the connection is not reading yet.
        hub = self.activate(connection, invoke_allowed=False)
        filters = self.filters(connection.options)
        if not filters:
            await self._on_connected(hub)
            return

        async def last(context: HubLifetimeContext) -> None:
            await self._on_connected(context.hub)

        await chain_connected(filters, last)(HubLifetimeContext(hub))

    async def on_disconnected(self, connection: HubConnection, exception: Exception | None) -> None:
        hub = self.activate(connection)
        filters = self.filters(connection.options)
        if not filters:
            await self._on_disconnected(hub, exception)
            return

        async def last(context: HubLifetimeContext, error: Exception | None) -> None:
            await self._on_disconnected(context.hub, error)

        await chain_disconnected(filters, last)(HubLifetimeContext(hub), exception)

    def find(self, target: str) -> HubMethodDescriptor | None:
        method = self._by_target.get(target)
        if method is None:
            method = self.methods.get(normalize_name(target))
            # Clients send the same few spellings; cap the cache against one that sends many.
            if method is not None and len(self._by_target) < _TARGET_CACHE_SIZE:
                self._by_target[target] = method
        return method

    async def dispatch(self, connection: HubConnection, message: InvocationMessage | StreamInvocationMessage) -> None:
        """Check an invocation, then run it (inline, in a slot, or in the background)."""
        target = message.target
        invocation_id = message.invocation_id
        method = self._by_target.get(target) or self.find(target)  # find's cache first: a call less
        if method is None:
            self._fail(
                connection,
                invocation_id,
                f"Failed to invoke '{target}' due to an error on the server. HubException: Method does not exist.",
            )
            return
        if method.login_required and not await self._authorized(connection, method):
            self._fail(connection, invocation_id, f"Failed to invoke '{target}' because user is unauthorized")
            return
        stream_results = message.type is MessageType.STREAM_INVOCATION
        if method.is_streaming and not stream_results:
            self._fail(
                connection,
                invocation_id,
                f"The client attempted to invoke the streaming '{target}' method with a non-streaming invocation.",
            )
            return
        if stream_results and not method.is_streaming:
            self._fail(
                connection,
                invocation_id,
                f"The client attempted to invoke the non-streaming '{target}' method with a streaming invocation.",
            )
            return
        stream_ids = message.stream_ids or ()
        if len(stream_ids) != len(method.stream_positions):
            mismatch = HubException(
                f"Client sent {len(stream_ids)} stream(s), Hub method expects {len(method.stream_positions)}."
            )
            detailed = connection.options.enable_detailed_errors
            self._fail(connection, invocation_id, self._unexpected(target, mismatch, detailed))
            return
        try:
            arguments = method.bind(message.arguments)
        except (ValueError, TypeError) as error:
            logger.debug("Binding arguments of %r failed: %s", target, error)
            detailed = connection.options.enable_detailed_errors
            failure = InvalidDataException(str(error) if detailed else BINDING_FAILED_DETAIL)
            self._fail(
                connection,
                invocation_id,
                build_error_message(f"Failed to invoke '{target}' due to an error on the server.", failure, detailed),
            )
            return
        streams: list[UploadStream] = []
        if stream_ids:
            streams = [
                connection.streams.open(stream_id, convert)
                for stream_id, convert in zip(stream_ids, method.stream_converters, strict=True)
            ]
            arguments = method.with_streams(arguments, streams)
        hub = self.activate(connection)
        if stream_results:
            assert invocation_id is not None
            await connection.run_invocation(
                self._stream(connection, hub, method, target, invocation_id, arguments),
                background=True,
                streams=streams,
            )
        else:
            # With client streams the method waits for items the receive loop must deliver.
            await connection.run_invocation(
                self._invoke(connection, hub, method, target, invocation_id, arguments),
                background=bool(streams),
                streams=streams,
            )

    async def _invoke(
        self,
        connection: HubConnection,
        hub: Hub,
        method: HubMethodDescriptor,
        target: str,
        invocation_id: str | None,
        arguments: Sequence[Any],
    ) -> None:
        """A non-streaming invocation: the result (or error) is the Completion, if one is awaited."""
        try:
            if method.is_coroutine and not self.filters(connection.options):  # one coroutine frame less
                result = await method.function(hub, *arguments)
            else:
                result = await self._call(connection, hub, method, target, arguments)
        except Exception as error:
            if not isinstance(error, HubException):
                logger.exception("Hub method %r of %s failed", target, self.hub_class.__qualname__)
            detailed = connection.options.enable_detailed_errors
            self._fail(connection, invocation_id, self._unexpected(target, error, detailed))
            return
        if invocation_id is None:
            return
        try:
            # CompletionMessage.with_result, without the classmethod call (1 % of an echo, callgrind)
            connection.write_message(CompletionMessage(invocation_id, result, None, True))
        except TypeError as error:  # the result cannot be serialized: tell the caller, not the log only
            logger.exception("Result of hub method %r cannot be serialized", target)
            detailed = connection.options.enable_detailed_errors
            self._fail(connection, invocation_id, self._unexpected(target, error, detailed))

    async def _stream(
        self,
        connection: HubConnection,
        hub: Hub,
        method: HubMethodDescriptor,
        target: str,
        invocation_id: str,
        arguments: Sequence[Any],
    ) -> None:
        """Stream items, then a Completion: with an error if the method failed, without one if
        it finished or was cancelled (CancelInvocation, disconnect; its ``finally`` runs)."""
        if not connection.register_stream(invocation_id):
            self._fail(connection, invocation_id, f"Invocation ID '{invocation_id}' is already in use.")
            return
        detailed = connection.options.enable_detailed_errors
        error: str | None = None
        iterator: Any = None
        try:
            try:
                result = await self._call(connection, hub, method, target, arguments)
            except Exception as failure:
                if not isinstance(failure, HubException):
                    logger.exception("Streaming hub method %r of %s failed", target, self.hub_class.__qualname__)
                error = self._unexpected(target, failure, detailed)
                return
            if result is None:
                error = (
                    f"The value returned by the streaming method '{method.name}' is not a "
                    "ChannelReader<> or IAsyncEnumerable<>."
                )
                return
            iterator = aiter(result)
            async for item in iterator:
                connection.write_message(StreamItemMessage(invocation_id, item))
                await connection.wait_writable()
        except asyncio.CancelledError:
            pass  # cancelled by the client or by the end of the connection: not an error
        except Exception as failure:
            if not isinstance(failure, HubException):
                logger.exception("Stream of hub method %r of %s failed", target, self.hub_class.__qualname__)
            error = build_error_message("An error occurred on the server while streaming results.", failure, detailed)
        finally:
            if iterator is not None and hasattr(iterator, "aclose"):
                await iterator.aclose()  # runs the generator's finally blocks, if still open
            connection.unregister_stream(invocation_id)
            connection.write_message(CompletionMessage(invocation_id, error=error))

    async def _call(
        self,
        connection: HubConnection,
        hub: Hub,
        method: HubMethodDescriptor,
        target: str,
        arguments: Sequence[Any],
    ) -> Any:
        """Run the method through the hub filters, if any."""
        filters = self.filters(connection.options)
        if not filters:
            return await _execute(hub, method, arguments)

        async def last(invocation: HubInvocationContext) -> Any:
            return await _execute(invocation.hub, method, invocation.arguments)

        return await chain_invoke(filters, last)(HubInvocationContext(hub, method.name, target, list(arguments)))

    @staticmethod
    def _unexpected(target: str, error: BaseException, detailed: bool) -> str:
        return build_error_message(f"An unexpected error occurred invoking '{target}' on the server.", error, detailed)

    async def _authorized(self, connection: HubConnection, method: HubMethodDescriptor) -> bool:
        """Whether the connection's user may call ``method`` (which requires a login)."""
        # A connection's user never changes, so the answer is kept for the connection's life,
        # as Django keeps permissions for the life of a request.
        cache = connection.authorized_methods
        if method.name not in cache:
            cache[method.name] = await is_authorized(
                connection.context.user, method.login_required, method.permission_required
            )
        return cache[method.name]

    @staticmethod
    def _fail(connection: HubConnection, invocation_id: str | None, error: str) -> None:
        if invocation_id is None:
            logger.debug("Non-blocking invocation failed: %s", error)
            return
        connection.write_message(CompletionMessage.with_error(invocation_id, error))


async def _execute(hub: Hub, method: HubMethodDescriptor, arguments: Sequence[Any]) -> Any:
    """Call the method itself: an async generator is returned, not iterated."""
    if method.is_async_generator:
        return method.function(hub, *arguments)
    if method.is_coroutine:
        return await method.function(hub, *arguments)
    return await database_sync_to_async(method.function)(hub, *arguments)


def _as_coroutine(function: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Lifetime hooks may be written sync or async; sync ones run in a worker thread."""
    if inspect.iscoroutinefunction(function):
        return function
    return database_sync_to_async(function)

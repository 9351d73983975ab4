"""Hub filters: code that wraps every hub method invocation, ``on_connected`` and
``on_disconnected`` (ASP.NET Core's ``IHubFilter``).

Subclass ``HubFilter`` and override what you need; each method gets the call's context and
``next``, which runs the rest of the pipeline (the following filters, then the hub)::

    class TimingFilter(HubFilter):
        async def invoke_method(self, invocation, next):
            started = time.monotonic()
            try:
                return await next(invocation)
            finally:
                metrics.observe(invocation.method_name, time.monotonic() - started)

Register filters for every hub in ``SIGNALR["HUB_FILTERS"]`` and for one hub in its
``hub_filters`` class attribute (instances, or dotted paths of classes to instantiate).
Global filters run first, then the hub's, each in list order; a filter can change the
arguments, the result, raise (``HubException`` reaches the client) or not call ``next``.
For a streaming method, ``next`` returns the stream; its items flow after the filters return.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from .exceptions import HubException

if TYPE_CHECKING:
    from .hub import Hub, HubCallerContext


@dataclass(slots=True)
class HubInvocationContext:
    """One invocation, as a filter sees it. ``arguments`` may be replaced before ``next``."""

    hub: Hub
    method_name: str  # the Python name of the hub method
    target: str  # the name the client used
    arguments: list[Any] = field(default_factory=list)

    @property
    def context(self) -> HubCallerContext:
        return self.hub.context


@dataclass(slots=True)
class HubLifetimeContext:
    """``on_connected`` / ``on_disconnected``, as a filter sees them."""

    hub: Hub

    @property
    def context(self) -> HubCallerContext:
        return self.hub.context


InvokeNext = Callable[[HubInvocationContext], Awaitable[Any]]
ConnectedNext = Callable[[HubLifetimeContext], Awaitable[None]]
DisconnectedNext = Callable[[HubLifetimeContext, Exception | None], Awaitable[None]]


class HubFilter:
    """The default of each method calls ``next`` unchanged."""

    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        return await next(invocation)

    async def on_connected(self, context: HubLifetimeContext, next: ConnectedNext) -> None:
        await next(context)

    async def on_disconnected(
        self,
        context: HubLifetimeContext,
        exception: Exception | None,
        next: DisconnectedNext,
    ) -> None:
        await next(context, exception)


T = TypeVar("T")


def _chain(filters: Sequence[HubFilter], last: T, wrap: Callable[[HubFilter, T], T]) -> T:
    """``last`` wrapped by ``filters``, the first filter outermost."""
    pipeline = last
    for hub_filter in reversed(filters):
        pipeline = wrap(hub_filter, pipeline)
    return pipeline


def chain_invoke(filters: Sequence[HubFilter], last: InvokeNext) -> InvokeNext:
    def wrap(hub_filter: HubFilter, following: InvokeNext) -> InvokeNext:
        async def call(invocation: HubInvocationContext) -> Any:
            return await hub_filter.invoke_method(invocation, following)

        return call

    return _chain(filters, last, wrap)


def chain_connected(filters: Sequence[HubFilter], last: ConnectedNext) -> ConnectedNext:
    def wrap(hub_filter: HubFilter, following: ConnectedNext) -> ConnectedNext:
        async def call(context: HubLifetimeContext) -> None:
            await hub_filter.on_connected(context, following)

        return call

    return _chain(filters, last, wrap)


def chain_disconnected(filters: Sequence[HubFilter], last: DisconnectedNext) -> DisconnectedNext:
    def wrap(hub_filter: HubFilter, following: DisconnectedNext) -> DisconnectedNext:
        async def call(context: HubLifetimeContext, exception: Exception | None) -> None:
            await hub_filter.on_disconnected(context, exception, following)

        return call

    return _chain(filters, last, wrap)


class LoggingFilter(HubFilter):
    """Structured logs of every invocation and connection: one record each, on the
    ``django_signalr.invocations`` logger, with ``extra`` fields ``hub``, ``method``,
    ``connection_id``, ``user``, ``transport``, ``duration_ms`` and ``outcome``
    (``ok``, ``hub_exception`` or ``error``) -- ready for a JSON log formatter."""

    logger = logging.getLogger("django_signalr.invocations")

    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await next(invocation)
        except HubException:
            outcome = "hub_exception"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            fields = self._fields(invocation.context, type(invocation.hub).__name__)
            fields.update(method=invocation.target, duration_ms=round((time.perf_counter() - started) * 1000, 3))
            fields["outcome"] = outcome
            self.logger.info(
                "%s.%s %s in %.1f ms",
                fields["hub"],
                invocation.target,
                outcome,
                fields["duration_ms"],
                extra=fields,
            )

    async def on_connected(self, context: HubLifetimeContext, next: ConnectedNext) -> None:
        await next(context)
        fields = self._fields(context.context, type(context.hub).__name__)
        self.logger.info("%s connected %s", fields["hub"], fields["connection_id"], extra=fields)

    async def on_disconnected(
        self,
        context: HubLifetimeContext,
        exception: Exception | None,
        next: DisconnectedNext,
    ) -> None:
        await next(context, exception)
        fields = self._fields(context.context, type(context.hub).__name__)
        fields["outcome"] = "ok" if exception is None else type(exception).__name__
        self.logger.info("%s disconnected %s", fields["hub"], fields["connection_id"], extra=fields)

    @staticmethod
    def _fields(context: HubCallerContext, hub: str) -> dict[str, Any]:
        user = context.user
        return {
            "hub": hub,
            "connection_id": context.connection_id,
            "user": user.get_username() if user.is_authenticated else None,
            "transport": context.transport,
        }


class RateLimitFilter(HubFilter):
    """At most ``rate`` invocations per second per connection, with bursts of ``burst``
    (a token bucket kept in ``context.items``). Beyond it the client gets
    ``... HubException: Rate limit exceeded: at most <rate> invocations per second.`` and the
    method does not run."""

    def __init__(self, rate: float = 10.0, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))

    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        items = invocation.context.items
        now = time.monotonic()
        tokens, updated = items.get(self, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        if tokens < 1:
            items[self] = (tokens, now)
            raise HubException(f"Rate limit exceeded: at most {self.rate:g} invocations per second.")
        items[self] = (tokens - 1, now)
        return await next(invocation)

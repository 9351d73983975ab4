"""Hub filters around invocations and lifetime events, and the two shipped filters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.test import override_settings

from django_signalr import Hub, HubException
from django_signalr.filters import (
    ConnectedNext,
    DisconnectedNext,
    HubFilter,
    HubInvocationContext,
    HubLifetimeContext,
    InvokeNext,
    LoggingFilter,
    RateLimitFilter,
)
from django_signalr.testing import HubCommunicator

calls: list[str] = []


class Recording(HubFilter):
    def __init__(self, name: str = "global") -> None:
        self.name = name

    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        calls.append(f"{self.name} before {invocation.method_name}/{invocation.target}{invocation.arguments}")
        result = await next(invocation)
        calls.append(f"{self.name} after {result!r}")
        return result

    async def on_connected(self, context: HubLifetimeContext, next: ConnectedNext) -> None:
        calls.append(f"{self.name} connected")
        await next(context)

    async def on_disconnected(
        self,
        context: HubLifetimeContext,
        exception: Exception | None,
        next: DisconnectedNext,
    ) -> None:
        calls.append(f"{self.name} disconnected {exception!r}")
        await next(context, exception)


class Doubling(HubFilter):
    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        invocation.arguments = [argument * 2 for argument in invocation.arguments]
        return [await next(invocation)]


class Refusing(HubFilter):
    async def invoke_method(self, invocation: HubInvocationContext, next: InvokeNext) -> Any:
        if invocation.target.lower() == "secret":
            raise HubException("not through this filter")
        return await next(invocation)


class FilteredHub(Hub):
    hub_filters: ClassVar[list[HubFilter]] = [Recording("hub"), Doubling()]

    async def on_connected(self) -> None:
        calls.append("hub on_connected")

    async def on_disconnected(self, exception: Exception | None) -> None:
        calls.append("hub on_disconnected")

    async def echo(self, value: int) -> int:
        calls.append(f"echo {value}")
        return value

    async def counter(self, count: int) -> AsyncIterator[int]:
        for number in range(count):
            yield number


@pytest.fixture(autouse=True)
def clear_calls() -> None:
    calls.clear()


async def test_global_then_hub_filters_in_order_around_everything() -> None:
    with override_settings(SIGNALR={**settings.SIGNALR, "HUB_FILTERS": ["tests.consumers.test_filters.Recording"]}):
        communicator = HubCommunicator(FilteredHub)
        await communicator.connect()
        assert await communicator.invoke("Echo", 21) == [42]
        await communicator.disconnect()
        async with asyncio.timeout(2):
            while "hub on_disconnected" not in calls:
                await asyncio.sleep(0.01)
    assert calls == [
        "global connected",
        "hub connected",
        "hub on_connected",
        "global before echo/Echo[21]",
        "hub before echo/Echo[21]",
        "echo 42",
        "hub after [42]",
        "global after [42]",
        "global disconnected None",
        "hub disconnected None",
        "hub on_disconnected",
    ]


async def test_a_filter_can_refuse_with_a_hub_exception() -> None:
    class Guarded(Hub):
        hub_filters: ClassVar[list[HubFilter]] = [Refusing()]

        async def secret(self) -> str:
            return "42"

    communicator = HubCommunicator(Guarded)
    await communicator.connect()
    with pytest.raises(HubException) as raised:
        await communicator.invoke("Secret")
    await communicator.disconnect()
    assert str(raised.value) == (
        "An unexpected error occurred invoking 'Secret' on the server. HubException: not through this filter"
    )


async def test_filters_wrap_a_streaming_call_and_its_items_flow_after() -> None:
    class Streamed(Hub):
        hub_filters: ClassVar[list[HubFilter]] = [Recording("hub")]

        async def counter(self, count: int) -> AsyncIterator[int]:
            for number in range(count):
                yield number

    communicator = HubCommunicator(Streamed)
    await communicator.connect()
    invocation_id = await communicator.stream("Counter", 2)
    items = [(await communicator.receive()).item for _ in range(2)]  # type: ignore[union-attr]
    await communicator.disconnect()
    assert items == [0, 1]
    assert calls[1] == "hub before counter/Counter[2]"  # after "hub connected"
    assert calls[2].startswith("hub after <async_generator")
    assert invocation_id == "0"


async def test_rate_limit_filter() -> None:
    class Limited(Hub):
        hub_filters: ClassVar[list[HubFilter]] = [RateLimitFilter(rate=1, burst=2)]

        async def ping(self) -> str:
            return "pong"

    communicator = HubCommunicator(Limited)
    await communicator.connect()
    assert [await communicator.invoke("Ping") for _ in range(2)] == ["pong", "pong"]
    with pytest.raises(HubException) as raised:
        await communicator.invoke("Ping")
    await communicator.disconnect()
    assert str(raised.value) == (
        "An unexpected error occurred invoking 'Ping' on the server. "
        "HubException: Rate limit exceeded: at most 1 invocations per second."
    )


def test_rate_limit_filter_refuses_a_rate_of_zero() -> None:
    with pytest.raises(ValueError, match="rate must be positive"):
        RateLimitFilter(rate=0)


async def test_logging_filter_writes_structured_records(caplog: pytest.LogCaptureFixture) -> None:
    class Logged(Hub):
        hub_filters: ClassVar[list[HubFilter]] = [LoggingFilter()]

        async def fine(self) -> None:
            return None

        async def broken(self) -> None:
            raise HubException("no")

    with caplog.at_level(logging.INFO, logger="django_signalr.invocations"):
        communicator = HubCommunicator(Logged)
        await communicator.connect()
        await communicator.invoke("Fine")
        with pytest.raises(HubException):
            await communicator.invoke("Broken")
        await communicator.disconnect()
        async with asyncio.timeout(2):
            while not any(r.getMessage().startswith("Logged disconnected") for r in caplog.records):
                await asyncio.sleep(0.01)
    records = [r for r in caplog.records if r.name == "django_signalr.invocations"]
    invocations = [r for r in records if hasattr(r, "method")]
    assert [(r.method, r.outcome, r.hub, r.transport) for r in invocations] == [  # type: ignore[attr-defined]
        ("Fine", "ok", "Logged", "WebSockets"),
        ("Broken", "hub_exception", "Logged", "WebSockets"),
    ]
    assert all(r.duration_ms >= 0 and r.connection_id for r in invocations)  # type: ignore[attr-defined]
    assert records[0].getMessage().startswith("Logged connected")

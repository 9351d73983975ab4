"""Hubs with per-hub options (lower-case class attributes override ``settings.SIGNALR``)."""

from __future__ import annotations

from tests.hubs import EchoHub, SecretHub

SMALL_LIMIT = 1024


class DetailedHub(EchoHub):
    enable_detailed_errors = True


class SmallHub(EchoHub):
    maximum_receive_message_size = SMALL_LIMIT


class SmallDetailedHub(EchoHub):
    maximum_receive_message_size = SMALL_LIMIT
    enable_detailed_errors = True


class KeepAliveHub(EchoHub):
    keep_alive_interval = 0.5


class KeepAliveSecretHub(SecretHub):
    keep_alive_interval = 0.5


class PresenceHub(EchoHub):
    """Tells everyone left how each connection ended, as ``on_disconnected`` saw it."""

    maximum_receive_message_size = SMALL_LIMIT

    async def on_disconnected(self, exception: Exception | None) -> None:
        reason = None if exception is None else type(exception).__name__
        await self.clients.all.send("Left", self.context.connection_id, reason)


class ClientTimeoutHub(EchoHub):
    # The server pings often: the JS client schedules its own pings on receiving data.
    client_timeout_interval = 1
    keep_alive_interval = 0.25


class ClientTimeoutDetailedHub(ClientTimeoutHub):
    enable_detailed_errors = True


# -- transports (test_transports.py, test_transport_http.py) ---------------------------------


class BigHub(EchoHub):
    """Takes a 1 MB message (the default limit is 32 KB)."""

    maximum_receive_message_size = 2_000_000


class ShortPollHub(EchoHub):
    """A long poll with nothing to send returns (200, empty) after one second."""

    long_polling_poll_timeout = 1


class QuickDisposeHub(PresenceHub):
    """Inactive connections (unused tokens, long-polling clients that stopped polling) are
    disposed after one second; ``on_disconnected`` is reported to everyone left as ``Left``."""

    disconnect_timeout = 1


# -- streams, client results, parallel invocations, stateful and automatic reconnect ----------
# (test_streaming.py, test_client_results.py, test_stateful_reconnect.py, test_reconnect.py,
# test_python_streams.py)

import asyncio  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402

from django_signalr import get_hub_context  # noqa: E402
from tests.hubs import StreamHub  # noqa: E402

_background: set[asyncio.Task[None]] = set()


class StreamsHub(StreamHub):
    """``StreamHub`` (four invocations at a time) plus what the tests observe from outside."""

    uploads: dict[str, list[object]] = {}

    async def echo(self, value: object) -> object:
        return value

    async def connection_id(self) -> str:
        return self.context.connection_id

    async def cleanups_of(self, connection_id: str) -> int:
        """How many of ``connection_id``'s ``Counter`` generators ran their finally block."""
        return StreamHub.cleanups.count(f"counter {connection_id}")

    async def slow(self, seconds: float, label: str) -> str:
        await asyncio.sleep(seconds)
        return label

    async def record_upload(self, items: AsyncIterator[object]) -> None:
        """For clients that cannot await an upload's result: ``Uploaded`` reads it."""
        received = [item async for item in items]
        self.uploads[self.context.connection_id] = received

    async def uploaded(self) -> list[object] | None:
        return self.uploads.get(self.context.connection_id)

    async def relay(self, items: AsyncIterator[object]) -> AsyncIterator[object]:
        """Both ways in one call: streams back what the client streams up (ASP.NET Core allows
        a streaming method to take client-to-server streams too)."""
        async for item in items:
            yield item

    async def ask_via_context(self, connection_id: str, question: str) -> object:
        """A client result through ``get_hub_context`` (no parallel-invocations rule there)."""
        return await get_hub_context(type(self)).clients.client(connection_id).invoke("Answer", question, timeout=5)

    async def ask_later(self, connection_id: str, question: str) -> None:
        """Outside any invocation: a task asks ``connection_id`` through the hub context and
        pushes the answer (or the error) to the caller as ``Answered``."""
        clients = get_hub_context(type(self)).clients
        caller = self.context.connection_id

        async def ask() -> None:
            try:
                answer: object = await clients.client(connection_id).invoke("Answer", question, timeout=5)
            except Exception as error:
                answer = f"{type(error).__name__}: {error}"
            await clients.client(caller).send("Answered", answer)

        task = asyncio.get_running_loop().create_task(ask())
        _background.add(task)
        task.add_done_callback(_background.discard)


class DetailedStreamsHub(StreamsHub):
    enable_detailed_errors = True


class OneAtATimeStreamsHub(StreamsHub):
    maximum_parallel_invocations_per_client = 1


class DetailedOneAtATimeStreamsHub(OneAtATimeStreamsHub):
    enable_detailed_errors = True


class TinyBufferHub(StreamsHub):
    """Two upload items buffered at most; the method reads slowly: the client is held back."""

    stream_buffer_capacity = 2

    async def slow_upload(self, items: AsyncIterator[int]) -> list[int]:
        received = []
        async for item in items:
            await asyncio.sleep(0.002)
            received.append(item)
        return received


class NumberedHub(StreamsHub):
    """Numbered messages both ways, for stateful reconnect: the client sends ``Record`` (each
    number is kept per connection), the server pushes ``Numbered`` to the caller."""

    received: dict[str, list[int]] = {}

    async def record(self, number: int, padding: str = "") -> None:
        self.received.setdefault(self.context.connection_id, []).append(number)

    async def recorded(self) -> list[int]:
        return self.received.get(self.context.connection_id, [])

    async def push_numbered(self, count: int, padding: str = "") -> int:
        for number in range(count):
            await self.clients.caller.send("Numbered", number, padding)
        return count

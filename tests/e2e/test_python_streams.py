"""Streams both ways with pysignalr 1.3.3 over WebSockets, JSON and MessagePack.

pysignalr has both directions (pysignalr/client.py):
- ``SignalRClient.stream(event, event_params, on_next, on_complete, on_error)`` sends a
  StreamInvocation; items go to ``on_next``, the completion to ``on_complete`` or, with an
  error, to ``on_error`` only.
- ``SignalRClient.client_stream(target)`` is an async context manager yielding a
  ``ClientStream``: ``send(item)`` sends StreamItems, leaving the block sends the Completion.

What it lacks, and how the tests get around it:
- ``ClientStream.invoke()`` sends ``InvocationClientStreamMessage([self.invocation_id],
  self.target, [])``: no ``invocationId`` (a non-blocking invocation) and no arguments. The
  method's result never comes back, and a method with other parameters cannot be called. The
  tests upload to ``RecordUpload``, which keeps what it read, and read it with ``Uploaded``.
- ``stream()`` returns nothing and has no cancel: the invocation id is a uuid kept in the
  private ``_stream_handlers``. The cancel test takes it from there and sends
  ``CancelInvocationMessage`` through the private ``_transport`` (not public API).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pysignalr.client import SignalRClient
from pysignalr.messages import CancelInvocationMessage, CompletionMessage
from pysignalr.protocol.abstract import Protocol
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 5.0
PROTOCOLS: dict[str, Callable[[], Protocol]] = {"json": JSONProtocol, "messagepack": MessagepackProtocol}
each_protocol = pytest.mark.parametrize("protocol", list(PROTOCOLS))


class ServerError(Exception):
    pass


class Client:
    def __init__(self, url: str, protocol: Protocol) -> None:
        self.client = SignalRClient(url, protocol, retry_count=1, connection_timeout=5)
        self.opened = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.client.on_open(self._on_open)
        self.client.on_error(self._ignore)  # errors also reach the callbacks below

    async def _on_open(self) -> None:
        self.opened.set()

    async def _ignore(self, message: CompletionMessage) -> None:
        pass

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.client.run())
        opened = asyncio.ensure_future(self.opened.wait())
        done, _ = await asyncio.wait({self.task, opened}, timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if opened not in done:
            opened.cancel()
            raise RuntimeError("pysignalr did not connect")

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, TIMEOUT)

    async def invoke(self, target: str, *args: Any) -> Any:
        answer: asyncio.Future[CompletionMessage] = asyncio.get_running_loop().create_future()

        async def on_completion(message: Any) -> None:
            if not answer.done():
                answer.set_result(message)

        await self.client.send(target, list(args), on_invocation=on_completion)
        message = await asyncio.wait_for(answer, TIMEOUT)
        if message.error:
            raise ServerError(message.error)
        return message.result

    async def start_stream(self, target: str, *args: Any) -> tuple[list[Any], asyncio.Future[str | None]]:
        """Items as they come, and the end: ``None`` when completed, else the error text."""
        items: list[Any] = []
        end: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

        async def on_next(item: Any) -> None:
            items.append(item)

        async def on_complete(message: Any) -> None:
            if not end.done():
                end.set_result(message.error)

        async def on_error(message: Any) -> None:
            if not end.done():
                end.set_result(message.error)

        await self.client.stream(target, list(args), on_next, on_complete, on_error)  # type: ignore[arg-type]
        return items, end

    async def stream(self, target: str, *args: Any) -> tuple[list[Any], str | None]:
        items, end = await self.start_stream(target, *args)
        return items, await asyncio.wait_for(end, TIMEOUT)


@contextlib.asynccontextmanager
async def connected(base_url: str, protocol: str) -> AsyncIterator[Client]:
    client = Client(f"{base_url}/hubs/stream", PROTOCOLS[protocol]())
    try:
        await client.start()
        yield client
    finally:
        await client.close()


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (value := await probe()) != expected:
        assert loop.time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)


# -- server to client --------------------------------------------------------------------------


@each_protocol
async def test_stream_items_then_completion(base_url: str, protocol: str) -> None:
    async with connected(base_url, protocol) as client:
        assert await client.stream("Counter", 5, 0) == ([0, 1, 2, 3, 4], None)
        assert await client.stream("Declared", 3) == (["a", "b", "c"], None)
        assert await client.invoke("Echo", "after") == "after"


@each_protocol
async def test_stream_errors(base_url: str, protocol: str) -> None:
    async with connected(base_url, protocol) as client:
        assert await client.stream("FailsBefore") == (
            [],
            "An unexpected error occurred invoking 'FailsBefore' on the server. HubException: not now",
        )
        assert await client.stream("FailsDuring", 2) == (
            [0, 1],
            "An error occurred on the server while streaming results.",
        )
        assert await client.stream("Echo", "x") == (
            [],
            "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
        )
        with pytest.raises(ServerError) as raised:
            await client.invoke("Counter", 1, 0)
        assert str(raised.value) == (
            "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."
        )


@each_protocol
async def test_cancel_a_stream(base_url: str, protocol: str) -> None:
    async with connected(base_url, protocol) as client:
        connection_id = await client.invoke("ConnectionId")
        items, end = await client.start_stream("Counter", 100_000, 0.02)
        await eventually(lambda: _count(items), True)
        [stream_id] = client.client._stream_handlers  # private: stream() does not return it
        await client.client._transport.send(CancelInvocationMessage(stream_id))
        assert await asyncio.wait_for(end, TIMEOUT) is None  # a completion without an error
        assert items == list(range(len(items)))
        await eventually(lambda: client.invoke("CleanupsOf", connection_id), 1)


async def _count(items: list[Any]) -> bool:
    return len(items) >= 2


@each_protocol
async def test_disconnect_closes_the_generator(base_url: str, protocol: str) -> None:
    async with connected(base_url, "json") as witness:
        async with connected(base_url, protocol) as client:
            connection_id = await client.invoke("ConnectionId")
            items, _ = await client.start_stream("Counter", 100_000, 0.02)
            await eventually(lambda: _count(items), True)
        await eventually(lambda: witness.invoke("CleanupsOf", connection_id), 1)


# -- client to server --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "items"),
    [
        ("json", ["a", "héllo ✓", 3, None, {"k": [1]}]),
        ("messagepack", ["a", b"\x00\x01\xff", 3, None, {"k": [1]}]),
    ],
)
async def test_client_stream(base_url: str, protocol: str, items: list[Any]) -> None:
    async with connected(base_url, protocol) as client:
        assert await client.invoke("Uploaded") is None
        async with client.client.client_stream("RecordUpload") as stream:
            for item in items:
                await stream.send(item)
        await eventually(lambda: client.invoke("Uploaded"), items)
        assert await client.invoke("Echo", "after") == "after"


@each_protocol
async def test_client_stream_to_a_method_expecting_two(base_url: str, protocol: str) -> None:
    """The count mismatch is answered only to invocations with an id; pysignalr's has none,
    so nothing comes back and the connection goes on."""
    async with connected(base_url, protocol) as client:
        async with client.client.client_stream("UploadTwo") as stream:
            await stream.send(1)
        assert await client.invoke("Echo", "after") == "after"

"""Streams both ways and client results, through the real consumer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from django_signalr import get_hub_context
from django_signalr.exceptions import ConnectionDisconnectedError, ConnectionNotFoundError, HubException
from django_signalr.protocol import (
    CancelInvocationMessage,
    CompletionMessage,
    InvocationMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from django_signalr.testing import HubCommunicator
from tests.hubs import OneAtATimeHub, StreamHub


@pytest.fixture
async def hub() -> AsyncIterator[HubCommunicator]:
    StreamHub.cleanups.clear()
    communicator = HubCommunicator(StreamHub)
    await communicator.connect()
    yield communicator
    await communicator.disconnect()


def completion_of(invocation_id: str) -> Any:
    return lambda m: isinstance(m, CompletionMessage) and m.invocation_id == invocation_id


async def collect(communicator: HubCommunicator, invocation_id: str) -> tuple[list[Any], CompletionMessage]:
    items = []
    while True:
        message = await communicator.receive(match=lambda m: getattr(m, "invocation_id", None) == invocation_id)
        if isinstance(message, CompletionMessage):
            return items, message
        assert isinstance(message, StreamItemMessage)
        items.append(message.item)


async def wait_for_cleanups(count: int) -> list[str]:
    async with asyncio.timeout(2):
        while len(StreamHub.cleanups) < count:
            await asyncio.sleep(0.01)
    return StreamHub.cleanups


# -- server to client --------------------------------------------------------------------------


async def test_async_generator_streams_items_then_completes(hub: HubCommunicator) -> None:
    items, completion = await collect(hub, await hub.stream("Counter", 3, 0))
    assert items == [0, 1, 2]
    assert completion == CompletionMessage(completion.invocation_id)  # no result, no error


async def test_coroutine_declared_to_return_an_iterator_streams(hub: HubCommunicator) -> None:
    items, _ = await collect(hub, await hub.stream("Declared", 3))
    assert items == ["a", "b", "c"]


async def test_cancel_closes_the_generator_and_completes_without_error(hub: HubCommunicator) -> None:
    stream_id = await hub.stream("Counter", 1000, 0.02)
    assert await hub.receive() == StreamItemMessage(stream_id, 0)
    await hub.send_message(CancelInvocationMessage(stream_id))
    assert await hub.receive(match=completion_of(stream_id)) == CompletionMessage(stream_id)
    assert len(await wait_for_cleanups(1)) == 1  # its finally ran (and awaited)


async def test_other_invocations_run_while_a_stream_does() -> None:
    communicator = HubCommunicator(OneAtATimeHub)  # even with one invocation at a time
    await communicator.connect()
    stream_id = await communicator.stream("Counter", 1000, 0.02)
    items, _ = await collect(communicator, await communicator.stream("Declared", 2))
    assert items == ["a", "b"]
    await communicator.send_message(CancelInvocationMessage(stream_id))
    await communicator.disconnect()


async def test_disconnect_closes_running_generators() -> None:
    StreamHub.cleanups.clear()
    communicator = HubCommunicator(StreamHub)
    await communicator.connect()
    await communicator.stream("Counter", 1000, 0.02)
    await communicator.receive()
    await communicator.disconnect()
    assert len(await wait_for_cleanups(1)) == 1


@pytest.mark.parametrize(
    ("target", "args", "error"),
    [
        ("FailsBefore", [], "An unexpected error occurred invoking 'FailsBefore' on the server. HubException: not now"),
        ("FailsDuring", [0], "An error occurred on the server while streaming results."),
        (
            "ReturnsNone",
            [],
            "The value returned by the streaming method 'returns_none' is not a ChannelReader<> or IAsyncEnumerable<>.",
        ),
        ("Upload", [], "The client attempted to invoke the non-streaming 'Upload' method with a streaming invocation."),
    ],
)
async def test_stream_errors(hub: HubCommunicator, target: str, args: list[Any], error: str) -> None:
    _, completion = await collect(hub, await hub.stream(target, *args))
    assert completion.error == error


async def test_invoking_a_streaming_method_is_an_error(hub: HubCommunicator) -> None:
    with pytest.raises(HubException) as raised:
        await hub.invoke("Counter", 1, 0)
    assert str(raised.value) == (
        "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."
    )


async def test_a_stream_id_in_use_is_refused(hub: HubCommunicator) -> None:
    await hub.send_message(StreamInvocationMessage("7", "Counter", [1000, 0.05]))
    assert await hub.receive() == StreamItemMessage("7", 0)
    await hub.send_message(StreamInvocationMessage("7", "Counter", [1, 0]))
    assert await hub.receive(match=lambda m: isinstance(m, CompletionMessage) and m.error) == (
        CompletionMessage.with_error("7", "Invocation ID '7' is already in use.")
    )
    await hub.send_message(CancelInvocationMessage("7"))


# -- client to server --------------------------------------------------------------------------


async def upload(
    hub: HubCommunicator, target: str, args: list[Any], streams: dict[str, list[Any]], end: Any = None
) -> Any:
    await hub.send_message(InvocationMessage(target, args, "up", list(streams)))
    for stream_id, items in streams.items():
        for item in items:
            await hub.send_message(StreamItemMessage(stream_id, item))
        await hub.send_message(CompletionMessage(stream_id, error=end))
    completion = await hub.receive(match=completion_of("up"))
    assert isinstance(completion, CompletionMessage)
    if completion.error:
        raise HubException(completion.error)
    return completion.result


async def test_upload_stream(hub: HubCommunicator) -> None:
    assert await upload(hub, "Upload", [], {"0": ["a", "b", "c"]}) == ["a", "b", "c"]


async def test_two_streams_and_an_argument(hub: HubCommunicator) -> None:
    assert await upload(hub, "UploadTwo", ["p"], {"1": [1, 2], "2": [3]}) == ["p", [1, 2], [3]]


async def test_stream_items_are_converted_to_the_annotated_type(hub: HubCommunicator) -> None:
    assert await upload(hub, "UploadBytes", [], {"3": ["AQID", "BA=="]}) == 4  # base64 in JSON


async def test_a_client_error_ends_the_stream_with_hub_exception(hub: HubCommunicator) -> None:
    with pytest.raises(HubException) as raised:
        await upload(hub, "Upload", [], {"4": ["a"]}, end="Error: bad")
    assert str(raised.value) == "An unexpected error occurred invoking 'Upload' on the server. HubException: Error: bad"


async def test_stream_count_mismatch(hub: HubCommunicator) -> None:
    with pytest.raises(HubException) as raised:
        await upload(hub, "UploadTwo", ["p"], {"5": [1]})
    assert str(raised.value) == (
        "An unexpected error occurred invoking 'UploadTwo' on the server. "
        "HubException: Client sent 1 stream(s), Hub method expects 2."
    )


async def test_backpressure_keeps_every_item_in_order() -> None:
    class TinyBuffer(StreamHub):
        stream_buffer_capacity = 2

        async def slow_upload(self, items: AsyncIterator[int]) -> list[int]:
            received = []
            async for item in items:
                await asyncio.sleep(0.001)
                received.append(item)
            return received

    communicator = HubCommunicator(TinyBuffer)
    await communicator.connect()
    assert await upload(communicator, "SlowUpload", [], {"6": list(range(100))}) == list(range(100))
    await communicator.disconnect()


# -- client results ----------------------------------------------------------------------------


async def answer_next(communicator: HubCommunicator, **completion: Any) -> InvocationMessage:
    request = await communicator.receive_invocation("Answer")
    assert request.invocation_id is not None
    assert request.invocation_id.startswith("s")  # never a client's id (digits)
    await communicator.send_message(CompletionMessage(request.invocation_id, **completion))
    return request


@pytest.mark.parametrize("value", ["42", None, 0, {"a": [1]}])
async def test_caller_result(hub: HubCommunicator, value: Any) -> None:
    await hub.send_message(InvocationMessage("AskCaller", ["why?"], "q"))
    request = await answer_next(hub, result=value, has_result=True)
    assert request.arguments == ["why?"]
    assert await hub.receive(match=completion_of("q")) == CompletionMessage.with_result("q", value)


async def test_client_error_becomes_hub_exception(hub: HubCommunicator) -> None:
    await hub.send_message(InvocationMessage("AskCaller", ["why?"], "q"))
    await answer_next(hub, error="Error: from callback")
    completion = await hub.receive(match=completion_of("q"))
    assert completion.error == (  # type: ignore[union-attr]
        "An unexpected error occurred invoking 'AskCaller' on the server. HubException: Error: from callback"
    )


async def test_one_invocation_at_a_time_forbids_client_results() -> None:
    communicator = HubCommunicator(OneAtATimeHub)
    await communicator.connect()
    with pytest.raises(HubException) as raised:
        await communicator.invoke("AskCaller", "why?")
    assert str(raised.value) == "An unexpected error occurred invoking 'AskCaller' on the server."
    await communicator.disconnect()


async def test_hub_context_client_results_from_outside_a_hub(hub: HubCommunicator) -> None:
    [connection_id] = get_context_connections()
    clients = get_hub_context(StreamHub).clients
    ask = asyncio.ensure_future(clients.client(connection_id).invoke("Answer", "outside?", timeout=2))
    request = await answer_next(hub, result="from outside", has_result=True)
    assert request.arguments == ["outside?"]
    assert await ask == "from outside"


def get_context_connections() -> dict[str, Any]:
    from django_signalr.endpoint import lifetime_manager

    return lifetime_manager(StreamHub).local_connections()


async def test_client_results_fail_clearly() -> None:
    clients = get_hub_context(StreamHub).clients
    with pytest.raises(ConnectionNotFoundError, match=re.escape("Connection 'nobody' does not exist.")):
        await clients.client("nobody").invoke("Answer", "?")
    communicator = HubCommunicator(StreamHub)
    await communicator.connect()
    [connection_id] = get_context_connections()
    with pytest.raises(TimeoutError):
        await clients.client(connection_id).invoke("Answer", "?", timeout=0.1)
    waiting = asyncio.ensure_future(clients.client(connection_id).invoke("Answer", "?"))
    await communicator.receive_invocation("Answer")
    await communicator.disconnect()
    with pytest.raises(ConnectionDisconnectedError, match=re.escape(f"Connection '{connection_id}' disconnected.")):
        await asyncio.wait_for(waiting, 2)

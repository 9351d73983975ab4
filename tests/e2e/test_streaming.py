"""Streams both ways and parallel invocations with the official JS client (@microsoft/signalr
10.0.11) on every transport x protocol pair (PROTOCOL.md section 3, API.md "Writing a hub").

- Server to client: ``connection.stream(...)`` items then a completion; cancelling the
  subscription (``dispose()``, a CancelInvocation) or disconnecting closes the generator (its
  ``finally`` runs: ``StreamHub.cleanups``, read through ``CleanupsOf``); the error texts.
- Client to server: ``invoke(target, subject)`` with ``signalR.Subject``; two streams in one
  call; a client-side ``subject.error``; bytes over MessagePack; backpressure with a tiny
  ``stream_buffer_capacity``; the stream-count mismatch.
- ``MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT``: 1 keeps one client's invocations in order,
  more run concurrently up to the limit, and a running stream never blocks invocations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver, JsError
from .pairs import BINARY_PAIRS, connect_pair, each_pair

pytestmark = pytest.mark.asyncio(loop_scope="module")


# What the JS client rejects pending streams and invocations with when the connection stops.
CANCELED_BY_STOP = "Invocation canceled due to the underlying connection being closed."


async def connect(
    js: JsDriver, base_url: str, pair: tuple[str, str], hub: str = "stream", **options: Any
) -> JsConnection:
    return await connect_pair(js, base_url, pair, hub, **options)


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 5.0) -> None:
    """``await probe()`` until it returns ``expected`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await probe()) != expected:
        assert loop.time() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.05)


async def js_error(awaitable: Awaitable[Any]) -> str:
    """The message the JS client rejected with."""
    with pytest.raises(JsError) as raised:
        await awaitable
    return str(raised.value)


# -- server to client --------------------------------------------------------------------------


@each_pair
async def test_stream_items_then_completion(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    counter = await connection.stream("Counter", 5, 0)
    assert await counter.end() == ([0, 1, 2, 3, 4], None)
    declared = await connection.stream("Declared", 3)  # a coroutine returning an async iterator
    assert await declared.end() == (["a", "b", "c"], None)
    empty = await connection.stream("Counter", 0, 0)
    assert await empty.end() == ([], None)


@each_pair
async def test_two_streams_interleave(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    first = await connection.stream("Counter", 20, 0.005)
    second = await connection.stream("Counter", 10, 0.01)
    assert await first.end() == (list(range(20)), None)
    assert await second.end() == (list(range(10)), None)


@each_pair
async def test_dispose_closes_the_generator_while_invocations_go_on(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    connection = await connect(js, base_url, pair)
    connection_id = await connection.connection_id()
    counter = await connection.stream("Counter", 100_000, 0.02)
    assert [await counter.next(), await counter.next()] == [0, 1]
    # The stream runs in the background: other invocations are answered meanwhile.
    assert await connection.invoke("Echo", "meanwhile") == "meanwhile"
    assert await connection.invoke("CleanupsOf", connection_id) == 0
    await counter.dispose()  # CancelInvocation
    await eventually(lambda: connection.invoke("CleanupsOf", connection_id), 1)
    assert await connection.invoke("Echo", "after") == "after"
    assert await connection.state() == "Connected"


@each_pair
async def test_dispose_a_stream_held_back_by_its_client(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """A generator with no delay outruns the client and waits for its sends to drain; a
    cancel still reaches it there."""
    connection = await connect(js, base_url, pair)
    connection_id = await connection.connection_id()
    counter = await connection.stream("Counter", 10_000_000, 0)
    assert await counter.next() == 0
    await asyncio.sleep(0.2)
    await counter.dispose()
    await eventually(lambda: connection.invoke("CleanupsOf", connection_id), 1)
    assert await connection.invoke("Echo", "after") == "after"


@each_pair
async def test_disconnect_closes_running_generators(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    witness = await connect(js, base_url, ("WebSockets", "json"))
    connection = await connect(js, base_url, pair)
    connection_id = await connection.connection_id()
    streams = [await connection.stream("Counter", 100_000, 0.02) for _ in range(2)]
    for stream in streams:
        assert await stream.next() == 0
    await connection.stop()
    for stream in streams:
        _, error = await stream.end()
        assert error == CANCELED_BY_STOP
    await eventually(lambda: witness.invoke("CleanupsOf", connection_id), 2)


STREAM_ERRORS = [
    (
        "stream",
        "FailsBefore",
        [],
        [],
        "An unexpected error occurred invoking 'FailsBefore' on the server. HubException: not now",
    ),
    ("stream", "FailsDuring", [3], [0, 1, 2], "An error occurred on the server while streaming results."),
    (
        "stream-detailed",
        "FailsDuring",
        [2],
        [0, 1],
        "An error occurred on the server while streaming results. ValueError: broken stream",
    ),
    (
        "stream",
        "ReturnsNone",
        [],
        [],
        # The method's declared name, as .NET's MethodInfo.Name (tests/consumers/test_streams.py).
        "The value returned by the streaming method 'returns_none' is not a ChannelReader<> or IAsyncEnumerable<>.",
    ),
    (
        "stream",
        "Echo",
        ["x"],
        [],
        "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation.",
    ),
    (
        "stream",
        "Nope",
        [],
        [],
        "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
    ),
]


@each_pair
async def test_stream_error_texts(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connections = {hub: await connect(js, base_url, pair, hub) for hub in ("stream", "stream-detailed")}
    for hub, target, args, items, error in STREAM_ERRORS:
        stream = await connections[hub].stream(target, *args)
        assert await stream.end() == (items, error), f"{target} on {hub}"
    for connection in connections.values():
        assert await js_error(connection.invoke("Counter", 1, 0)) == (
            "The client attempted to invoke the streaming 'Counter' method with a non-streaming invocation."
        )
        assert await connection.invoke("Echo", "still connected") == "still connected"


# -- client to server --------------------------------------------------------------------------


@each_pair
async def test_upload_with_a_subject(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    subject = await connection.subject()
    call = await connection.invoke_start("Upload", subject)
    await subject.next("a", "b")
    await subject.next("héllo ✓")
    await subject.complete()
    assert await call.result() == ["a", "b", "héllo ✓"]

    empty = await connection.subject()
    call = await connection.invoke_start("Upload", empty)
    await empty.complete()
    assert await call.result() == []


@each_pair
async def test_two_uploads_and_an_argument_in_one_call(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """Streams go wherever the method declares them; the other arguments keep their order.
    (The JS client cannot send two ADJACENT stream arguments: ``_replaceStreamingParams`` does
    ``args.splice(i, 1)`` without stepping back, so the second subject of ``("p", first,
    second)`` stays in ``arguments`` as a plain object. An argument in between avoids it.)"""
    connection = await connect(js, base_url, pair)
    first, second = await connection.subject(), await connection.subject()
    call = await connection.invoke_start("UploadTwo", first, "p", second)
    await second.next(3)
    await first.next(1, 2)
    await second.complete()
    await first.complete()
    assert await call.result() == ["p", [1, 2], [3]]


@each_pair
async def test_client_side_stream_error_fails_the_method(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    subject = await connection.subject()
    call = await connection.invoke_start("Upload", subject)
    await subject.next("a")
    await subject.error("bad")  # the client sends Completion{error: "bad"} (err.message)
    assert await js_error(call.result()) == (
        "An unexpected error occurred invoking 'Upload' on the server. HubException: bad"
    )
    assert await connection.invoke("Echo", "after") == "after"


@pytest.mark.parametrize("pair", BINARY_PAIRS, ids=[f"{t}-{p}" for t, p in BINARY_PAIRS])
async def test_upload_bytes_with_messagepack(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    subject = await connection.subject()
    call = await connection.invoke_start("UploadBytes", subject)
    await subject.next(b"\x01\x02\x03", b"\x04", bytes(range(256)))
    await subject.complete()
    assert await call.result() == 3 + 1 + 256


@each_pair
async def test_backpressure_keeps_every_item_in_order(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """``stream_buffer_capacity = 2`` and a consumer that sleeps per item: the client is held
    back, nothing is lost or reordered."""
    connection = await connect(js, base_url, pair, hub="tiny-buffer")
    subject = await connection.subject()
    call = await connection.invoke_start("SlowUpload", subject)
    count = 150
    await subject.next(*range(count))
    await subject.complete()
    assert await call.result(timeout=15) == list(range(count))


@each_pair
async def test_stream_count_mismatch(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    subject = await connection.subject()
    call = await connection.invoke_start("UploadTwo", "p", subject)
    assert await js_error(call.result()) == (
        "An unexpected error occurred invoking 'UploadTwo' on the server. "
        "HubException: Client sent 1 stream(s), Hub method expects 2."
    )
    await subject.next(1)  # items and the end of a refused stream are ignored
    await subject.complete()
    assert await js_error(connection.invoke("Upload")) == (
        "An unexpected error occurred invoking 'Upload' on the server. "
        "HubException: Client sent 0 stream(s), Hub method expects 1."
    )
    assert await connection.invoke("Echo", "after") == "after"


async def test_stream_method_taking_an_upload(js: JsDriver, base_url: str) -> None:
    """Both ways in one call, as ASP.NET Core's FunctionalTests ``StreamEcho(ChannelReader<string>
    source)``, which the JS functional tests call with ``connection.stream("StreamEcho", subject)``."""
    connection = await connect(js, base_url, ("WebSockets", "json"))
    subject = await connection.subject()
    relay = await connection.stream("Relay", subject)
    await subject.next("a", "b")
    await subject.complete()
    assert await relay.end() == (["a", "b"], None)


# -- parallel invocations ----------------------------------------------------------------------


@each_pair
async def test_one_at_a_time_keeps_the_order(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair, hub="one-at-a-time")
    outcomes = await connection.invoke_many([("Slow", [0.3, "slow"]), ("Slow", [0, "fast"])])
    assert [(o["index"], o["result"]) for o in outcomes] == [(0, "slow"), (1, "fast")]
    assert outcomes[1]["ms"] >= 280


@each_pair
async def test_parallel_invocations_up_to_the_limit(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """``maximum_parallel_invocations_per_client = 4``: four slow invocations take about as
    long as one, eight take two rounds; a fast one overtakes slow ones."""
    connection = await connect(js, base_url, pair)
    outcomes = await connection.invoke_many([("Slow", [0.4, str(i)]) for i in range(4)])
    assert sorted(o["result"] for o in outcomes) == ["0", "1", "2", "3"]
    assert max(o["ms"] for o in outcomes) < 750  # one at a time: 1600

    outcomes = await connection.invoke_many([("Slow", [0.4, str(i)]) for i in range(8)])
    slowest = max(o["ms"] for o in outcomes)
    assert 780 <= slowest < 1400, slowest  # two rounds of four; one at a time: 3200

    outcomes = await connection.invoke_many([("Slow", [0.4, "slow"]), ("Slow", [0, "fast"])])
    assert [o["result"] for o in outcomes] == ["fast", "slow"]


@each_pair
async def test_a_running_stream_does_not_block_invocations_at_one(
    js: JsDriver, base_url: str, pair: tuple[str, str]
) -> None:
    connection = await connect(js, base_url, pair, hub="one-at-a-time")
    counter = await connection.stream("Counter", 100_000, 0.02)
    assert await counter.next() == 0
    outcomes = await connection.invoke_many([("Echo", ["during the stream"])], timeout=3)
    assert outcomes[0]["result"] == "during the stream"
    assert outcomes[0]["ms"] < 1000
    declared = await connection.stream("Declared", 2)
    assert await declared.end() == (["a", "b"], None)
    subject = await connection.subject()
    upload = await connection.invoke_start("Upload", subject)
    assert await connection.invoke("Echo", "during the upload") == "during the upload"
    await subject.next("x")
    await subject.complete()
    assert await upload.result() == ["x"]
    assert await counter.next() > 0
    await counter.dispose()

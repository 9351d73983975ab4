"""``Node.group_send`` queues the sends made while others are on their way and sends each
layer group's queue as one ``signalr.batch`` layer message; the receiving node handles every
message of a batch in order. On channels_redis a layer message costs a fixed handful of
Redis commands, so under load one batch shares that cost among many sends. A node makes at
most ``LAYER_CALLS_MAX`` layer calls at once (redis-py's pools refuse a 101st connection)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.layers import BaseChannelLayer

from django_signalr.lifetime.node import BATCH_MAX, LAYER_CALLS_MAX, Node

TIMEOUT = 5


class RecordingLayer(BaseChannelLayer):  # type: ignore[misc]
    """group_send takes a Redis round trip's time and records what it was given; ``fail``
    makes it raise instead. ``receive`` hands out ``inbox`` and then waits forever."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.fail: Exception | None = None
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if self.fail is not None:
                raise self.fail
            self.calls.append((group, message))
        finally:
            self.in_flight -= 1

    async def receive(self, channel: str) -> dict[str, Any]:
        return await self.inbox.get()


def sent_messages(calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Every message the layer got, batches unpacked, in order."""
    return [
        one["n"]
        for _, message in calls
        for one in (message["messages"] if message["type"] == "signalr.batch" else [message])
    ]


async def test_sends_queued_while_one_is_on_its_way_go_as_one_batch_in_order() -> None:
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    sends = [node.group_send("g", {"type": "t", "n": n}) for n in range(50)]
    await asyncio.wait_for(asyncio.gather(*sends), TIMEOUT)  # every sender returns
    assert sent_messages(layer.calls) == list(range(50))
    assert len(layer.calls) == 1  # queued in the same loop turn: one layer message
    assert layer.calls[0][1]["type"] == "signalr.batch"


async def test_a_send_alone_goes_as_itself() -> None:
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    await asyncio.wait_for(node.group_send("g", {"type": "t", "n": 1}), TIMEOUT)
    assert layer.calls == [("g", {"type": "t", "n": 1})]


async def test_a_batch_holds_at_most_batch_max_messages() -> None:
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    count = BATCH_MAX * 2 + 1
    await asyncio.wait_for(
        asyncio.gather(*(node.group_send("g", {"type": "t", "n": n}) for n in range(count))), TIMEOUT
    )
    assert sent_messages(layer.calls) == list(range(count))
    assert [len(m["messages"]) if m["type"] == "signalr.batch" else 1 for _, m in layer.calls] == [
        BATCH_MAX,
        BATCH_MAX,
        1,
    ]


async def test_groups_are_sent_side_by_side() -> None:
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    await asyncio.wait_for(
        asyncio.gather(*(node.group_send(f"g{n % 3}", {"type": "t", "n": n}) for n in range(30))), TIMEOUT
    )
    assert layer.most_in_flight == 3
    for group in ("g0", "g1", "g2"):
        assert sent_messages([c for c in layer.calls if c[0] == group]) == list(range(int(group[1]), 30, 3))


async def test_every_sender_of_a_failed_batch_gets_the_error() -> None:
    layer = RecordingLayer()
    layer.fail = ValueError("the layer is down")
    node = Node(layer, asyncio.get_running_loop())
    results = await asyncio.wait_for(
        asyncio.gather(*(node.group_send("g", {"type": "t", "n": n}) for n in range(5)), return_exceptions=True),
        TIMEOUT,
    )
    assert all(isinstance(result, ValueError) for result in results), results
    layer.fail = None
    await asyncio.wait_for(node.group_send("g", {"type": "t", "n": 5}), TIMEOUT)  # the queue goes on
    assert sent_messages(layer.calls) == [5]


async def test_the_receiving_node_handles_each_message_of_a_batch_even_after_one_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    first, last = node.expect("a1"), node.expect("a2")
    broken = {"type": "signalr.ack"}  # no "ack" key: handling it raises KeyError
    batch = [{"type": "signalr.ack", "ack": "a1"}, broken, {"type": "signalr.ack", "ack": "a2"}]
    layer.inbox.put_nowait({"type": "signalr.batch", "messages": batch})
    listener = asyncio.get_running_loop().create_task(node._listen("signalr.node.x"))
    try:
        await asyncio.wait_for(asyncio.gather(first, last), TIMEOUT)
    finally:
        listener.cancel()
    assert "Handling a channel-layer message of type 'signalr.ack' failed" in caplog.text


async def test_a_node_makes_at_most_layer_calls_max_layer_calls_at_once() -> None:
    """200 groups joined and sent to at once (1,000 clients joining groups of 5): every call
    succeeds, and never more than LAYER_CALLS_MAX are under way."""
    layer = RecordingLayer()
    node = Node(layer, asyncio.get_running_loop())
    await asyncio.wait_for(
        asyncio.gather(*(node.group_send(f"g{n}", {"type": "t", "n": n}) for n in range(200))), TIMEOUT
    )
    assert sorted(sent_messages(layer.calls)) == list(range(200))
    assert layer.most_in_flight == LAYER_CALLS_MAX

"""The node's fan-out flusher (``Node.flush_later``) and its hold while a layer send is under way.

A sender awaits each layer send; without the hold, the flusher ran in every such wait and
each round of writes carried one message per connection (one frame, one system call, per
delivery): a single process broadcasting through channels_redis saturated near 55,000
deliveries/s. Here a fake layer takes 1 ms per ``group_send`` and a fake connection's writes
take 5 ms of CPU (as 1,000 sockets' system calls do), so the sender's next messages must
join the held ones in the same frames -- all of them, in order. A fan-out long after the last
round of writes is not held: nothing is queuing up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import BaseChannelLayer

from django_signalr.lifetime.node import FLUSH_HOLD_MAX, Node

MESSAGES = 12


class SlowLayer(BaseChannelLayer):  # type: ignore[misc]
    """A layer whose group_send takes a Redis round trip's time and does nothing else."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)


class FakeConnection:
    """Takes what is pending as one frame; writing it costs 5 ms of CPU (blocking, as system
    calls on many sockets do)."""

    connection_id = "fake"

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.frames: list[list[int]] = []

    async def flush_queued(self) -> None:
        if self.pending:
            self.frames.append(self.pending)
            self.pending = []
            time.sleep(0.005)  # noqa: ASYNC251 - on purpose: writes block the loop as system calls do


async def sender(node: Node, connection: FakeConnection) -> None:
    for message in range(MESSAGES):
        connection.pending.append(message)
        node.flush_later([connection])  # type: ignore[list-item]
        await node.group_send("all", {"type": "signalr.send"})


async def drained(node: Node, connection: FakeConnection) -> list[list[int]]:
    for _ in range(200):
        if not connection.pending and node._flusher is None:
            return connection.frames
        await asyncio.sleep(0.01)
    raise AssertionError(f"the flusher did not send everything: {connection.pending} left")


async def test_messages_sent_while_a_layer_send_is_under_way_share_frames() -> None:
    node = Node(SlowLayer(), asyncio.get_running_loop())
    connection = FakeConnection()
    await sender(node, connection)
    frames = await drained(node, connection)
    assert [m for frame in frames for m in frame] == list(range(MESSAGES))  # all, once, in order
    # The first message goes out at once (nothing was written before, so nothing to hold
    # for); then each hold lasts as long as a round of writes (5 ms): about 5 sends.
    assert frames[0] == [0]
    assert len(frames) <= MESSAGES // 3, frames


async def test_without_a_layer_send_under_way_nothing_is_held() -> None:
    node = Node(SlowLayer(), asyncio.get_running_loop())
    node._last_flush = FLUSH_HOLD_MAX  # a slow round before: no layer send now, so no hold
    connection = FakeConnection()
    started = asyncio.get_running_loop().time()
    connection.pending.append(0)
    node.flush_later([connection])  # type: ignore[list-item]
    frames = await drained(node, connection)
    assert frames == [[0]]
    assert asyncio.get_running_loop().time() - started < FLUSH_HOLD_MAX


async def test_a_fan_out_long_after_the_last_round_is_not_held() -> None:
    loop = asyncio.get_running_loop()
    node = Node(SlowLayer(), loop)
    node._last_flush = FLUSH_HOLD_MAX  # a slow round, but long ago
    node._flush_ended = loop.time() - 1
    connection = FakeConnection()
    connection.pending.append(0)
    started = loop.time()
    node.flush_later([connection])  # type: ignore[list-item]
    await node.group_send("all", {"type": "signalr.send"})  # a layer send under way meanwhile
    frames = await drained(node, connection)
    assert frames == [[0]]
    assert loop.time() - started < FLUSH_HOLD_MAX

"""Instrumentation for the scale-out tests: what crosses the channel layer and how often a
fan-out message is serialized, counted per server process.

Test-only: the layer backend below is configured in ``settings``, and importing this module
wraps the hub protocols' writers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer

from django_signalr.protocol import PROTOCOLS, HubMessage, MessageType

COUNTS: Counter[str] = Counter()
FANOUT_TARGET = "Receive"


class Counting:
    """A channel layer mixin counting layer messages by type as they are sent and received."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        COUNTS[f"send {message['type']}"] += 1
        await self._layer_method("send")(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        COUNTS[f"group_send {message['type']}"] += 1
        await self._layer_method("group_send")(group, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        message: dict[str, Any] = await self._layer_method("receive")(channel)
        COUNTS[f"receive {message['type']}"] += 1
        return message

    def _layer_method(self, name: str) -> Any:
        try:
            return getattr(super(), name)
        except AttributeError:  # the pub/sub layer hands its API to a layer per event loop
            return RedisPubSubChannelLayer.__getattr__(self, name)


class CountingRedisChannelLayer(Counting, RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's core layer (lists and sorted sets), counting."""


class CountingRedisPubSubChannelLayer(Counting, RedisPubSubChannelLayer):  # type: ignore[misc]
    """channels_redis's pub/sub layer, counting."""


def _count_fanout_serializations() -> None:
    for name, protocol in PROTOCOLS.items():
        write = protocol.write_message

        def counting(message: HubMessage, write: Any = write, name: str = name) -> bytes:
            if message.type is MessageType.INVOCATION and getattr(message, "target", "") == FANOUT_TARGET:
                COUNTS[f"serialize {name}"] += 1
            data: bytes = write(message)
            return data

        protocol.write_message = counting  # type: ignore[method-assign]


_count_fanout_serializations()

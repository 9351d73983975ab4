"""Instrumentation for the scale-out tests: what crosses the channel layer and how often a
fan-out message is serialized, counted per server process.

Test-only: the layer backend below is configured in ``settings``, and importing this module
wraps the hub protocols' writers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from channels_redis.core import RedisChannelLayer

from django_signalr.protocol import PROTOCOLS, HubMessage, MessageType

COUNTS: Counter[str] = Counter()
FANOUT_TARGET = "Receive"


class CountingRedisChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis, counting layer messages by type as they are sent and received."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        COUNTS[f"send {message['type']}"] += 1
        await super().send(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        COUNTS[f"group_send {message['type']}"] += 1
        await super().group_send(group, message)

    async def receive(self, channel: str) -> dict[str, Any]:
        message: dict[str, Any] = await super().receive(channel)
        COUNTS[f"receive {message['type']}"] += 1
        return message


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

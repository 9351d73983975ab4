"""channels_redis silently skips a full channel in group_send: node channels get room."""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer

from django_signalr.lifetime import names
from django_signalr.lifetime.node import NODE_CHANNEL_CAPACITY, _raise_capacity


def test_node_channels_get_their_own_capacity_and_other_channels_keep_theirs() -> None:
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1"], capacity=100, channel_capacity={"chat.*": 5})
    _raise_capacity(layer)
    _raise_capacity(layer)  # idempotent
    assert layer.get_capacity(names.node("abc")) == NODE_CHANNEL_CAPACITY
    assert layer.get_capacity("chat.room") == 5
    assert layer.get_capacity("specific.x!y") == 100
    assert len(layer.channel_capacity) == 2

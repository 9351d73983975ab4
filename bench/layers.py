"""The channel layers a target can run on, chosen by the orchestrator through ``BENCH_LAYER``.

``memory`` is Channels' ``InMemoryChannelLayer`` with its defaults; ``redis`` is
``channels_redis.core.RedisChannelLayer`` and ``pubsub`` its ``RedisPubSubChannelLayer``, both
on ``REDIS_URL`` (default the local server) under a key prefix of the run's own
(``BENCH_LAYER_PREFIX``), so nothing else on that Redis is touched or counted.
"""

from __future__ import annotations

import os
from typing import Any

LAYERS = ("memory", "redis", "pubsub")
BACKENDS = {
    "memory": "channels.layers.InMemoryChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def channel_layers() -> dict[str, Any]:
    """``CHANNEL_LAYERS`` for the layer named by ``BENCH_LAYER`` (default ``memory``)."""
    name = os.environ.get("BENCH_LAYER", "memory")
    if name == "memory":
        return {"default": {"BACKEND": BACKENDS[name]}}
    config = {
        "hosts": [os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")],
        "prefix": os.environ.get("BENCH_LAYER_PREFIX", "bench"),
    }
    return {"default": {"BACKEND": BACKENDS[name], "CONFIG": config}}

"""Backplane spec, layer 3: ``channels_redis.pubsub.RedisPubSubChannelLayer`` (Redis pub/sub)."""

import os
from typing import Any

from .settings_base import *  # noqa: F403

_LAYER: dict[str, Any] = {
    "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"]},
}
CHANNEL_LAYERS = {"default": _LAYER}

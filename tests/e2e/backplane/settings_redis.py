"""Backplane spec, layer 2: ``channels_redis.core.RedisChannelLayer`` (lists), under a key prefix per run."""

import os
from typing import Any

from .settings_base import *  # noqa: F403

_LAYER: dict[str, Any] = {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": [os.environ["REDIS_URL"]], "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"]},
}
CHANNEL_LAYERS = {"default": _LAYER}

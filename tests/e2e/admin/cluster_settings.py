"""The admin settings on a Redis channel layer: several processes serving one cluster.

``REDIS_URL`` names the server and ``SIGNALR_TEST_LAYER_PREFIX`` a key prefix of this run's own.
"""

import os
from typing import Any

from tests.e2e.admin.settings import *  # noqa: F403

_REDIS_LAYER: dict[str, Any] = {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {
        "hosts": [os.environ["REDIS_URL"]],
        "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"],
    },
}
CHANNEL_LAYERS = {"default": _REDIS_LAYER}

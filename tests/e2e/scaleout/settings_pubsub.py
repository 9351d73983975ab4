"""The scale-out tests' settings on channels_redis's pub/sub layer (the Redis-commands count)."""

from tests.e2e.scaleout.settings import *  # noqa: F403
from tests.e2e.scaleout.settings import CHANNEL_LAYERS

CHANNEL_LAYERS = {
    "default": {**CHANNEL_LAYERS["default"], "BACKEND": "tests.e2e.scaleout.counting.CountingRedisPubSubChannelLayer"}
}

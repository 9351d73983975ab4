"""The fault tests' settings with channels_redis forgetting a group member after 2 seconds
(``group_expiry``; 86,400 s by default), so "a membership outlives the layer's expiry" can be
checked in seconds instead of a day."""

from tests.e2e.faults import SHORT_GROUP_EXPIRY as GROUP_EXPIRY
from tests.e2e.faults.settings import *  # noqa: F403

LAYER_CONFIG = {**LAYER_CONFIG, "group_expiry": GROUP_EXPIRY}  # noqa: F405
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": LAYER_CONFIG}}

"""Several server processes on one Redis: the scale-out tests' settings."""

import os

from tests.e2e.settings import *  # noqa: F403

ROOT_URLCONF = "tests.e2e.scaleout.urls"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "tests.e2e.scaleout.counting.CountingRedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ["REDIS_URL"]],
            "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"],
        },
    }
}

"""Backplane spec, layer 4: ``channels_postgres`` (LISTEN/NOTIFY and a message table).

channels_postgres needs its tables in a PostgreSQL database that the ``channels_postgres``
alias of ``DATABASES`` names (its ``group_discard`` uses the ORM on that alias), and the layer's
``CONFIG`` is the same connection dict. Users, sessions and the connection registry stay in
the e2e SQLite file of ``tests.e2e.settings``.
"""

import os
from typing import Any

from .settings_base import *  # noqa: F403
from .settings_base import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "channels_postgres"]
_POSTGRES: dict[str, Any] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ["SIGNALR_TEST_POSTGRES_DB"],
    "USER": os.environ.get("SIGNALR_TEST_POSTGRES_USER", "postgres"),
    # channels_postgres hands CONFIG to a DatabaseWrapper as is: the keys Django would fill in
    # for a DATABASES entry must be there (a KeyError makes get_channel_layer() return None).
    "PASSWORD": "",
    "TIME_ZONE": None,
    "HOST": os.environ.get("SIGNALR_TEST_POSTGRES_HOST", "127.0.0.1"),
    "PORT": os.environ.get("SIGNALR_TEST_POSTGRES_PORT", "5432"),
}
DATABASES = {**DATABASES, "channels_postgres": _POSTGRES}
_LAYER: dict[str, Any] = {
    "BACKEND": "channels_postgres.core.PostgresChannelLayer",
    "CONFIG": {**_POSTGRES, "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"]},
}
CHANNEL_LAYERS = {"default": _LAYER}

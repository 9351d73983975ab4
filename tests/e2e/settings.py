"""Settings for the live daphne server of the end-to-end tests.

Like ``tests.settings``, but with a SQLite file (the test process prepares it, the server
reads it) in the directory named by ``SIGNALR_E2E_DB_DIR``, and this package's URLconf.
"""

import os
from pathlib import Path

from tests.settings import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.e2e.urls"
ASGI_APPLICATION = "tests.e2e.asgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(Path(os.environ["SIGNALR_E2E_DB_DIR"]) / "e2e.sqlite3"),
        # Several server processes write the connection registry into this one file.
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"},
    }
}
# Live servers keep the connection registry, as a real site does.
SIGNALR = {"CONNECTION_REGISTRY": True}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_signalr": {
            "handlers": ["stderr"],
            "level": os.environ.get("SIGNALR_TEST_LOG_LEVEL", "WARNING"),
            "propagate": False,
        }
    },
}

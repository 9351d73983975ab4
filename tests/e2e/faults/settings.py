"""Server processes of the fault tests: a plain channels_redis layer on the module's own Redis
(``REDIS_URL``) under a key prefix of its own, the connection registry on (as on a real site)
in the SQLite file that ``tests.e2e.bootstrap`` migrated in ``SIGNALR_E2E_DB_DIR``, and log
lines that carry their level and logger, so the tests can tell an ERROR from a WARNING.

Like ``tests.e2e.settings`` (whose database file name this keeps), but standing on its own. The
root logger gets the same handler at WARNING: what asyncio, daphne or uvicorn log when
something goes wrong (``Task exception was never retrieved``, tracebacks) lands in the server's
log file too, and the tests count it.
"""

import os
from pathlib import Path

# Named, not starred: this module's DATABASES and CHANNEL_LAYERS have other types than theirs.
from tests.settings import (  # noqa: F401
    APPEND_SLASH,
    DEFAULT_AUTO_FIELD,
    INSTALLED_APPS,
    MIDDLEWARE,
    PASSWORD_HASHERS,
    SECRET_KEY,
    USE_TZ,
)

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.e2e.faults.urls"
ASGI_APPLICATION = "tests.e2e.faults.asgi.application"
DATABASE_FILE = "e2e.sqlite3"  # the name tests.e2e.settings gives it
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(Path(os.environ["SIGNALR_E2E_DB_DIR"]) / DATABASE_FILE),
        # Several server processes write the connection registry into this one file.
        # IMMEDIATE: a write transaction takes the lock at BEGIN and waits for it (timeout), instead
        # of failing at once with "database is locked" when it upgrades from a read.
        "OPTIONS": {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
    }
}
SIGNALR = {"CONNECTION_REGISTRY": True}
LAYER_CONFIG: dict[str, object] = {
    "hosts": [os.environ["REDIS_URL"]],
    "prefix": os.environ["SIGNALR_TEST_LAYER_PREFIX"],
}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": LAYER_CONFIG}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"levelled": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "levelled"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {"django_signalr": {"handlers": ["stderr"], "level": "WARNING", "propagate": False}},
}

"""Minimal Django settings for the django_signalr benchmark target (bench-only).

The connection registry is on, as in a default install, writing to a SQLite file of this
process (``asgi.py`` migrates it at start); ``BENCH_REGISTRY=0`` turns it off, for the
``django_signalr_noregistry`` target that shows what the registry costs.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from bench.layers import channel_layers

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
    "django_signalr",
    "bench.django_target",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.django_target.urls"
# A file, not ":memory:": the registry writes from a thread of its own, and each thread would
# get an empty in-memory database of its own.
_DATABASE_DIR = Path(tempfile.mkdtemp(prefix="signalr-bench-"))
atexit.register(shutil.rmtree, _DATABASE_DIR, ignore_errors=True)  # registered first, so it runs last
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _DATABASE_DIR / "bench.sqlite3"}}
SIGNALR = {"CONNECTION_REGISTRY": os.environ.get("BENCH_REGISTRY", "1") != "0"}
CHANNEL_LAYERS = channel_layers()  # BENCH_LAYER: memory (default), redis or pubsub
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGGING_CONFIG = None

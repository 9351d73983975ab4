"""Minimal Django settings for the two hand-written Channels targets.

Only what Channels needs: no database use, no middleware, the in-memory
channel layer with its *default* capacity/expiry (the point of comparison), or
Redis when the orchestrator asks for it (``bench.layers``).
"""

from bench.layers import channel_layers

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = channel_layers()  # BENCH_LAYER: memory (default), redis or pubsub
USE_TZ = True
LOGGING_CONFIG = None

"""Minimal Django settings for the two hand-written Channels targets.

Only what Channels needs: no database use, no middleware, the in-memory
channel layer with its *default* capacity/expiry (the point of comparison).
"""

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
LOGGING_CONFIG = None

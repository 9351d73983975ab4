"""Settings of the example chat.

Development defaults; environment variables change what a test or a deployment needs:

- ``DJANGO_DEBUG=0`` turns DEBUG off (then also set ``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS``).
- ``EXAMPLE_DB_PATH`` puts the SQLite database somewhere else (the tests use a temp file).
- ``REDIS_URL`` (e.g. ``redis://127.0.0.1:6379``) switches the channel layer to channels_redis,
  so several server processes share groups and users (``pip install django-signalr[redis]``).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

DEBUG = os.environ.get("DJANGO_DEBUG", "1").lower() not in ("0", "false", "no", "")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-chat-only-for-development")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")

INSTALLED_APPS = [
    "daphne",  # first: `manage.py runserver` then serves the ASGI application
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_signalr",
    "example_project.chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EXAMPLE_DB_PATH") or BASE_DIR / "db.sqlite3",
        # Several server processes may write (sessions, the connection registry) at once: wait for the lock.
        "OPTIONS": {"timeout": 20},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One process: the in-memory layer. Several processes (or workers sending to hubs): Redis.
if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
    #                               "CONFIG": {"hosts": ["redis://127.0.0.1:6379"]}}}

SIGNALR = {"ENABLE_DETAILED_ERRORS": DEBUG}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lobby"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The official client, straight from npm (`npm ci --prefix example_project`), served as
# /static/signalr/signalr.min.js: never copied into the repository.
STATICFILES_DIRS = [
    ("signalr", BASE_DIR / "node_modules" / "@microsoft" / "signalr" / "dist" / "browser"),
]

"""The e2e server settings plus the Django admin: what a real site serving the admin has.

Like ``tests.e2e.settings`` (the SQLite file in ``SIGNALR_E2E_DB_DIR``, the connection registry
on, the in-memory layer), with the admin, messages and static files installed, templates, the
middleware the admin needs, and a URLconf with ``admin/`` next to the e2e hub routes.
"""

from tests.e2e.settings import *  # noqa: F403
from tests.e2e.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [
    "django.contrib.admin",
    *INSTALLED_APPS,
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    *MIDDLEWARE[: MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1],
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    *MIDDLEWARE[MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1 :],
]
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
    }
]
ROOT_URLCONF = "tests.e2e.admin.urls"
ASGI_APPLICATION = "tests.e2e.admin.asgi.application"
STATIC_URL = "static/"

"""ASGI entry for the django_signalr target, served by uvicorn like every peer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_target.settings")

import django_signalr.asgi

application = django_signalr.asgi.get_asgi_application()

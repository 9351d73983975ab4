"""ASGI entry for the django_signalr target, served by uvicorn like every peer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_target.settings")

import django
from django.core.management import call_command

django.setup()
call_command("migrate", verbosity=0)  # the registry's tables, in this process's fresh file

import django_signalr.asgi  # noqa: E402

application = django_signalr.asgi.get_asgi_application()

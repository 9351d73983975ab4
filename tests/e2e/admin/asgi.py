"""The ASGI application of the admin tests' servers (``settings`` or ``cluster_settings``)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.e2e.admin.settings")

from django_signalr.asgi import get_asgi_application

application = get_asgi_application()

"""ASGI entry for ``channels_ceiling``: :class:`CeilingConsumer` routed at ``/ws``."""

from typing import Any

import django

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.servers.channels_consumers import CeilingConsumer  # noqa: E402

# django-stubs types path() for views only; Channels routes ASGI apps through it.
routes: list[Any] = [path("ws", CeilingConsumer.as_asgi())]  # type: ignore[arg-type]
application = ProtocolTypeRouter({"websocket": URLRouter(routes)})

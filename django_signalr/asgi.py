"""``get_asgi_application()``: Django's HTTP plus every hub routed with ``hub_path()``."""

from __future__ import annotations

from typing import Any


def get_asgi_application() -> Any:
    """The whole ASGI application of a project: put it in ``asgi.py``.

    Hub routes (negotiate and every transport) are served by django_signalr with session and
    bearer-token authentication; WebSocket origins are checked against ``ALLOWED_HOSTS``;
    every other request goes to Django as usual.
    """
    from django.core.asgi import get_asgi_application as get_django_application

    django_application = get_django_application()  # sets Django up: import the rest after

    from channels.routing import ProtocolTypeRouter

    from .origin import WebSocketOriginValidator
    from .routing import HubRouter

    return ProtocolTypeRouter(
        {
            "http": HubRouter(django_application),
            "websocket": WebSocketOriginValidator(HubRouter()),
        }
    )

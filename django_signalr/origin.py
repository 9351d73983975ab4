"""WebSocket origin checks against ``ALLOWED_HOSTS`` (cross-site WebSocket hijacking).

Browsers always send ``Origin`` on a WebSocket upgrade, and a page on another site must not
open a socket that carries this site's session cookie. Non-browser clients (the Node, .NET
and Python SignalR clients) send no ``Origin`` and carry their own credentials, so a missing
header is allowed -- unlike Channels' ``AllowedHostsOriginValidator``, which would refuse every
official non-browser client.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import validate_host

ASGIApp = Any


def allowed_hosts() -> list[str]:
    """``ALLOWED_HOSTS`` as Django applies it (``DEBUG`` with none set means local hosts)."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]
    return hosts


def origin_allowed(origin: str) -> bool:
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        return True
    host = urlsplit(origin).hostname
    return host is not None and validate_host(host, allowed_hosts())


class WebSocketOriginValidator:
    """Refuses (HTTP 403) a WebSocket upgrade whose ``Origin`` names a host not allowed."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        origin = dict(scope.get("headers", ())).get(b"origin")
        if origin is not None and not origin_allowed(origin.decode("latin-1")):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.inner(scope, receive, send)

"""``hub_path()`` in ``urls.py``, and the ASGI router that serves what it routes.

A hub is routed like any view, so ``include()`` prefixes, namespaces and ``reverse()`` work.
The ASGI application resolves each request's path against the URLconf; a hub route goes to
django_signalr's consumers (negotiate, and the transports), everything else to Django.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, re_path, resolve
from django.urls.exceptions import Resolver404

from .asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from .auth import HubAuthMiddleware
from .conf import TRANSPORT_NAMES
from .endpoint import HubEndpoint, hub_dispatcher
from .hub import Hub
from .negotiate import NegotiateConsumer
from .transports.http import respond
from .transports.longpolling import LongPollingTransport
from .transports.requests import SendAndDeleteConsumer
from .transports.sse import ServerSentEventsTransport
from .transports.websocket import WebSocketTransport

ENDPOINT_KWARG = "signalr_endpoint"
NEGOTIATE_KWARG = "signalr_negotiate"


def hub_view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    """What a hub route answers when a request reaches Django itself (WSGI, the test client)."""
    return HttpResponse(
        "This SignalR hub is served by django_signalr's ASGI application: set "
        "`application = django_signalr.asgi.get_asgi_application()` in asgi.py.",
        status=501,
        content_type="text/plain",
    )


def hub_path(
    route: str,
    hub_class: type[Hub],
    *,
    transports: Sequence[str] | None = None,
    name: str | None = None,
) -> URLPattern:
    """Serve ``hub_class`` at ``route`` (with or without a trailing slash) and ``route/negotiate``.

    ``transports`` limits the transports offered on this route. The hub's method table is built
    here, so a hub with two methods of one wire name fails at startup.
    """
    if not (isinstance(hub_class, type) and issubclass(hub_class, Hub)):
        raise TypeError(f"hub_path() needs a Hub subclass, got {hub_class!r}")
    if transports is not None:
        unknown = [t for t in transports if t not in TRANSPORT_NAMES]
        if isinstance(transports, str) or unknown:
            raise ValueError(
                f"hub_path(transports=...) takes a list of {', '.join(TRANSPORT_NAMES)}; got {transports!r}"
            )
    hub_dispatcher(hub_class)
    endpoint = HubEndpoint(hub_class, tuple(transports) if transports is not None else None)
    regex = rf"^{re.escape(route.strip('/'))}(?P<{NEGOTIATE_KWARG}>/negotiate)?/?$"
    return re_path(regex, hub_view, kwargs={ENDPOINT_KWARG: endpoint}, name=name)


@functools.lru_cache(maxsize=4096)
def resolve_hub(path: str) -> tuple[HubEndpoint, bool] | None:
    """The hub endpoint a path routes to and whether it is the negotiate URL, else ``None``."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    endpoint = match.kwargs.get(ENDPOINT_KWARG)
    if not isinstance(endpoint, HubEndpoint):
        return None
    return endpoint, bool(match.kwargs.get(NEGOTIATE_KWARG))


def iter_endpoints(patterns: Sequence[Any] | None = None) -> Iterator[HubEndpoint]:
    """Every hub endpoint in the URLconf (for system checks and the admin)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from iter_endpoints(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            endpoint = pattern.default_args.get(ENDPOINT_KWARG)
            if isinstance(endpoint, HubEndpoint):
                yield endpoint


@receiver(setting_changed)
def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        resolve_hub.cache_clear()


class HubRouter:
    """ASGI: hub routes to django_signalr (through authentication), the rest to ``fallback``."""

    def __init__(self, fallback: Any = None) -> None:
        self.fallback = fallback
        self.hub_app = HubAuthMiddleware(self._serve)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        match = resolve_hub(path)
        if match is not None:
            await self.hub_app({**scope, "signalr_route": match}, receive, send)
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)
        elif scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1000})
        else:
            await respond(send, 404, b"Not Found")

    @staticmethod
    async def _serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint, negotiate = scope["signalr_route"]
        if scope["type"] == "websocket":
            if negotiate:
                await receive()
                await send({"type": "websocket.close", "code": 1000})
                return
            await WebSocketTransport(endpoint).serve(scope, receive, send)
        elif negotiate:
            await NegotiateConsumer(endpoint).serve(scope, receive, send)
        else:
            await _http_transport(endpoint, scope, receive, send)


async def _http_transport(
    endpoint: HubEndpoint, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """Plain HTTP to the hub URL: SSE and long-polling GETs, sends and deletes."""
    method = scope["method"]
    if method == "GET":
        accept = dict(scope.get("headers", ())).get(b"accept", b"")
        if b"text/event-stream" in accept:
            await ServerSentEventsTransport(endpoint).serve(scope, receive, send)
        else:
            await LongPollingTransport(endpoint).serve(scope, receive, send)
    elif method in ("POST", "DELETE"):
        await SendAndDeleteConsumer(endpoint).serve(scope, receive, send)
    else:
        await respond(send, 405)

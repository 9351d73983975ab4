"""The base of django_signalr's Channels consumers."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable, ConsumerScope, Scope
from ..auth import anonymous_user, is_authorized
from ..endpoint import HubEndpoint


class HubConsumer(AsyncConsumer):
    """A consumer of one hub endpoint that owns its receive loop (DESIGN decision 6).

    Channels' dispatch (a channel-layer receive and ``asyncio.wait`` per message) is not used:
    ``serve`` reads ``receive`` itself, and fan-out reaches the connection through the
    process's node. The router calls ``serve`` directly; ``as_asgi()`` works too.
    """

    def __init__(self, endpoint: HubEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: ConsumerScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await self.serve(dict(scope), receive, send)

    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        raise NotImplementedError

    async def authorized(self, scope: Scope) -> bool:
        """Whether the request's user meets the hub's ``login_required``/``permission_required``
        (checked on negotiate and on every transport request, as ASP.NET Core authorizes every
        request of a hub endpoint)."""
        hub = self.endpoint.hub_class
        user = scope.get("user") or anonymous_user()
        return await is_authorized(user, hub.login_required, hub.permission_required)

    @staticmethod
    def query_param(scope: Scope, name: str) -> str | None:
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
        return values[0] if values else None

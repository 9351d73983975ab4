"""``POST {hub}?id=`` (send, for SSE and long polling) and ``DELETE {hub}?id=`` (stop a
long-polling connection), answered by the connection's home process wherever they land."""

from __future__ import annotations

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from . import manager
from .base import HubConsumer
from .http import read_body, respond, respond_with


class SendAndDeleteConsumer(HubConsumer):
    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        body = await read_body(receive)
        token = self.query_param(scope, "id")
        if not token:
            await respond(send, 400, b"Connection ID required")
            return
        if not await self.authorized(scope):
            await respond(send, 401)
            return
        if scope["method"] == "POST":
            # The body is raw hub-protocol records, several perhaps; the answer is 200 with an
            # empty body (signalrcore parses any non-empty one as JSON).
            response = await manager.request(self.endpoint, token, "send", body=body)
        else:
            response = await manager.request(self.endpoint, token, "delete")
        await respond_with(send, response)

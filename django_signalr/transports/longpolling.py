"""The Long Polling transport: each GET takes what the server has, POSTs carry the client's.

The hub connection lives at the connection's home process; a poll that lands elsewhere is
relayed there and its answer relayed back, so consecutive polls may hit different processes.
The first poll returns at once; later ones wait up to ``LONG_POLLING_POLL_TIMEOUT``; a new
poll answers the waiting one with 204, and so does the end of the connection.
"""

from __future__ import annotations

import asyncio
import secrets

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from . import manager
from .base import HubConsumer
from .http import read_body, respond, respond_with, wait_for_disconnect

# On every poll response, errors included (ASP.NET Core's AddNoCacheHeaders).
NO_CACHE = [
    (b"cache-control", b"no-cache, no-store"),
    (b"pragma", b"no-cache"),
    (b"expires", b"Thu, 01 Jan 1970 00:00:00 GMT"),
]


class LongPollingTransport(HubConsumer):
    """``GET {hub}?id=<token>`` without ``Accept: text/event-stream``."""

    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        token = self.query_param(scope, "id")
        if not token:
            await respond(send, 400, b"Connection ID required", headers=NO_CACHE)
            return
        if not await self.authorized(scope):
            await respond(send, 401, headers=NO_CACHE)
            return
        loop = asyncio.get_running_loop()
        poll = loop.create_task(
            manager.request(
                self.endpoint,
                token,
                "poll",
                supported=self.endpoint.transports(),
                scope=scope,
                poll=secrets.token_urlsafe(9),
            )
        )
        client_left = loop.create_task(wait_for_disconnect(receive))
        await asyncio.wait({poll, client_left}, return_when=asyncio.FIRST_COMPLETED)
        client_left.cancel()
        if poll.done():
            await respond_with(send, poll.result(), headers=NO_CACHE)
        else:  # the client aborted the poll (it does so before DELETE): what waits stays queued
            poll.cancel()

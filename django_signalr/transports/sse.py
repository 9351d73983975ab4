"""The Server-Sent Events transport: a stream of events from the server, POSTs from the client.

The hub connection lives at the connection's home process (see ``manager``); this consumer
holds the HTTP response wherever the load balancer sent the GET, and writes what home sends.
Each chunk the hub writes -- often several records -- becomes one event: every line of it a
``data:`` line, then an empty line (ASP.NET Core's ``ServerSentEventsMessageFormatter``).
"""

from __future__ import annotations

import asyncio

from ..asgi_types import ASGIReceiveCallable, ASGISendCallable, Scope
from . import manager
from .base import HubConsumer
from .http import read_body, respond, respond_with, wait_for_disconnect

HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache,no-store"),
    (b"pragma", b"no-cache"),
    (b"content-encoding", b"identity"),  # never gzipped
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
]
# A comment line: the browser fires ``onopen`` on it, and the client's start() waits for that.
PREAMBLE = b":\r\n"


def event(data: bytes) -> bytes:
    """One SSE event carrying ``data``."""
    lines = (line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n"))
    return b"".join(b"data: " + line + b"\r\n" for line in lines) + b"\r\n"


class ServerSentEventsTransport(HubConsumer):
    """``GET {hub}?id=<token>`` with ``Accept: text/event-stream``."""

    async def serve(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await read_body(receive)
        token = self.query_param(scope, "id")
        if not token:
            await respond(send, 400, b"Connection ID required")
            return
        if not await self.authorized(scope):
            await respond(send, 401)
            return
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def sink(data: bytes | None) -> None:
            chunks.put_nowait(data)

        try:
            opened = await manager.request(
                self.endpoint, token, "stream", supported=self.endpoint.transports(), scope=scope, sink=sink
            )
            if opened.status != 200:
                await respond_with(send, opened)
                return
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS, "trailers": False})
            await send({"type": "http.response.body", "body": PREAMBLE, "more_body": True})
            await self._stream(token, chunks, receive, send)
        finally:
            manager.forget_stream(self.endpoint, sink)

    async def _stream(
        self,
        token: str,
        chunks: asyncio.Queue[bytes | None],
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
    ) -> None:
        loop = asyncio.get_running_loop()
        client_left = loop.create_task(wait_for_disconnect(receive))
        try:
            while True:
                next_chunk = loop.create_task(chunks.get())
                await asyncio.wait({next_chunk, client_left}, return_when=asyncio.FIRST_COMPLETED)
                if not next_chunk.done():
                    next_chunk.cancel()
                    manager.notify(self.endpoint, token, "stream_closed")
                    return
                data = next_chunk.result()
                if data is None:  # the connection ended at home
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                await send({"type": "http.response.body", "body": event(data), "more_body": True})
        finally:
            client_left.cancel()

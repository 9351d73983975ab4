"""The hand-written Channels consumers behind ``channels_plain`` and ``channels_ceiling``.

Wire format (the ``plain`` client protocol): JSON text frames
``{"op": "echo", "payload": ...}`` answered with the same shape, and
``{"op": "broadcast", "payload": ...}`` which makes the server push
``{"op": "receive", "payload": ...}`` to every connection. Both consumers use
orjson so that the only difference between them is the Channels machinery.
"""

from __future__ import annotations

from typing import Any

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "bench_all"


class PlainConsumer(AsyncWebsocketConsumer):
    """A standard consumer: Channels' dispatch loop, broadcast via ``group_send``.

    Every connection joins one group; ``InMemoryChannelLayer`` runs with default
    settings (capacity 100 per channel), so it is expected to drop messages
    once consumers lag — that is what the benchmark wants to show.
    """

    groups = [GROUP]

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Handle one client frame: echo it back, or fan a broadcast out."""
        message = orjson.loads(text_data if text_data is not None else bytes_data or b"{}")
        op = message.get("op")
        if op == "echo":
            await self.send(text_data=orjson.dumps({"op": "echo", "payload": message["payload"]}).decode())
        elif op == "broadcast":
            await self.broadcast(message["payload"])

    async def broadcast(self, payload: Any) -> None:
        """Send ``payload`` to every connection through the channel layer group."""
        await self.channel_layer.group_send(GROUP, {"type": "bench.receive", "payload": payload})

    async def bench_receive(self, event: dict[str, Any]) -> None:
        """Channel-layer handler: forward a group message to this socket."""
        await self.send(text_data=orjson.dumps({"op": "receive", "payload": event["payload"]}).decode())


#: Live ceiling consumers; module-level because the ceiling skips the channel layer.
CONNECTIONS: set[CeilingConsumer] = set()


class CeilingConsumer(PlainConsumer):
    """The same consumer owning its receive loop: the ceiling of the Django/Channels stack.

    ``__call__`` reads ASGI events itself (no channel layer, no
    ``await_many_dispatch``/``asyncio.wait`` and no ``aclose_old_connections``
    thread hop per message) and broadcast iterates ``CONNECTIONS`` sending
    directly, encoding the frame once.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # type: ignore[override]
        """Serve one WebSocket: accept, dispatch frames to ``receive``, clean up on disconnect."""
        self.scope = scope  # type: ignore[assignment]  # channels' TypedDict vs the plain ASGI dict
        self.base_send = send
        try:
            while True:
                event = await receive()
                kind = event["type"]
                if kind == "websocket.receive":
                    await self.receive(text_data=event.get("text"), bytes_data=event.get("bytes"))
                elif kind == "websocket.connect":
                    await self.accept()
                    CONNECTIONS.add(self)
                elif kind == "websocket.disconnect":
                    return
        finally:
            CONNECTIONS.discard(self)

    async def broadcast(self, payload: Any) -> None:
        """Send ``payload`` to every live connection, one direct ASGI send each."""
        frame = orjson.dumps({"op": "receive", "payload": payload}).decode()
        for consumer in tuple(CONNECTIONS):
            try:
                await consumer.base_send({"type": "websocket.send", "text": frame})  # type: ignore[arg-type]
            except Exception:  # a peer vanished mid-broadcast; keep going
                CONNECTIONS.discard(consumer)

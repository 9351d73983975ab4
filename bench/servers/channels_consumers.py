"""The hand-written Channels consumers behind ``channels_plain`` and ``channels_ceiling``.

Wire format (the ``plain`` client protocol), JSON text frames:

- ``{"op": "echo", "payload": p}`` is answered with the same shape;
- ``{"op": "to_me", "payload": p}`` is answered with ``{"op": "echoed", "payload": p}``
  sent through the addressed path (plain: ``channel_layer.send`` to the consumer's
  own channel; ceiling: a direct send);
- ``{"op": "broadcast", "payload": b}`` makes the server push
  ``{"op": "receive", "payload": b}`` to every connection;
- ``{"op": "join", "group": g}`` adds the connection to group ``g`` and is answered
  with ``{"op": "joined"}``;
- ``{"op": "group", "group": g, "payload": b}`` pushes ``{"op": "receive", "payload": b}``
  to every member of ``g``.

Both consumers use orjson so that the only difference between them is the Channels machinery.
"""

from __future__ import annotations

from typing import Any

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "bench_all"
JOINED = '{"op":"joined"}'


class PlainConsumer(AsyncWebsocketConsumer):
    """A standard consumer: Channels' dispatch loop, everything addressed through the channel layer.

    Every connection joins one group; ``InMemoryChannelLayer`` runs with default
    settings (capacity 100 per channel), so it is expected to drop messages
    once consumers lag — that is what the benchmark wants to show.
    """

    groups = [GROUP]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Start in no group besides :data:`GROUP`."""
        super().__init__(*args, **kwargs)
        self.joined: list[str] = []

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Handle one client frame: echo it back, or ask for a send, a join or a fan-out."""
        message = orjson.loads(text_data if text_data is not None else bytes_data or b"{}")
        op = message.get("op")
        if op == "echo":
            await self.send(text_data=orjson.dumps({"op": "echo", "payload": message["payload"]}).decode())
        elif op == "broadcast":
            await self.broadcast(message["payload"])
        elif op == "to_me":
            await self.send_to_me(message["payload"])
        elif op == "join":
            await self.join(message["group"])
        elif op == "group":
            await self.send_to_group(message["group"], message["payload"])

    async def broadcast(self, payload: Any) -> None:
        """Send ``payload`` to every connection through the channel layer group."""
        await self.channel_layer.group_send(GROUP, {"type": "bench.receive", "payload": payload})

    async def send_to_me(self, payload: Any) -> None:
        """Address ``payload`` to this consumer's own channel: the layer's send-to-one-channel path."""
        await self.channel_layer.send(self.channel_name, {"type": "bench.echoed", "payload": payload})

    async def join(self, group: str) -> None:
        """Add this consumer's channel to ``group`` in the layer, then confirm."""
        await self.channel_layer.group_add(group, self.channel_name)
        self.joined.append(group)
        await self.send(text_data=JOINED)

    async def send_to_group(self, group: str, payload: Any) -> None:
        """Send ``payload`` to the members of ``group`` through the channel layer."""
        await self.channel_layer.group_send(group, {"type": "bench.receive", "payload": payload})

    async def bench_receive(self, event: dict[str, Any]) -> None:
        """Channel-layer handler: forward a group message to this socket."""
        await self.send(text_data=orjson.dumps({"op": "receive", "payload": event["payload"]}).decode())

    async def bench_echoed(self, event: dict[str, Any]) -> None:
        """Channel-layer handler: forward a message addressed to this channel to the socket."""
        await self.send(text_data=orjson.dumps({"op": "echoed", "payload": event["payload"]}).decode())

    async def disconnect(self, code: int) -> None:
        """Leave the groups joined with ``join`` (Channels only discards :attr:`groups` itself)."""
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)


#: Live ceiling consumers; module-level because the ceiling skips the channel layer.
CONNECTIONS: set[CeilingConsumer] = set()
#: Ceiling groups: name -> member consumers.
GROUPS: dict[str, set[CeilingConsumer]] = {}


class CeilingConsumer(PlainConsumer):
    """The same consumer owning its receive loop: the ceiling of the Django/Channels stack.

    ``__call__`` reads ASGI events itself (no channel layer, no
    ``await_many_dispatch``/``asyncio.wait`` and no ``aclose_old_connections``
    thread hop per message); broadcast iterates ``CONNECTIONS`` and a group send
    iterates its set in ``GROUPS``, sending directly and encoding the frame once;
    a send to the connection is a direct send.
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
            for group in self.joined:
                members = GROUPS.get(group)
                if members is not None:
                    members.discard(self)
                    if not members:
                        del GROUPS[group]

    async def broadcast(self, payload: Any) -> None:
        """Send ``payload`` to every live connection, one direct ASGI send each."""
        await self._fan_out(CONNECTIONS, payload)

    async def send_to_me(self, payload: Any) -> None:
        """Send ``echoed`` straight to this socket (as echo does: no layer)."""
        await self.send(text_data=orjson.dumps({"op": "echoed", "payload": payload}).decode())

    async def join(self, group: str) -> None:
        """Add this consumer to ``GROUPS[group]``, then confirm."""
        GROUPS.setdefault(group, set()).add(self)
        self.joined.append(group)
        await self.send(text_data=JOINED)

    async def send_to_group(self, group: str, payload: Any) -> None:
        """Send ``payload`` to every member of ``group``, one direct ASGI send each."""
        members = GROUPS.get(group)
        if members:
            await self._fan_out(members, payload)

    async def _fan_out(self, members: set[CeilingConsumer], payload: Any) -> None:
        """Encode the ``receive`` frame once and send it to each of ``members``."""
        frame = orjson.dumps({"op": "receive", "payload": payload}).decode()
        for consumer in tuple(members):
            try:
                await consumer.base_send({"type": "websocket.send", "text": frame})  # type: ignore[arg-type]
            except Exception:  # a peer vanished mid-send; keep going
                members.discard(consumer)

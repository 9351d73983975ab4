"""The benchmark hub: the same contract as the aiosignalr target.

``Echo`` (round trip), ``Broadcast`` (fan-out to all, pushed as ``Receive``),
``SendToMe`` (the payload comes back as ``Echoed`` through the addressed send
``clients.client(<caller's connection id>)``), ``JoinGroup`` (answered by its
completion) and ``SendToGroup`` (members get ``Receive``).
"""

from django_signalr import Hub


class BenchHub(Hub):
    """Clients invoke ``Echo``/``JoinGroup`` and send ``Broadcast``/``SendToMe``/``SendToGroup``."""

    async def echo(self, payload: str) -> str:  # clients invoke "Echo"
        """Return the payload as the completion result."""
        return payload

    async def broadcast(self, payload: object) -> None:  # clients send "Broadcast"
        """Push ``Receive(payload)`` to every connected client."""
        await self.clients.all.send("Receive", payload)

    async def send_to_me(self, payload: object) -> None:  # clients send "SendToMe"
        """Push ``Echoed(payload)`` back to the caller through the addressed send (not ``caller``)."""
        await self.clients.client(self.context.connection_id).send("Echoed", payload)

    async def join_group(self, group: str) -> None:  # clients invoke "JoinGroup"
        """Add the caller to ``group``; the (void) completion tells the client it is in."""
        await self.groups.add(self.context.connection_id, group)

    async def send_to_group(self, group: str, payload: object) -> None:  # clients send "SendToGroup"
        """Push ``Receive(payload)`` to every member of ``group``."""
        await self.clients.group(group).send("Receive", payload)

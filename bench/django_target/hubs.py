"""The benchmark hub: the same ``Echo``/``Broadcast`` contract as the aiosignalr target."""

from django_signalr import Hub


class BenchHub(Hub):
    """Clients invoke ``Echo`` (round trip) and send ``Broadcast`` (fan-out to all)."""

    async def echo(self, payload: str) -> str:  # clients invoke "Echo"
        """Return the payload as the completion result."""
        return payload

    async def broadcast(self, payload: object) -> None:  # clients send "Broadcast"
        """Push ``Receive(payload)`` to every connected client."""
        await self.clients.all.send("Receive", payload)

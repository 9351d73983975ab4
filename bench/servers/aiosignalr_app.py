"""ASGI entry for ``aiosignalr``: its ``SignalRServer`` with the bench hub at ``/hubs/bench``."""

from typing import Any

from aiosignalr.server import Hub, SignalRServer


class BenchHub(Hub):  # type: ignore[misc]  # aiosignalr ships no type information
    """Same contract as the django_signalr bench hub: ``Echo`` and ``Broadcast``."""

    async def echo(self, payload: str) -> str:
        """Invocation target ``Echo``: return the payload as the completion result."""
        return payload

    async def broadcast(self, payload: Any) -> None:
        """Send target ``Broadcast``: push ``Receive(payload)`` to every client."""
        await self.clients.all_.send("Receive", payload)


application = SignalRServer(BenchHub).asgi_app(path="/hubs/bench")

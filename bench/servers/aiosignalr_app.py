"""ASGI entry for ``aiosignalr``: its ``SignalRServer`` with the bench hub at ``/hubs/bench``.

aiosignalr matches a target to a method by ``target.lower() == method_name.lower()``
(no underscore folding), so the multi-word targets are spelled ``sendtome``,
``joingroup`` and ``sendtogroup`` here (``SendToMe``, ``JoinGroup``, ``SendToGroup``
on the wire).
"""

from typing import Any

from aiosignalr.server import Hub, SignalRServer


class BenchHub(Hub):  # type: ignore[misc]  # aiosignalr ships no type information
    """Same contract as the django_signalr bench hub: ``Echo``, ``Broadcast``, ``SendToMe``, groups."""

    async def echo(self, payload: str) -> str:
        """Invocation target ``Echo``: return the payload as the completion result."""
        return payload

    async def broadcast(self, payload: Any) -> None:
        """Send target ``Broadcast``: push ``Receive(payload)`` to every client."""
        await self.clients.all_.send("Receive", payload)

    async def sendtome(self, payload: Any) -> None:
        """Send target ``SendToMe``: push ``Echoed(payload)`` to the caller through ``clients.client(id)``."""
        await self.clients.client(self.context.connection_id).send("Echoed", payload)

    async def joingroup(self, group: str) -> None:
        """Invocation target ``JoinGroup``: add the caller to ``group`` (answered by a void completion)."""
        await self.groups.add(group)

    async def sendtogroup(self, group: str, payload: Any) -> None:
        """Send target ``SendToGroup``: push ``Receive(payload)`` to every member of ``group``."""
        await self.clients.group(group).send("Receive", payload)


application = SignalRServer(BenchHub).asgi_app(path="/hubs/bench")

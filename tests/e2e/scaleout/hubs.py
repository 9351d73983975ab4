"""The hub of the scale-out tests: EchoHub plus per-process statistics."""

from __future__ import annotations

import asyncio
import os

from django_signalr import get_hub_context
from tests.hubs import EchoHub

from .counting import COUNTS


class ScaleHub(EchoHub):
    async def stats(self) -> dict[str, int]:
        return dict(COUNTS)

    async def reset_stats(self) -> int:
        COUNTS.clear()
        return os.getpid()

    async def send_to_all_at_once(self, count: int) -> None:
        """``count`` sends to all made at once, as a job pushing many updates does: the node
        queues those made while the first is on its way and sends them as one batch."""
        await asyncio.gather(*(self.clients.all.send("Receive", f"burst {n}") for n in range(count)))

    async def add_to_group(self, connection_id: str, group: str) -> None:
        await self.groups.add(connection_id, group)

    async def ask_client(self, connection_id: str, question: str) -> object:
        """A client result from any connection of the cluster, through the hub context (the
        caller is not the one asked, so one invocation at a time is fine)."""
        return await get_hub_context(ScaleHub).clients.client(connection_id).invoke("Answer", question, timeout=5)

    async def query(self, question: str, name: str | None = None) -> object:
        """A cluster-wide query of ``self.connections`` (presence.py), by method name."""
        connections = self.connections
        if question == "all":
            return await connections.all()
        if question == "in_group":
            return await connections.in_group(name or "")
        if question == "of_user":
            return await connections.of_user(name or "")
        if question == "is_user_connected":
            return await connections.is_user_connected(name or "")
        if question == "count":
            return await connections.count(name)
        if question == "users":
            return await connections.users(name)
        if question == "groups":
            return await connections.groups()
        raise ValueError(question)

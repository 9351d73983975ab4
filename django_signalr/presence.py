"""Cluster-wide questions about a hub's connections: ``self.connections`` in a hub and
``get_hub_context(Hub).connections`` anywhere else.

ASP.NET Core, Channels and python-socketio all decline to list a group's members across
servers. Here every live server process is asked for what it holds (the connection registry
only says which processes are alive), so an answer is exact as of the moment it returns:
a connection that has finished its handshake anywhere is counted, and a process that died is
not -- at worst a query waits ``QUERY_TIMEOUT`` for a process killed moments ago.

Each call costs one request per live process; cache the result in the caller if you ask
many times a second.
"""

from __future__ import annotations

from .clients import check_name
from .lifetime.base import HubLifetimeManager


class HubConnections:
    """The live connections of one hub, wherever they are."""

    __slots__ = ("_manager",)

    def __init__(self, manager: HubLifetimeManager) -> None:
        self._manager = manager

    async def all(self) -> list[str]:
        """Every connection id of the hub, sorted."""
        return sorted(await self._manager.query("all", None))

    async def in_group(self, group: str) -> list[str]:
        """The connection ids in ``group``, sorted."""
        return sorted(await self._manager.query("groups", check_name(group, "group name")))

    async def of_user(self, user_id: str) -> list[str]:
        """The connection ids of the user (as ``USER_ID_PROVIDER`` names users), sorted."""
        return sorted(await self._manager.query("users", check_name(user_id, "user id")))

    async def is_user_connected(self, user_id: str) -> bool:
        """Whether the user has at least one connection to the hub."""
        return bool(await self.of_user(user_id))

    async def count(self, group: str | None = None) -> int:
        """How many connections the hub has, or ``group`` has."""
        return len(await self.all() if group is None else await self.in_group(group))

    async def groups(self) -> dict[str, int]:
        """Every group that has members, with how many connections each has (the room list
        of a chat, say). Groups are sorted by name."""
        return dict(sorted((await self._manager.group_sizes()).items()))

    async def users(self, group: str | None = None) -> list[str]:
        """The distinct user ids connected to the hub, or in ``group``, sorted (anonymous
        connections have none)."""
        if group is None:
            connections = await self._manager.query("all", None)
        else:
            connections = await self._manager.query("groups", check_name(group, "group name"))
        return sorted({user for user in connections.values() if user is not None})

    async def disconnect(self, connection_id: str) -> bool:
        """Close a connection wherever it is: the client gets a Close without reconnect, as
        from ``context.abort()``. Whether the connection was found."""
        return await self._manager.abort_connection(check_name(connection_id, "connection id"))

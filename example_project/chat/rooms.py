"""Room names, the demo users, and who is in a room (shared by the hub, views and commands).

Who is in a room is not stored anywhere by the example: each room is a SignalR group, and the
hub's cluster-wide connection queries (``connections.users(group)``) ask every live server
process which of its connections are in it. A connection leaves its groups when it ends, and
a server process that is killed simply stops answering, so the lists are never stale.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from django_signalr import get_hub_context

if TYPE_CHECKING:
    from django_signalr.presence import HubConnections

# The same characters as the <slug:name> URL converter, so every room has a page.
ROOM_NAME = re.compile(r"[-a-zA-Z0-9_]{1,50}")
DEFAULT_ROOMS = ("general", "random")
GROUP_PREFIX = "room:"

DEMO_USERS = (("alice", "alice"), ("bob", "bob"), ("carol", "carol"))


def is_room_name(name: object) -> bool:
    return isinstance(name, str) and ROOM_NAME.fullmatch(name) is not None


def group_name(room: str) -> str:
    """The SignalR group of a room's connections."""
    return f"{GROUP_PREFIX}{room}"


def _chat_connections() -> HubConnections:
    """ChatHub's ``connections``, the same object as ``self.connections`` in the hub."""
    from .hubs import ChatHub  # imported here: hubs.py imports this module

    return get_hub_context(ChatHub).connections


async def room_members(room: str) -> list[str]:
    """The user names connected to ``room`` (on any server process), sorted, each once."""
    # Ids as USER_ID_PROVIDER makes them; the example keeps the default, str(user.pk).
    user_ids = await _chat_connections().users(group_name(room))
    if not user_ids:
        return []
    users = get_user_model()._default_manager.filter(pk__in=user_ids)
    return sorted([user.get_username() async for user in users])


async def room_people(rooms: list[str]) -> dict[str, int]:
    """How many people (distinct users, not tabs) are in each of ``rooms`` right now."""
    connections = _chat_connections()
    counts = await asyncio.gather(*(connections.users(group_name(room)) for room in rooms))
    return {room: len(users) for room, users in zip(rooms, counts, strict=True)}


async def rooms_in_use() -> list[str]:
    """The rooms someone is in right now, on any server process (``connections.groups()``)."""
    groups = await _chat_connections().groups()
    names = (group.removeprefix(GROUP_PREFIX) for group in groups if group.startswith(GROUP_PREFIX))
    return [name for name in names if is_room_name(name)]


async def lobby_rooms() -> dict[str, int]:
    """The default rooms and every room in use, with how many people are in each."""
    return await room_people(sorted({*DEFAULT_ROOMS, *await rooms_in_use()}))

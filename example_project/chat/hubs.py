"""ChatHub: rooms (groups), room messages, private messages and a live member list.

Client -> server: ``JoinRoom(room)`` (returns the member list), ``LeaveRoom(room)``,
``SendMessage(room, text)``, ``SendPrivateMessage(username, text)``.
Server -> client: ``ReceiveMessage({room, user, text, timestamp})``,
``ReceivePrivateMessage({sender, recipient, text, timestamp})``,
``MembersChanged(room, [username, ...])``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone

from django_signalr import Hub, HubException

from .rooms import group_name, is_room_name, room_members

MAX_MESSAGE_LENGTH = 1000


def _room(room: object) -> str:
    if not is_room_name(room):
        raise HubException("A room name is 1 to 50 letters, digits, '-' or '_'.")
    assert isinstance(room, str)
    return room


def _text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise HubException("A message needs some text.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise HubException(f"A message is at most {MAX_MESSAGE_LENGTH} characters.")
    return text.strip()


class ChatHub(Hub):
    """Each room is the group ``room:<name>``; who is in it comes from ``self.connections``.

    ``self.context.items["rooms"]`` holds the rooms this connection joined: ``SendMessage``
    checks it, and ``on_disconnected`` announces the new member list to each of them.
    """

    login_required = True  # negotiate answers 401 to anonymous visitors

    def _rooms(self) -> set[str]:
        rooms: set[str] = self.context.items.setdefault("rooms", set())
        return rooms

    async def join_room(self, room: str) -> list[str]:
        room = _room(room)
        # Remembered before the group is joined: if the connection ends meanwhile (on_disconnected
        # runs alongside a running invocation), it still announces this room.
        self._rooms().add(room)
        await self.groups.add(self.context.connection_id, group_name(room))
        return await self._announce_members(room)

    async def leave_room(self, room: str) -> None:
        room = _room(room)
        if room not in self._rooms():
            return
        self._rooms().discard(room)
        await self.groups.discard(self.context.connection_id, group_name(room))
        await self._announce_members(room)

    async def send_message(self, room: str, text: str) -> None:
        room, text = _room(room), _text(text)
        # Membership from the connection's own items, not from
        # self.connections.in_group(group_name(room)): that asks every live server process and
        # lists the whole room, on every message, while items is a dict in this process. It is
        # exact because only JoinRoom and LeaveRoom put this connection in or out of a room's
        # group (nothing outside the hub calls groups.add/discard on room groups).
        if room not in self._rooms():
            raise HubException(f"Join #{room} before sending to it.")
        message = {
            "room": room,
            "user": self.context.user.get_username(),
            "text": text,
            "timestamp": timezone.now(),  # an ISO 8601 string on the wire
        }
        await self.clients.group(group_name(room)).send("ReceiveMessage", message)

    async def send_private_message(self, username: str, text: str) -> None:
        text = _text(text)
        users = get_user_model()._default_manager
        recipient = await users.filter(**{users.model.USERNAME_FIELD: username}, is_active=True).afirst()
        if recipient is None:
            raise HubException(f"There is no user {username!r}.")
        message = {
            "sender": self.context.user.get_username(),
            "recipient": recipient.get_username(),
            "text": text,
            "timestamp": timezone.now(),
        }
        # Every tab of the recipient, and every tab of the sender (the echo), each once.
        # clients.user() takes the USER_ID_PROVIDER's id: by default str(user.pk).
        sender_id = self.context.user_identifier
        assert sender_id is not None  # login_required
        await self.clients.users([str(recipient.pk), sender_id]).send("ReceivePrivateMessage", message)

    async def on_disconnected(self, exception: Exception | None) -> None:
        # The library has already taken the connection out of its groups (the lifetime manager
        # forgets it before this runs), so the lists announced here no longer count it; the
        # user stays listed while another tab of theirs is in the room.
        for room in sorted(self._rooms()):
            await self._announce_members(room)

    async def _announce_members(self, room: str) -> list[str]:
        members = await room_members(room)
        await self.clients.group(group_name(room)).send("MembersChanged", room, members)
        return members

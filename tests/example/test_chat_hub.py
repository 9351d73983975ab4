"""ChatHub in-process, through django_signalr.testing.HubCommunicator (no server, no browser)."""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from django_signalr import HubException, get_hub_context
from django_signalr.testing import HubCommunicator
from example_project.chat.rooms import group_name

if TYPE_CHECKING:
    from django_signalr.presence import HubConnections

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("chat_app")]

TIMEOUT = 5


@sync_to_async
def make_users(*names: str) -> list[Any]:
    return [get_user_model().objects.create_user(name, password=name) for name in names]


async def connect(user: Any) -> HubCommunicator:
    from example_project.chat.hubs import ChatHub

    communicator = HubCommunicator(ChatHub, user=user)
    await communicator.connect(timeout=TIMEOUT)
    return communicator


async def members_become(communicator: HubCommunicator, room: str, expected: list[str]) -> None:
    """Read MembersChanged broadcasts until ``room``'s list is ``expected``."""

    async def wait() -> None:
        while True:
            message = await communicator.receive_invocation("MembersChanged", timeout=TIMEOUT)
            if message.arguments == [room, expected]:
                return

    await asyncio.wait_for(wait(), TIMEOUT)


async def receives_no(communicator: HubCommunicator, target: str, timeout: float = 0.3) -> bool:
    """Whether no ``target`` invocation arrives within ``timeout`` (other messages are kept)."""
    try:
        await communicator.receive_invocation(target, timeout)
    except TimeoutError:
        return True
    return False


async def next_members(communicator: HubCommunicator, room: str) -> list[str]:
    """The list of the next MembersChanged broadcast, which must be about ``room``."""
    message = await communicator.receive_invocation("MembersChanged", timeout=TIMEOUT)
    assert message.arguments[0] == room
    members: list[str] = message.arguments[1]
    return members


def chat_connections() -> HubConnections:
    from example_project.chat.hubs import ChatHub

    return get_hub_context(ChatHub).connections


async def test_room_message_reaches_the_room_only() -> None:
    alice, bob, carol = await make_users("alice", "bob", "carol")
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    try:
        assert await a.invoke("JoinRoom", "general", timeout=TIMEOUT) == ["alice"]
        assert await b.invoke("JoinRoom", "general", timeout=TIMEOUT) == ["alice", "bob"]
        assert await c.invoke("JoinRoom", "random", timeout=TIMEOUT) == ["carol"]

        await a.invoke("SendMessage", "general", "  hello, bob  ", timeout=TIMEOUT)

        for communicator in (a, b):
            message = (await communicator.receive_invocation("ReceiveMessage", TIMEOUT)).arguments[0]
            assert {k: message[k] for k in ("room", "user", "text")} == {
                "room": "general",
                "user": "alice",
                "text": "hello, bob",
            }
            sent = datetime.datetime.fromisoformat(message["timestamp"])
            assert abs(datetime.datetime.now(datetime.UTC) - sent) < datetime.timedelta(minutes=1)
        assert await receives_no(c, "ReceiveMessage")
    finally:
        await asyncio.gather(a.disconnect(), b.disconnect(), c.disconnect())


async def test_members_list_over_two_users_and_two_tabs() -> None:
    alice, bob = await make_users("alice", "bob")
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    try:
        assert await a.invoke("JoinRoom", "general", timeout=TIMEOUT) == ["alice"]
        assert await next_members(a, "general") == ["alice"]
        assert await b1.invoke("JoinRoom", "general", timeout=TIMEOUT) == ["alice", "bob"]
        assert await next_members(a, "general") == ["alice", "bob"]
        # bob's second tab: three connections in the room, two people, bob listed once.
        assert await b2.invoke("JoinRoom", "general", timeout=TIMEOUT) == ["alice", "bob"]
        for communicator in (a, b1, b2):
            await members_become(communicator, "general", ["alice", "bob"])
        connections = chat_connections()
        assert await connections.count(group_name("general")) == 3
        assert await connections.users(group_name("general")) == sorted([str(alice.pk), str(bob.pk)])
        assert len(await connections.of_user(str(bob.pk))) == 2
    finally:
        await asyncio.gather(a.disconnect(), b1.disconnect(), b2.disconnect())
    assert await chat_connections().all() == []


async def test_a_user_with_two_tabs_is_listed_until_both_are_closed() -> None:
    alice, bob = await make_users("alice", "bob")
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    try:
        for communicator in (a, b1, b2):
            await communicator.invoke("JoinRoom", "general", timeout=TIMEOUT)
        assert [await next_members(a, "general") for _ in range(3)] == [
            ["alice"],
            ["alice", "bob"],
            ["alice", "bob"],
        ]

        await b1.invoke("LeaveRoom", "general", timeout=TIMEOUT)
        assert await next_members(a, "general") == ["alice", "bob"]  # the other tab is still there
        await b1.disconnect()  # in no room any more: nothing to announce
        assert await receives_no(a, "MembersChanged")

        # on_disconnected runs once the library has dropped the connection's memberships, so
        # the very next list, sent from on_disconnected, no longer has bob.
        await b2.disconnect()
        assert await next_members(a, "general") == ["alice"]
        assert await chat_connections().users(group_name("general")) == [str(alice.pk)]
        assert not await chat_connections().is_user_connected(str(bob.pk))
    finally:
        await asyncio.gather(a.disconnect(), b1.disconnect(), b2.disconnect())


async def test_a_closed_tab_leaves_every_room_it_was_in() -> None:
    alice, bob = await make_users("alice", "bob")
    a, b = await connect(alice), await connect(bob)
    try:
        for room in ("general", "random"):
            await a.invoke("JoinRoom", room, timeout=TIMEOUT)
            await b.invoke("JoinRoom", room, timeout=TIMEOUT)
            await members_become(a, room, ["alice", "bob"])
        await b.disconnect()
        announced = {}
        for _ in range(2):
            message = await a.receive_invocation("MembersChanged", timeout=TIMEOUT)
            announced[message.arguments[0]] = message.arguments[1]
        assert announced == {"general": ["alice"], "random": ["alice"]}
        assert await chat_connections().count() == 1
    finally:
        await asyncio.gather(a.disconnect(), b.disconnect())


async def test_only_a_connection_that_joined_may_send_to_the_room() -> None:
    (alice,) = await make_users("alice")
    a1, a2 = await connect(alice), await connect(alice)
    try:
        await a1.invoke("JoinRoom", "general", timeout=TIMEOUT)
        # The same user, but another tab that has not joined.
        with pytest.raises(HubException, match="HubException: Join #general before sending"):
            await a2.invoke("SendMessage", "general", "hi", timeout=TIMEOUT)
        await a1.invoke("SendMessage", "general", "hi", timeout=TIMEOUT)
        assert (await a1.receive_invocation("ReceiveMessage", TIMEOUT)).arguments[0]["text"] == "hi"
        await a1.invoke("LeaveRoom", "general", timeout=TIMEOUT)
        with pytest.raises(HubException, match="HubException: Join #general before sending"):
            await a1.invoke("SendMessage", "general", "hi again", timeout=TIMEOUT)
        assert await receives_no(a2, "ReceiveMessage")
    finally:
        await asyncio.gather(a1.disconnect(), a2.disconnect())


async def test_private_message_reaches_recipient_and_every_tab_of_sender() -> None:
    alice, bob, carol = await make_users("alice", "bob", "carol")
    a1, a2, b, c = await connect(alice), await connect(alice), await connect(bob), await connect(carol)
    try:
        await a1.invoke("SendPrivateMessage", "bob", "psst", timeout=TIMEOUT)
        for communicator in (b, a1, a2):
            message = (await communicator.receive_invocation("ReceivePrivateMessage", TIMEOUT)).arguments[0]
            assert (message["sender"], message["recipient"], message["text"]) == ("alice", "bob", "psst")
        assert await receives_no(c, "ReceivePrivateMessage")
        # Once per connection, though alice is both the sender and in the list of user ids.
        assert await receives_no(a1, "ReceivePrivateMessage", 0.1)
    finally:
        await asyncio.gather(a1.disconnect(), a2.disconnect(), b.disconnect(), c.disconnect())


async def test_bad_requests_get_readable_errors() -> None:
    (alice,) = await make_users("alice")
    a = await connect(alice)
    try:
        with pytest.raises(HubException, match="HubException: Join #general before sending"):
            await a.invoke("SendMessage", "general", "hi", timeout=TIMEOUT)
        with pytest.raises(HubException, match="HubException: A room name is"):
            await a.invoke("JoinRoom", "no spaces/here", timeout=TIMEOUT)
        with pytest.raises(HubException, match="HubException: There is no user 'nobody'"):
            await a.invoke("SendPrivateMessage", "nobody", "hi", timeout=TIMEOUT)
    finally:
        await a.disconnect()


async def test_anonymous_visitors_are_refused() -> None:
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(HubException):
        await connect(AnonymousUser())

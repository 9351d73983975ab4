"""Every ``clients`` proxy and ``groups``, in one process, through the real consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User

from django_signalr import get_hub_context
from django_signalr.testing import HubCommunicator
from tests.hubs import EchoHub

Connect = Callable[..., Awaitable[HubCommunicator]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    opened: list[HubCommunicator] = []

    async def open_one(**kwargs: object) -> HubCommunicator:
        communicator = HubCommunicator(EchoHub, **kwargs)  # type: ignore[arg-type]
        await communicator.connect()
        opened.append(communicator)
        return communicator

    yield open_one
    for communicator in opened:
        await communicator.disconnect()


async def received(communicator: HubCommunicator) -> list[object]:
    """Every Receive invocation that arrived (waiting briefly for stragglers)."""
    messages = []
    while True:
        try:
            message = await communicator.receive_invocation("Receive", timeout=0.15)
        except TimeoutError:
            return messages
        messages.append(message.arguments[0])


async def test_caller_others_all(connect: Connect) -> None:
    a, b, c = [await connect() for _ in range(3)]
    await a.invoke("SendToCaller", "to-caller")
    await a.invoke("SendToOthers", "to-others")
    await a.invoke("SendToAll", "to-all")
    assert await received(a) == ["to-caller", "to-all"]
    assert await received(b) == ["to-others", "to-all"]
    assert await received(c) == ["to-others", "to-all"]


async def test_groups_add_discard_and_others_in_group(connect: Connect) -> None:
    a, b, c = [await connect() for _ in range(3)]
    await a.invoke("Join", "room ✨")
    await b.invoke("Join", "room ✨")
    await c.invoke("SendToGroup", "room ✨", "hello")
    await a.invoke("SendToOthersInGroup", "room ✨", "not me")
    await b.invoke("Leave", "room ✨")
    await c.invoke("SendToGroup", "room ✨", "after leave")
    assert await received(a) == ["hello", "after leave"]
    assert await received(b) == ["hello", "not me"]
    assert await received(c) == []


async def test_a_connection_in_several_groups_gets_one_copy(connect: Connect) -> None:
    a, b = await connect(), await connect()
    await a.invoke("Join", "x")
    await a.invoke("Join", "y")
    await b.invoke("Join", "y")
    await b.invoke("SendToGroups", ["x", "y", "x"], "once")
    assert await received(a) == ["once"]
    assert await received(b) == ["once"]


async def test_joining_twice_and_leaving_unknown_groups_are_harmless(connect: Connect) -> None:
    a = await connect()
    await a.invoke("Join", "g")
    await a.invoke("Join", "g")
    await a.invoke("Leave", "never-joined")
    await a.invoke("SendToGroup", "g", "one")
    assert await received(a) == ["one"]


@pytest.mark.django_db(transaction=True)
async def test_user_reaches_every_connection_of_that_user(connect: Connect) -> None:
    alice = await User.objects.acreate_user("alice")
    bob = await User.objects.acreate_user("bob")
    alice_1, alice_2, bob_1 = await connect(user=alice), await connect(user=alice), await connect(user=bob)
    await bob_1.invoke("SendToUser", str(alice.pk), "hi alice")
    assert await received(alice_1) == ["hi alice"]
    assert await received(alice_2) == ["hi alice"]
    assert await received(bob_1) == []
    context = get_hub_context(EchoHub)
    await context.clients.users([str(alice.pk), str(bob.pk)]).send("Receive", "both")
    assert [await received(c) for c in (alice_1, alice_2, bob_1)] == [["both"]] * 3


async def test_client_clients_and_all_except_by_connection_id(connect: Connect) -> None:
    a, b, c = [await connect() for _ in range(3)]
    b_id = await b.invoke("ConnectionId")
    c_id = await c.invoke("ConnectionId")
    await a.invoke("SendToClient", b_id, "direct")
    clients = get_hub_context(EchoHub).clients
    await clients.clients([b_id, c_id, "nobody"]).send("Receive", "some")
    await clients.all_except([b_id]).send("Receive", "not b")
    await clients.group_except("none", [b_id]).send("Receive", "empty group")
    assert await received(a) == ["not b"]
    assert await received(b) == ["direct", "some"]
    assert await received(c) == ["some", "not b"]


async def test_hub_context_groups_from_outside_a_hub(connect: Connect) -> None:
    a = await connect()
    context = get_hub_context(EchoHub)
    await context.groups.add(await a.invoke("ConnectionId"), "news")
    await context.clients.group("news").send("Receive", "headline")
    await context.groups.discard(await a.invoke("ConnectionId"), "news")
    await context.clients.group("news").send("Receive", "nobody hears this")
    await context.groups.add("no-such-connection", "news")  # a no-op, as in ASP.NET Core
    assert await received(a) == ["headline"]


async def test_hub_context_from_sync_code_in_a_worker_thread(connect: Connect) -> None:
    a = await connect()

    def sync_view() -> None:  # what a sync Django view or task does
        async_to_sync(get_hub_context(EchoHub).clients.all.send)("Receive", "from sync")

    await asyncio.get_running_loop().run_in_executor(None, sync_view)
    assert await received(a) == ["from sync"]


async def test_sends_preserve_order_per_sender(connect: Connect) -> None:
    a, b = await connect(), await connect()
    clients = get_hub_context(EchoHub).clients
    for number in range(200):
        await clients.all.send("Receive", number)
    assert await received(b) == list(range(200))
    assert await received(a) == list(range(200))


async def test_proxy_arguments_are_checked() -> None:
    clients = get_hub_context(EchoHub).clients
    with pytest.raises(TypeError, match="collection of group names"):
        clients.groups("abc")
    with pytest.raises(TypeError, match="must be a string"):
        await clients.all.send(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await clients.all.send("Receive", object())


async def test_unserializable_arguments_fail_the_send_before_anyone_gets_it(connect: Connect) -> None:
    a = await connect()
    with pytest.raises(TypeError):
        await get_hub_context(EchoHub).clients.all.send("Receive", "ok", object())
    assert await received(a) == []

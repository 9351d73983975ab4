"""Invocations through the real WebSocket consumer: binding, results, errors, authorization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_signalr import Hub, HubException, hub_method
from django_signalr.dispatcher import build_method_table
from django_signalr.protocol import CompletionMessage, InvocationMessage, StreamInvocationMessage
from django_signalr.testing import HubCommunicator
from tests.hubs import EchoHub


@pytest.fixture
async def echo() -> AsyncIterator[HubCommunicator]:
    communicator = HubCommunicator(EchoHub)
    await communicator.connect()
    yield communicator
    await communicator.disconnect()


@pytest.mark.parametrize("target", ["Echo", "echo", "ECHO", "e_c_h_o"])
async def test_method_names_match_case_and_underscore_insensitively(echo: HubCommunicator, target: str) -> None:
    assert await echo.invoke(target, "x") == "x"


async def test_snake_case_methods_answer_to_camel_and_pascal_case(echo: HubCommunicator) -> None:
    assert await echo.invoke("ConnectionId") == await echo.invoke("connectionId")


async def test_explicit_wire_name(echo: HubCommunicator) -> None:
    assert await echo.invoke("Legacy.Name") == "legacy"
    with pytest.raises(HubException, match="Method does not exist"):
        await echo.invoke("legacy")


@pytest.mark.django_db(transaction=True)  # the worker thread closes stale DB connections
async def test_sync_methods_run_in_a_thread(echo: HubCommunicator) -> None:
    assert await echo.invoke("SyncEcho", {"a": [1]}) == {"a": [1]}


async def test_void_method_answers_a_null_result(echo: HubCommunicator) -> None:
    await echo.send_message(InvocationMessage("Nothing", [], "7"))
    assert await echo.receive() == CompletionMessage("7", None, has_result=True)


async def test_non_blocking_invocation_gets_no_answer_even_on_error(echo: HubCommunicator) -> None:
    await echo.send("Crash")
    await echo.send("NoSuchMethod")
    assert await echo.receive_nothing(0.2)


@pytest.mark.parametrize(
    ("target", "args", "error"),
    [
        ("Fail", ["nope"], "An unexpected error occurred invoking 'Fail' on the server. HubException: nope"),
        ("Crash", [], "An unexpected error occurred invoking 'Crash' on the server."),
        (
            "Missing",
            [],
            "Failed to invoke 'Missing' due to an error on the server. HubException: Method does not exist.",
        ),
        ("Add", [1], "Failed to invoke 'Add' due to an error on the server."),
        (
            "Describe",
            ["not base64!", "2000-01-01", "x", {}],
            "Failed to invoke 'Describe' due to an error on the server.",
        ),
        ("Unserializable", [], "An unexpected error occurred invoking 'Unserializable' on the server."),
        (
            "on_connected",
            [],
            "Failed to invoke 'on_connected' due to an error on the server. HubException: Method does not exist.",
        ),
        (
            "_private",
            [],
            "Failed to invoke '_private' due to an error on the server. HubException: Method does not exist.",
        ),
    ],
)
async def test_error_texts(echo: HubCommunicator, target: str, args: list[Any], error: str) -> None:
    with pytest.raises(HubException) as raised:
        await echo.invoke(target, *args)
    assert str(raised.value) == error


@pytest.mark.parametrize(
    ("target", "args", "error"),
    [
        ("Crash", [], "An unexpected error occurred invoking 'Crash' on the server. ValueError: boom"),
        (
            "Add",
            [1],
            "Failed to invoke 'Add' due to an error on the server. "
            "InvalidDataException: Invocation provides 1 argument(s) but target expects 2.",
        ),
    ],
)
async def test_detailed_errors(target: str, args: list[Any], error: str) -> None:
    with override_settings(SIGNALR={**settings.SIGNALR, "ENABLE_DETAILED_ERRORS": True}):
        communicator = HubCommunicator(EchoHub)
        await communicator.connect()
        with pytest.raises(HubException) as raised:
            await communicator.invoke(target, *args)
        await communicator.disconnect()
    assert str(raised.value) == error


async def test_values_are_converted_to_annotated_types(echo: HubCommunicator) -> None:
    result = await echo.invoke(
        "Describe", "AQID", "2000-01-01T00:00:00Z", "00010203-0405-0607-0706-050403020100", {"x": 1, "Y": 2}
    )
    assert result == [3, 2000, "00010203-0405-0607-0706-050403020100", 3]


async def test_stream_invocation_of_a_non_streaming_method(echo: HubCommunicator) -> None:
    await echo.send_message(StreamInvocationMessage("9", "Echo", ["x"]))
    completion = await echo.receive()
    assert completion == CompletionMessage.with_error(
        "9", "The client attempted to invoke the non-streaming 'Echo' method with a streaming invocation."
    )


async def test_invocations_of_one_client_run_in_order(echo: HubCommunicator) -> None:
    await echo.send_message(InvocationMessage("Sleep", [0.2], "a"))
    await echo.send_message(InvocationMessage("Echo", ["b"], "b"))
    first = await echo.receive()
    second = await echo.receive()
    assert [first.invocation_id, second.invocation_id] == ["a", "b"]  # type: ignore[union-attr]


async def test_parallel_invocations_when_allowed() -> None:
    class ParallelHub(EchoHub):
        maximum_parallel_invocations_per_client = 2

    communicator = HubCommunicator(ParallelHub)
    await communicator.connect()
    await communicator.send_message(InvocationMessage("Sleep", [0.3], "slow"))
    await communicator.send_message(InvocationMessage("Echo", ["fast"], "fast"))
    first = await communicator.receive()
    assert isinstance(first, CompletionMessage)
    assert first.invocation_id == "fast"
    assert (await communicator.receive(1)).invocation_id == "slow"  # type: ignore[union-attr]
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_method_authorization() -> None:
    alice = await User.objects.acreate_user("alice")
    bob = await User.objects.acreate_user("bob")
    await bob.user_permissions.aadd(await Permission.objects.aget(codename="view_user"))
    denied = "Failed to invoke '{}' because user is unauthorized"
    for user, members, staff in [
        (AnonymousUser(), denied.format("MembersOnly"), denied.format("StaffOnly")),
        (alice, "welcome", denied.format("StaffOnly")),
        (await User.objects.aget(pk=bob.pk), "welcome", "staff"),
    ]:
        communicator = HubCommunicator(EchoHub, user=user)
        await communicator.connect()
        for target, expected in [("MembersOnly", members), ("StaffOnly", staff)]:
            try:
                result = await communicator.invoke(target)
            except HubException as error:
                result = str(error)
            assert result == expected
        await communicator.disconnect()


async def test_hub_login_required_refuses_the_websocket() -> None:
    class LockedHub(Hub):
        login_required = True

    with pytest.raises(HubException, match="refused"):
        await HubCommunicator(LockedHub).connect()


def test_ambiguous_method_names_fail_at_startup() -> None:
    class Ambiguous(Hub):
        async def send_message(self) -> None: ...

        async def sendmessage(self) -> None: ...

    with pytest.raises(ImproperlyConfigured, match="both answer to the hub method name"):
        build_method_table(Ambiguous)

    class Renamed(Hub):
        async def send_message(self) -> None: ...

        @hub_method(name="SendMessage")
        async def other(self) -> None: ...

    with pytest.raises(ImproperlyConfigured):
        build_method_table(Renamed)


def test_keyword_only_parameters_are_refused() -> None:
    class Keywords(Hub):
        async def method(self, *, a: int) -> None: ...

    with pytest.raises(ImproperlyConfigured, match="positional parameters only"):
        build_method_table(Keywords)


def test_subclasses_inherit_and_override_methods() -> None:
    class Base(Hub):
        async def one(self) -> int:
            return 1

        async def two(self) -> int:
            return 2

    class Child(Base):
        async def two(self) -> int:
            return 22

        three = None  # not callable: never invocable

    table = build_method_table(Child)
    assert sorted(table) == ["one", "two"]
    assert table["two"].function is Child.two


@pytest.mark.parametrize("protocol", ["json", "messagepack"])
async def test_context_attributes(protocol: str) -> None:
    communicator = HubCommunicator("/hubs/echo", protocol=protocol, query_string="room=7")
    await communicator.connect()
    first = await communicator.invoke("ContextInfo")
    second = await communicator.invoke("ContextInfo")
    await communicator.disconnect()
    connection_id = first.pop("connection_id")
    assert isinstance(connection_id, str)
    assert len(connection_id) == 22  # skip-negotiation ids are 16 random bytes, base64url
    assert first == {
        "user_identifier": None,
        "transport": "WebSockets",
        "protocol": protocol,
        "calls": 1,
        "path": "/hubs/echo",
        "query": "room=7",
    }
    assert second["calls"] == 2  # items live as long as the connection


def test_the_hub_api_names_are_never_hub_methods() -> None:
    class Shadowing(Hub):
        def connections(self) -> int: ...  # type: ignore[override]

        def context(self) -> int: ...  # type: ignore[override]

        async def real(self) -> None: ...

    assert list(build_method_table(Shadowing)) == ["real"]

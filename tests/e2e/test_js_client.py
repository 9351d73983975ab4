"""The official JavaScript client (@microsoft/signalr 10.0.11, in Node) against a live daphne.

Expected texts are the ones the client shows for an ASP.NET Core server (PROTOCOL.md, API.md).
"Did not receive" is checked with a fence: a later message to everyone must be the next one a
connection sees, which needs no sleep and fails if anything else came first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from .hubs import SMALL_LIMIT
from .jsclient import JsConnection, JsDriver, JsError
from .pairs import unique
from .server import Users

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def connect(js: JsDriver, base_url: str, hub: str = "echo", **options: Any) -> JsConnection:
    return await js.connect(unique("c"), f"{base_url}/hubs/{hub}", **options)


async def connect_many(js: JsDriver, base_url: str, count: int, **options: Any) -> list[JsConnection]:
    return [await connect(js, base_url, **options) for _ in range(count)]


async def assert_fenced(sender: JsConnection, receivers: list[JsConnection], others: list[JsConnection]) -> None:
    """Each receiver got exactly one message before the fence; the others got none."""
    fence = unique("fence")
    await sender.invoke("SendToAll", fence)
    for connection in others:
        assert await connection.next() == [fence], f"{connection.name} got a message meant for others"
    for connection in receivers:
        assert await connection.next() == [fence], f"{connection.name} got more than one copy"


# -- invocations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "args", "expected"),
    [
        ("Echo", ["hi"], "hi"),
        ("Add", [2, 3], 5),
        ("SyncEcho", [{"nested": [1, 2.5, None, True]}], {"nested": [1, 2.5, None, True]}),
        ("Nothing", [], None),
        ("Echo", ['héllo ✓ 🎉 \u2028 \\ " \x1e'], 'héllo ✓ 🎉 \u2028 \\ " \x1e'),
        ("Echo", [2**53 - 1], 2**53 - 1),
        (
            "Values",
            [],
            {
                "bytes": "AQID",
                "when": "2000-01-01T00:00:00Z",
                "id": "00010203-0405-0607-0706-050403020100",
                "point": {"x": 1, "y": 2, "label": "p"},
            },
        ),
        (
            "Describe",
            ["AQID", "2000-01-01T00:00:00Z", "00010203-0405-0607-0706-050403020100", {"x": 1, "y": 2}],
            [3, 2000, "00010203-0405-0607-0706-050403020100", 3],
        ),
    ],
    ids=["echo", "add", "sync", "void", "unicode", "big-int", "values", "describe"],
)
async def test_invoke_returns_the_result(
    js: JsDriver, base_url: str, target: str, args: list[Any], expected: Any
) -> None:
    connection = await connect(js, base_url)
    assert await connection.invoke(target, *args) == expected


@pytest.mark.parametrize("target", ["echo", "ECHO", "Echo", "eCHO", "sync_echo", "SyncEcho", "syncEcho"])
async def test_method_names_match_case_and_underscore_insensitively(js: JsDriver, base_url: str, target: str) -> None:
    connection = await connect(js, base_url)
    assert await connection.invoke(target, target) == target


@pytest.mark.parametrize("target", ["send_to_caller", "SendToCaller", "sendToCaller", "SENDTOCALLER"])
async def test_send_is_non_blocking_and_reaches_the_method(js: JsDriver, base_url: str, target: str) -> None:
    connection = await connect(js, base_url)
    await connection.send(target, target)
    assert await connection.next() == [target]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("Legacy.Name", "legacy"),
        ("legacy.name", "legacy"),
        (
            "Legacy",
            JsError("Failed to invoke 'Legacy' due to an error on the server. HubException: Method does not exist."),
        ),
    ],
)
async def test_explicit_wire_name(js: JsDriver, base_url: str, target: str, expected: Any) -> None:
    connection = await connect(js, base_url)
    if isinstance(expected, JsError):
        with pytest.raises(JsError) as raised:
            await connection.invoke(target)
        assert str(raised.value) == str(expected)
    else:
        assert await connection.invoke(target) == expected


# -- server-to-client ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "receivers"),
    [("SendToCaller", [0]), ("SendToOthers", [1, 2]), ("SendToAll", [0, 1, 2])],
)
async def test_caller_others_all(js: JsDriver, base_url: str, target: str, receivers: list[int]) -> None:
    connections = await connect_many(js, base_url, 3)
    message = unique(target)
    await connections[0].invoke(target, message)
    for index in receivers:
        assert await connections[index].next() == [message]
    others = [c for i, c in enumerate(connections) if i not in receivers]
    await assert_fenced(connections[0], [connections[i] for i in receivers], others)


@pytest.mark.parametrize("style", ["ascii", "unicode"])
async def test_group_join_send_leave(js: JsDriver, base_url: str, style: str) -> None:
    a, b, outsider = await connect_many(js, base_url, 3)
    group = unique("group") if style == "ascii" else unique("Grüße, ✓ 🎉 / * " * 10)
    await a.invoke("Join", group)
    await b.invoke("Join", group)
    await outsider.invoke("SendToGroup", group, "first")
    assert await a.next() == ["first"]
    assert await b.next() == ["first"]
    await assert_fenced(outsider, [a, b], [outsider])

    await a.invoke("Leave", group)
    await outsider.invoke("SendToGroup", group, "second")
    assert await b.next() == ["second"]
    await assert_fenced(outsider, [b], [a, outsider])


async def test_others_in_group(js: JsDriver, base_url: str) -> None:
    a, b, outsider = await connect_many(js, base_url, 3)
    group = unique("group")
    await a.invoke("Join", group)
    await b.invoke("Join", group)
    await a.invoke("SendToOthersInGroup", group, "hello")
    assert await b.next() == ["hello"]
    await assert_fenced(a, [b], [a, outsider])


async def test_groups_send_one_copy_per_connection(js: JsDriver, base_url: str) -> None:
    both, one, outsider = await connect_many(js, base_url, 3)
    first, second = unique("group"), unique("group")
    await both.invoke("Join", first)
    await both.invoke("Join", second)
    await one.invoke("Join", second)
    await outsider.invoke("SendToGroups", [first, second], "hello")
    assert await both.next() == ["hello"]
    assert await one.next() == ["hello"]
    await assert_fenced(outsider, [both, one], [outsider])


async def test_user_reaches_every_connection_of_that_user(js: JsDriver, base_url: str, users: Users) -> None:
    alice_1, alice_2 = [await connect(js, base_url, accessToken=users["alice"].token) for _ in range(2)]
    bob = await connect(js, base_url, accessToken=users["bob"].token)
    assert await alice_1.invoke("Whoami") == "alice"
    assert await bob.invoke("Whoami") == "bob"
    await bob.invoke("SendToUser", users["alice"].pk, "for alice")
    assert await alice_1.next() == ["for alice"]
    assert await alice_2.next() == ["for alice"]
    await assert_fenced(bob, [alice_1, alice_2], [bob])


async def test_client_by_the_connection_id_the_client_reports(js: JsDriver, base_url: str) -> None:
    sender, target = await connect_many(js, base_url, 2)
    target_id = await target.connection_id()
    assert target_id is not None
    assert await target.invoke("ConnectionId") == target_id
    assert await sender.connection_id() != target_id
    await sender.invoke("SendToClient", target_id, "direct")
    assert await target.next() == ["direct"]
    await assert_fenced(sender, [target], [sender])


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub", "target", "args", "error"),
    [
        (
            "echo",
            "Fail",
            ["nope"],
            "An unexpected error occurred invoking 'Fail' on the server. HubException: nope",
        ),
        ("echo", "Crash", [], "An unexpected error occurred invoking 'Crash' on the server."),
        (
            "echo",
            "Unserializable",
            [],
            "An unexpected error occurred invoking 'Unserializable' on the server.",
        ),
        (
            "detailed",
            "Crash",
            [],
            "An unexpected error occurred invoking 'Crash' on the server. ValueError: boom",
        ),
        (
            "echo",
            "Nope",
            [],
            "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
        ),
        (
            "echo",
            "OnConnected",
            [],
            "Failed to invoke 'OnConnected' due to an error on the server. HubException: Method does not exist.",
        ),
        ("echo", "Add", [1], "Failed to invoke 'Add' due to an error on the server."),
        ("echo", "Add", [1, 2, 3], "Failed to invoke 'Add' due to an error on the server."),
        (
            "detailed",
            "Add",
            [1],
            "Failed to invoke 'Add' due to an error on the server. InvalidDataException: "
            "Invocation provides 1 argument(s) but target expects 2.",
        ),
    ],
    ids=[
        "hub-exception",
        "crash",
        "unserializable",
        "crash-detailed",
        "unknown",
        "reserved",
        "too-few",
        "too-many",
        "too-few-detailed",
    ],
)
async def test_error_completions(
    js: JsDriver, base_url: str, hub: str, target: str, args: list[Any], error: str
) -> None:
    connection = await connect(js, base_url, hub)
    with pytest.raises(JsError) as raised:
        await connection.invoke(target, *args)
    assert str(raised.value) == error
    assert await connection.invoke("Echo", "still connected") == "still connected"


async def test_one_client_invokes_one_at_a_time_without_blocking_others(js: JsDriver, base_url: str) -> None:
    """MAXIMUM_PARALLEL_INVOCATIONS_PER_CLIENT = 1: a client's second call waits for its first."""
    busy, other = await connect_many(js, base_url, 2)
    loop = asyncio.get_running_loop()
    finished: dict[str, float] = {}

    async def timed(label: str, connection: JsConnection, target: str, *args: Any) -> Any:
        result = await connection.invoke(target, *args)
        finished[label] = loop.time()
        return result

    start = loop.time()
    sleeping = asyncio.ensure_future(timed("sleep", busy, "Sleep", 1.0))
    await asyncio.sleep(0.1)
    results = await asyncio.gather(timed("queued", busy, "Echo", "queued"), timed("other", other, "Echo", "other"))
    assert list(results) == ["queued", "other"]
    assert await sleeping == "slept"
    assert finished["other"] - start < 0.8, "another connection waited for a busy one"
    assert finished["queued"] >= finished["sleep"], "the second call of one client did not wait"


async def test_failed_sends_get_no_reply(js: JsDriver, base_url: str) -> None:
    connection = await connect(js, base_url)
    failing: list[tuple[str, list[Any]]] = [("Crash", []), ("Fail", ["nope"]), ("Nope", []), ("Add", [1])]
    for target, args in failing:
        await connection.send(target, *args)
    assert await connection.invoke("Echo", "after") == "after"
    assert await connection.state() == "Connected"


# -- authentication and authorization ----------------------------------------------------------

UNAUTHORIZED_NEGOTIATE = "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'"


@pytest.mark.parametrize(
    "credentials",
    [{}, {"accessToken": "not-a-token"}, {"headers": {"Cookie": "sessionid=not-a-session"}}],
    ids=["anonymous", "bad-token", "bad-cookie"],
)
async def test_login_required_hub_refuses_negotiate(js: JsDriver, base_url: str, credentials: dict[str, Any]) -> None:
    with pytest.raises(JsError) as raised:
        await connect(js, base_url, "secret", **credentials)
    assert str(raised.value) == UNAUTHORIZED_NEGOTIATE


async def test_login_required_hub_refuses_a_direct_websocket(js: JsDriver, base_url: str) -> None:
    with pytest.raises(JsError) as raised:
        await connect(js, base_url, "secret", transport="WebSockets", skipNegotiation=True)
    assert str(raised.value).startswith("WebSocket failed to connect.")


@pytest.mark.parametrize("how", ["cookie", "token", "token-skip-negotiation"])
async def test_login_required_hub_accepts_session_and_token(
    js: JsDriver, base_url: str, users: Users, how: str
) -> None:
    options: dict[str, Any] = {"accessToken": users["alice"].token}
    if how == "cookie":
        options = {"headers": {"Cookie": users.cookie("alice")}}
    elif how == "token-skip-negotiation":
        options.update(transport="WebSockets", skipNegotiation=True)
    connection = await connect(js, base_url, "secret", **options)
    assert await connection.invoke("Secret") == "42"


@pytest.mark.parametrize(
    ("user", "target", "expected"),
    [
        (None, "MembersOnly", None),
        ("alice", "MembersOnly", "welcome"),
        (None, "StaffOnly", None),
        ("alice", "StaffOnly", None),
        ("staff", "StaffOnly", "staff"),
    ],
)
async def test_method_authorization(
    js: JsDriver, base_url: str, users: Users, user: str | None, target: str, expected: str | None
) -> None:
    options = {"accessToken": users[user].token} if user else {}
    connection = await connect(js, base_url, **options)
    assert await connection.invoke("Whoami") == user
    if expected is None:
        with pytest.raises(JsError) as raised:
            await connection.invoke(target)
        assert str(raised.value) == f"Failed to invoke '{target}' because user is unauthorized"
    else:
        assert await connection.invoke(target) == expected


# -- transports and URLs -----------------------------------------------------------------------


async def test_skip_negotiation_over_websockets(js: JsDriver, base_url: str) -> None:
    connection = await connect(js, base_url, transport="WebSockets", skipNegotiation=True)
    assert await connection.connection_id() is None
    assert await connection.invoke("Echo", "skipped") == "skipped"
    server_id = await connection.invoke("ConnectionId")
    assert isinstance(server_id, str)
    assert server_id
    await connection.send("SendToCaller", "pushed")
    assert await connection.next() == ["pushed"]


async def test_messagepack_round_trip(js: JsDriver, base_url: str) -> None:
    connection = await connect(js, base_url, protocol="messagepack")
    assert await connection.invoke("Echo", "packed") == "packed"
    assert await connection.invoke("Values") == {
        "bytes": {"$bytes": "AQID"},
        "when": "2000-01-01T00:00:00.000Z",
        "id": "00010203-0405-0607-0706-050403020100",
        "point": {"x": 1, "y": 2, "label": "p"},
    }
    await connection.send("SendToCaller", "pushed")
    assert await connection.next() == ["pushed"]


@pytest.mark.parametrize("path", ["echo/", "echo-ws", "echo-ws/", "echo?tenant=a&x=1", "echo/?x=1"])
async def test_hub_url_variants(js: JsDriver, base_url: str, path: str) -> None:
    connection = await connect(js, base_url, path)
    assert await connection.invoke("Echo", path) == path


# -- limits and clocks -------------------------------------------------------------------------


def size_error(limit: int) -> str:
    return (
        f"Connection closed with an error. InvalidDataException: The maximum message size of {limit}B "
        "was exceeded. The message size can be configured in AddHubOptions."
    )


@pytest.mark.parametrize(
    ("hub", "limit", "close_error"),
    [
        ("small", SMALL_LIMIT, "Connection closed with an error."),
        ("small-detailed", SMALL_LIMIT, size_error(SMALL_LIMIT)),
        ("detailed", 32768, size_error(32768)),
    ],
)
async def test_message_over_the_size_limit_closes_the_connection(
    js: JsDriver, base_url: str, hub: str, limit: int, close_error: str
) -> None:
    connection = await connect(js, base_url, hub)
    fits = "x" * (limit - 100)
    assert await connection.invoke("Echo", fits) == fits
    await connection.send("Echo", "x" * (limit + 1))
    assert await connection.closed() == f"Server returned an error on close: {close_error}"
    assert await connection.state() == "Disconnected"


def first_invocation_size(target: str, text: str) -> int:
    """Bytes of the JS client's first invocation record (its key order), separator included."""
    record = {"arguments": [text], "invocationId": "0", "target": target, "type": 1}
    return len(json.dumps(record, separators=(",", ":")).encode()) + 1


@pytest.mark.parametrize("extra", [0, 1], ids=["exactly-the-limit", "one-byte-over"])
async def test_size_limit_counts_the_record_with_its_separator(js: JsDriver, base_url: str, extra: int) -> None:
    """As ASP.NET Core: a record (with its 0x1E) of MAXIMUM_RECEIVE_MESSAGE_SIZE bytes is accepted."""
    text = "x" * (SMALL_LIMIT - first_invocation_size("Echo", "") + extra)
    assert first_invocation_size("Echo", text) == SMALL_LIMIT + extra
    connection = await connect(js, base_url, "small")
    if extra == 0:
        assert await connection.invoke("Echo", text) == text
    else:
        with pytest.raises(JsError) as raised:
            await connection.invoke("Echo", text)
        closed_with = "Server returned an error on close: Connection closed with an error."
        assert str(raised.value) == closed_with
        assert await connection.closed() == closed_with


async def test_server_keep_alive_keeps_an_idle_client_connected(js: JsDriver, base_url: str) -> None:
    """The control connection (15 s keep-alive) proves the client would time out otherwise."""
    pinged = await connect(js, base_url, "keepalive", serverTimeoutMs=2000)
    control = await connect(js, base_url, "echo", serverTimeoutMs=2000)
    await asyncio.sleep(4)
    assert await control.closed(timeout=1) == "Server timeout elapsed without receiving a message from the server."
    assert await pinged.state() == "Connected"
    assert await pinged.invoke("Echo", "awake") == "awake"


@pytest.mark.parametrize(
    ("hub", "close_error"),
    [
        ("timeout", "Connection closed with an error."),
        (
            "timeout-detailed",
            "Connection closed with an error. OperationCanceledException: "
            "Client hasn't sent a message/ping within the configured ClientTimeoutInterval.",
        ),
    ],
)
async def test_client_timeout_closes_a_silent_client(js: JsDriver, base_url: str, hub: str, close_error: str) -> None:
    """The client pings once after the handshake (arming the timeout), then stays silent."""
    silent = await connect(js, base_url, hub, keepAliveMs=10000)
    chatty = await connect(js, base_url, hub, keepAliveMs=250)
    assert await silent.closed(timeout=4) == f"Server returned an error on close: {close_error}"
    assert await chatty.state() == "Connected"
    assert await chatty.invoke("Echo", "alive") == "alive"


async def test_client_timeout_is_paused_while_an_invocation_runs(js: JsDriver, base_url: str) -> None:
    silent = await connect(js, base_url, "timeout", keepAliveMs=10000)
    assert await silent.invoke("Sleep", 2.5) == "slept"


# -- ending ------------------------------------------------------------------------------------


async def end_connection(connection: JsConnection, ended_by: str) -> None:
    if ended_by == "server-abort":
        await connection.send("Abort")
    elif ended_by == "client-stop":
        await connection.stop()
    elif ended_by == "network-failure":
        await connection.terminate()
    else:
        await connection.send("Echo", "x" * (SMALL_LIMIT + 1))


@pytest.mark.parametrize("ended_by", ["server-abort", "client-stop"])
async def test_clean_close(js: JsDriver, base_url: str, ended_by: str) -> None:
    connection, witness = await connect_many(js, base_url, 2)
    await end_connection(connection, ended_by)
    assert await connection.closed() is None
    assert await connection.state() == "Disconnected"
    assert await witness.invoke("Echo", "unaffected") == "unaffected"


SOME_EXCEPTION = "<any exception>"


@pytest.mark.parametrize(
    ("ended_by", "exception"),
    [
        ("client-stop", None),
        ("server-abort", None),
        ("oversized", "InvalidDataException"),
        # ASP.NET Core: "if the client disconnects due to an error (such as a network failure),
        # the exception parameter contains an exception that describes the failure".
        ("network-failure", SOME_EXCEPTION),
    ],
    ids=["client-stop", "server-abort", "oversized", "network-failure"],
)
async def test_on_disconnected_sees_how_the_connection_ended(
    js: JsDriver, base_url: str, ended_by: str, exception: str | None
) -> None:
    witness = await connect(js, base_url, "presence", listen=["Left"])
    leaving = await connect(js, base_url, "presence")
    leaving_id = await leaving.connection_id()
    await end_connection(leaving, ended_by)
    left_id, reason = await witness.next("Left")
    assert left_id == leaving_id
    if exception == SOME_EXCEPTION:
        assert reason is not None, "on_disconnected(None) after a network failure, as for a clean close"
    else:
        assert reason == exception


@pytest.mark.parametrize(
    ("hub", "ended_by", "first_event"),
    [
        (
            "small",
            "oversized",
            {
                "event": "reconnecting",
                "error": "Server returned an error on close: Connection closed with an error.",
            },
        ),
        ("echo", "server-abort", {"event": "close", "error": None}),
    ],
)
async def test_close_message_allows_reconnect_only_after_errors(
    js: JsDriver, base_url: str, hub: str, ended_by: str, first_event: dict[str, Any]
) -> None:
    """An error close carries ``allowReconnect: true``; ``abort()`` does not (PROTOCOL.md section 3)."""
    connection = await connect(js, base_url, hub, reconnectDelays=[0])
    old_id = await connection.connection_id()
    await end_connection(connection, ended_by)
    assert await connection.event() == first_event
    if first_event["event"] == "reconnecting":
        reconnected = await connection.event()
        assert reconnected["event"] == "reconnected"
        assert reconnected["connectionId"] not in (None, old_id)
        assert await connection.invoke("Echo", "back") == "back"

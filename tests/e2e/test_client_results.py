"""Client results with the official JS client (PROTOCOL.md section 5, API.md ``invoke``):
the server invokes a client handler and awaits its return value, on every transport x
protocol pair; the hub method sees the client's error as ``HubException``; the parallel=1
rule; a disconnect while the server waits; asking through ``get_hub_context`` from inside and
outside an invocation, and from one process of a Redis cluster to a client on another.

``connection.handle("Answer", kind, ...)`` replaces the client's ``Answer`` handlers in the
driver: it returns ``value``, throws ``new Error(message)``, returns nothing, never settles,
or there is no handler at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver, JsError
from .pairs import connect_pair, each_pair, unique

pytestmark = pytest.mark.asyncio(loop_scope="module")

WS_JSON = ("WebSockets", "json")

PARALLEL_RULE = (
    "Client results inside a Hub method requires HubOptions.MaximumParallelInvocationsPerClient to be greater than 1."
)


async def connect(
    js: JsDriver, base_url: str, pair: tuple[str, str], hub: str = "stream", **options: Any
) -> JsConnection:
    return await connect_pair(js, base_url, pair, hub, **options)


async def js_error(awaitable: Awaitable[Any]) -> str:
    with pytest.raises(JsError) as raised:
        await awaitable
    return str(raised.value)


def unexpected(target: str, detail: str = "") -> str:
    text = f"An unexpected error occurred invoking '{target}' on the server."
    return f"{text} {detail}" if detail else text


@each_pair
async def test_the_caller_answers(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """``self.clients.caller.invoke`` (StreamHub: four invocations at a time) gets what the
    handler returned, ``null`` and ``0`` included."""
    connection = await connect(js, base_url, pair)
    for value in ["42", None, 0, False, {"a": [1, "é"]}]:
        await connection.handle("Answer", "value", value=value)
        assert await connection.invoke("AskCaller", "why?") == value, value
        assert await connection.next("Answer") == ["why?"]
    await connection.handle("Answer", "value", value="later", delayMs=200)  # an async handler
    assert await connection.invoke("AskCaller", "slowly?") == "later"


@each_pair
async def test_the_callers_errors(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    connection = await connect(js, base_url, pair)
    await connection.handle("Answer", "throw", message="from callback")
    assert await js_error(connection.invoke("AskCaller", "?")) == unexpected(
        "AskCaller", "HubException: Error: from callback"
    )
    for kind in ("none", "undefined"):
        await connection.handle("Answer", kind)
        assert await js_error(connection.invoke("AskCaller", "?")) == unexpected(
            "AskCaller", "HubException: Client didn't provide a result."
        ), kind
    await connection.handle("Answer", "value", value="back")
    assert await connection.invoke("AskCaller", "?") == "back"


@each_pair
async def test_another_connection_answers(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    asker = await connect(js, base_url, WS_JSON)
    answerer = await connect(js, base_url, pair)
    answerer_id = await answerer.connection_id()
    await answerer.handle("Answer", "value", value={"from": pair[0]})
    assert await asker.invoke("AskClient", answerer_id, "q?") == {"from": pair[0]}
    assert await answerer.next("Answer") == ["q?"]
    await answerer.handle("Answer", "throw", message="from callback")
    assert await js_error(asker.invoke("AskClient", answerer_id, "q?")) == unexpected(
        "AskClient", "HubException: Error: from callback"
    )
    # Not a HubException: no detail without ENABLE_DETAILED_ERRORS.
    assert await js_error(asker.invoke("AskClient", "nobody", "q?")) == unexpected("AskClient")


@each_pair
async def test_hub_context_outside_an_invocation(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """``AskLater`` returns at once; a task asks through ``get_hub_context(...).clients.client(id)``
    and pushes the answer, or the error, to the asker as ``Answered``."""
    asker = await connect(js, base_url, WS_JSON, listen=["Answered"])
    answerer = await connect(js, base_url, pair)
    answerer_id = await answerer.connection_id()
    await answerer.handle("Answer", "value", value=7)
    assert await asker.invoke("AskLater", answerer_id, "later?") is None
    assert await asker.next("Answered") == [7]
    assert await answerer.next("Answer") == ["later?"]
    await answerer.handle("Answer", "throw", message="from callback")
    await asker.invoke("AskLater", answerer_id, "later?")
    assert await asker.next("Answered") == ["HubException: Error: from callback"]
    await asker.invoke("AskLater", "nobody", "later?")
    assert await asker.next("Answered") == ["ConnectionNotFoundError: Connection 'nobody' does not exist."]


@each_pair
async def test_one_invocation_at_a_time(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    """Asking the caller from a hub method needs more than one invocation at a time (the
    receive loop runs the method, it could never read the answer); the hub context may ask
    another connection."""
    plain = await connect(js, base_url, pair, "one-at-a-time")
    detailed = await connect(js, base_url, pair, "one-at-a-time-detailed")
    for connection in (plain, detailed):
        await connection.handle("Answer", "value", value="never asked")
    assert await js_error(plain.invoke("AskCaller", "?")) == unexpected("AskCaller")
    assert await js_error(detailed.invoke("AskCaller", "?")) == unexpected(
        "AskCaller", f"RuntimeError: {PARALLEL_RULE}"
    )
    assert await js_error(detailed.invoke("AskClient", await plain.connection_id(), "?")) == unexpected(
        "AskClient", f"RuntimeError: {PARALLEL_RULE}"
    )
    assert await plain.drain("Answer") == []
    assert await detailed.drain("Answer") == []

    answerer = await connect(js, base_url, WS_JSON, "one-at-a-time")
    await answerer.handle("Answer", "value", value="via the context")
    assert await plain.invoke("AskViaContext", await answerer.connection_id(), "?") == "via the context"
    assert await plain.invoke("Echo", "still connected") == "still connected"


@each_pair
async def test_the_asked_connection_disconnects(js: JsDriver, base_url: str, pair: tuple[str, str]) -> None:
    asker = await connect(js, base_url, WS_JSON, "stream-detailed")
    answerer = await connect(js, base_url, pair, "stream-detailed")
    answerer_id = await answerer.connection_id()
    await answerer.handle("Answer", "hang")
    call = await asker.invoke_start("AskClient", answerer_id, "are you there?")
    assert await answerer.next("Answer") == ["are you there?"]
    started = asyncio.get_running_loop().time()
    await answerer.stop()
    assert await js_error(call.result()) == unexpected(
        "AskClient", f"ConnectionDisconnectedError: Connection '{answerer_id}' disconnected."
    )
    assert asyncio.get_running_loop().time() - started < 3  # not the 5 s timeout of AskClient


async def test_the_asking_caller_disconnects(js: JsDriver, base_url: str) -> None:
    """The caller leaves while its own answer is awaited: the method ends (no one to tell),
    and the hub keeps serving others."""
    connection = await connect(js, base_url, WS_JSON, "stream-detailed")
    await connection.handle("Answer", "hang")
    call = await connection.invoke_start("AskCaller", "?")
    assert await connection.next("Answer") == ["?"]
    await connection.stop()
    assert await js_error(call.result()) == "Invocation canceled due to the underlying connection being closed."
    other = await connect(js, base_url, WS_JSON, "stream-detailed")
    await other.handle("Answer", "value", value="fine")
    assert await other.invoke("AskCaller", "?") == "fine"


# -- across processes ----------------------------------------------------------------------------


async def test_a_new_connection_is_reachable_from_another_process_at_once(js: JsDriver, cluster: list[str]) -> None:
    """Once ``start()`` resolved, a send from another process must reach the connection: the
    server joins the connection's layer groups before it answers the handshake. (Checked on a
    process's first connection, here the uvicorn one, where joining takes longest.)"""
    sender = await js.connect(unique("far-sender"), cluster[0])
    name = unique("far-receiver")
    js.names.add(name)
    receiver_id = (await js.command("connect", name=name, url=cluster[2]))["connectionId"]
    sends = [("SendToClient", [receiver_id, str(number)]) for number in range(10)]
    outcomes = await sender.invoke_many(sends)
    assert all(outcome["ok"] for outcome in outcomes)
    await asyncio.sleep(0.5)
    received = [arguments[0] for arguments in await JsConnection(js, name).drain()]
    assert received == [str(number) for number in range(10)], "sends right after start() were lost"


async def test_client_result_from_another_process(js: JsDriver, cluster: list[str]) -> None:
    """A client on process 0 asks a connection on process 1 (``ScaleHub.AskClient``, through
    the hub context and the Redis layer); the value, the error text and a disconnect cross."""
    asker = await js.connect(unique("far-asker"), cluster[0])
    answerer = await js.connect(unique("far-answerer"), cluster[1], protocol="messagepack")
    answerer_id = await answerer.connection_id()
    await answerer.handle("Answer", "value", value={"n": 1, "s": "é", "l": [None, 0]})
    assert await asker.invoke("AskClient", answerer_id, "far?") == {"n": 1, "s": "é", "l": [None, 0]}
    assert await answerer.next("Answer") == ["far?"]

    await answerer.handle("Answer", "throw", message="from callback")
    assert await js_error(asker.invoke("AskClient", answerer_id, "far?")) == unexpected(
        "AskClient", "HubException: Error: from callback"
    )
    assert await js_error(asker.invoke("AskClient", "nobody", "far?")) == unexpected("AskClient")

    await answerer.handle("Answer", "hang")
    call = await asker.invoke_start("AskClient", answerer_id, "still there?")
    while (await answerer.next("Answer")) != ["still there?"]:
        pass
    started = asyncio.get_running_loop().time()
    await answerer.stop()
    assert await js_error(call.result()) == unexpected("AskClient")  # ConnectionDisconnectedError
    assert asyncio.get_running_loop().time() - started < 3  # not the 5 s timeout
    assert await asker.invoke("Echo", "after") == "after"

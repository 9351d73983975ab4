"""Connection lifetime: handshake, keep-alive, timeouts, closes, and the lifetime hooks."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from django_signalr import Hub
from django_signalr.exceptions import HubException
from django_signalr.outbox import Outbox
from django_signalr.protocol import PING, CloseMessage, InvocationMessage
from django_signalr.testing import HubCommunicator


class LifecycleHub(Hub):
    events: ClassVar[list[tuple[str, Any]]] = []
    keep_alive_interval = 0.1
    client_timeout_interval = 0.3
    handshake_timeout = 0.3
    maximum_receive_message_size = 256

    async def on_connected(self) -> None:
        self.events.append(("connected", self.context.connection_id))

    async def on_disconnected(self, exception: Exception | None) -> None:
        self.events.append(("disconnected", exception))

    async def abort(self) -> None:
        self.context.abort()

    async def echo(self, value: object) -> object:
        return value


class DetailedLifecycleHub(LifecycleHub):
    enable_detailed_errors = True


class FailingConnectHub(LifecycleHub):
    async def on_connected(self) -> None:
        raise RuntimeError("no entry")


@pytest.fixture(autouse=True)
def clear_events() -> None:
    LifecycleHub.events.clear()


async def wait_for_event(kind: str, timeout: float = 2) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            for event, value in LifecycleHub.events:
                if event == kind:
                    return value
            await asyncio.sleep(0.01)


async def test_hooks_run_once_each_and_a_clean_close_has_no_exception() -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.connect()
    await communicator.disconnect()
    assert await wait_for_event("disconnected") is None
    assert [event for event, _ in LifecycleHub.events] == ["connected", "disconnected"]


async def test_server_pings_an_idle_connection() -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.connect()
    assert await communicator.receive(1, pings=True) == PING
    await communicator.disconnect()


async def test_client_timeout_starts_with_the_first_ping() -> None:
    communicator = HubCommunicator(DetailedLifecycleHub)
    await communicator.connect()
    await asyncio.sleep(0.5)  # silent but never pinged: no timeout yet
    assert await communicator.invoke("Echo", 1) == 1
    await communicator.send_message(PING)
    close = await communicator.receive(2, match=lambda m: isinstance(m, CloseMessage))
    assert close == CloseMessage(
        "Connection closed with an error. OperationCanceledException: "
        "Client hasn't sent a message/ping within the configured ClientTimeoutInterval.",
        allow_reconnect=True,
    )
    assert await communicator.receive_close() == 1000
    exception = await wait_for_event("disconnected")
    assert type(exception).__name__ == "OperationCanceledException"


async def test_handshake_timeout() -> None:
    communicator = HubCommunicator(LifecycleHub)
    connected, _ = await communicator.websocket.connect()
    assert connected
    frame = await communicator.websocket.receive_from(2)
    assert frame == '{"error":"Handshake was canceled."}\x1e'
    assert await communicator.receive_close() == 1000
    assert LifecycleHub.events == []


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        ('{"protocol":"xml","version":1}\x1e', "The protocol 'xml' is not supported."),
        (
            '{"protocol":"json","version":9}\x1e',
            "The server does not support version 9 of the 'json' protocol.",
        ),
        ('{"protocol":"json"}\x1e', "An unexpected error occurred during connection handshake."),
    ],
)
async def test_handshake_errors_close_the_socket(request_text: str, error: str) -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.websocket.connect()
    await communicator.websocket.send_to(text_data=request_text)
    assert await communicator.websocket.receive_from(2) == f'{{"error":"{error}"}}\x1e'
    assert await communicator.receive_close() == 1000
    assert LifecycleHub.events == []


@pytest.mark.parametrize(
    ("hub", "error"),
    [
        (LifecycleHub, "Connection closed with an error."),
        (
            DetailedLifecycleHub,
            "Connection closed with an error. InvalidDataException: The maximum message size of 256B "
            "was exceeded. The message size can be configured in AddHubOptions.",
        ),
    ],
)
async def test_size_limit_closes_with_an_error(hub: type[Hub], error: str) -> None:
    communicator = HubCommunicator(hub)
    await communicator.connect()
    await communicator.send_message(InvocationMessage("Echo", ["x" * 300], "1"))
    assert await communicator.receive() == CloseMessage(error, allow_reconnect=True)
    assert await communicator.receive_close() == 1000
    assert type(await wait_for_event("disconnected")).__name__ == "InvalidDataException"


async def test_client_close_message() -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.connect()
    await communicator.send_message(CloseMessage())
    assert await communicator.receive() == CloseMessage()
    assert await communicator.receive_close() == 1000
    assert await wait_for_event("disconnected") is None


async def test_client_close_with_an_error_reaches_on_disconnected() -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.connect()
    await communicator.send_message(CloseMessage("client went away"))
    assert await communicator.receive_close() == 1000
    exception = await wait_for_event("disconnected")
    assert isinstance(exception, HubException)
    assert str(exception) == "client went away"


async def test_abort_sends_close_without_reconnect() -> None:
    communicator = HubCommunicator(LifecycleHub)
    await communicator.connect()
    await communicator.send("Abort")
    assert await communicator.receive() == CloseMessage()
    assert await communicator.receive_close() == 1000
    assert await wait_for_event("disconnected") is None


async def test_failing_on_connected_closes_without_reconnect_and_skips_on_disconnected() -> None:
    communicator = HubCommunicator(FailingConnectHub)
    await communicator.connect()
    assert await communicator.receive() == CloseMessage("Connection closed with an error.", allow_reconnect=False)
    assert await communicator.receive_close() == 1000
    await asyncio.sleep(0.05)
    assert LifecycleHub.events == []


async def test_outbox_overflow_reports_once_and_drops_the_backlog() -> None:
    overflows: list[int] = []
    outbox = Outbox(limit=10, on_overflow=lambda: overflows.append(1))
    outbox.write(b"x" * 25)  # one big message into an empty outbox is accepted
    outbox.write(b"y")
    assert overflows == [1]
    assert not outbox.pending
    outbox.write(b"close")
    assert outbox.take() == b"close"


async def test_outbox_wakes_the_newest_waiter_after_an_older_one_is_cancelled() -> None:
    outbox = Outbox(limit=100, on_overflow=lambda: None)
    older = asyncio.ensure_future(outbox.wait())
    await asyncio.sleep(0)
    newer = asyncio.ensure_future(outbox.wait())
    await asyncio.sleep(0)
    older.cancel()
    await asyncio.sleep(0)
    outbox.write(b"x")
    await asyncio.wait_for(newer, 1)

"""The Python SignalR clients pysignalr 1.3.3 and signalrcore 1.0.2 against the live server:
pysignalr over WebSockets with JSON and with MessagePack, signalrcore over WebSockets,
Server-Sent Events and Long Polling (JSON). Both negotiate version 0 (no ``negotiateVersion``),
so the connection id is the ``id=`` of every transport request; signalrcore is threaded and
answers through callbacks, so each client is wrapped in one small async interface whose every
wait is bounded.

The hubs ping every 0.5 s: signalrcore's ``stop()`` closes its socket (WebSockets, SSE) from
another thread while its receive thread sits in ``recv()``, which only returns when the server
sends something (with the default 15 s keep-alive, every stop would take up to 15 s, against
ASP.NET Core too). pysignalr 1.3.3 adds its ``access_token_factory`` token only after
negotiate, so the token goes in ``headers`` as its users do.

signalrcore's transport is chosen with ``with_url(url, options={"transport":
HttpTransportType.x})`` (``HubConnectionBuilder.with_url``; ``TransportFactory.create`` takes
the preferred transport when negotiate lists it). Its Long Polling client has bugs of its own,
which show against any server, ASP.NET Core included (signalrcore/transport/long_polling/
long_polling_client.py):

- ``_append`` hands on only the bytes up to the FIRST record separator of what it has, and
  keeps the rest until the next poll returns something. A poll answer carries every pending
  record (ASP.NET Core's too), so of a push and a completion that come in one poll, the second
  waits for unrelated traffic (or the 90 s empty poll): ``SendToCaller`` never completes.
- ``_recv_frame`` polls with only ``{"Accept": "Text"}``: no ``Authorization`` header, although
  negotiate and the sends carry it. On a hub that requires a login every poll is a 401
  (ASP.NET Core authorizes every request of an ``[Authorize]`` hub endpoint), which the client
  swallows, polling again at once, forever.
- (``LongPollingBinaryClient.__init__`` calls ``super(LongPollingTextClient, self)``, a
  TypeError: Long Polling with MessagePack cannot even be built. Not tested.)

Its LP client also sends the handshake POST before its first poll (``run()`` calls ``on_open``
first). ASP.NET Core accepts a send to a negotiated connection that has no transport yet (its
``ProcessSend`` writes into the connection's pipe; the hub reads it once the first poll starts
it), and so does this server: see ``test_a_send_before_the_first_poll_is_accepted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import msgpack
import pytest
from pysignalr.client import SignalRClient
from pysignalr.messages import CompletionMessage as PysignalrCompletion
from pysignalr.protocol.abstract import Protocol
from pysignalr.protocol.messagepack import MessagepackProtocol
from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.transport.base_transport import TransportState
from signalrcore.types import HttpTransportType

from .server import Users

TIMEOUT = 10.0


class ServerError(Exception):
    """The server answered an invocation with this error text."""


class Client:
    """What the tests need of a client: pushes arrive in ``received``, answers as completions."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # every wait's bound
        self.opened = asyncio.Event()
        self.received: asyncio.Queue[list[Any]] = asyncio.Queue()

    async def start(self) -> None:
        raise NotImplementedError

    async def invoke(self, target: str, *args: Any) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def next_receive(self) -> list[Any]:
        return await asyncio.wait_for(self.received.get(), self.timeout)

    async def result(self, answer: asyncio.Future[Any]) -> Any:
        """The result of a completion, or ``ServerError`` with its error text."""
        message = await asyncio.wait_for(answer, self.timeout)
        if message.error:
            raise ServerError(message.error)
        return message.result


class PysignalrClient(Client):
    def __init__(self, url: str, token: str | None, timeout: float = TIMEOUT, protocol: Protocol | None = None) -> None:
        super().__init__(timeout)
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.client = SignalRClient(url, protocol, headers=headers, retry_count=1, connection_timeout=5)
        self.task: asyncio.Task[None] | None = None
        self.client.on_open(self._on_open)
        self.client.on_error(self._ignore)  # errors also reach the invocation's callback
        self.client.on("Receive", self._on_receive)

    async def _on_open(self) -> None:
        self.opened.set()

    async def _on_receive(self, arguments: list[Any]) -> None:
        self.received.put_nowait(arguments)

    async def _ignore(self, message: PysignalrCompletion) -> None:
        pass

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.client.run())
        opened = asyncio.ensure_future(self.opened.wait())
        done, _ = await asyncio.wait({self.task, opened}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED)
        if opened not in done:
            opened.cancel()
            if self.task in done:
                raise RuntimeError(f"pysignalr stopped: {self.task.exception()!r}")
            raise TimeoutError("pysignalr did not connect")

    async def invoke(self, target: str, *args: Any) -> Any:
        answer: asyncio.Future[PysignalrCompletion] = asyncio.get_running_loop().create_future()

        async def on_completion(message: Any) -> None:
            if not answer.done():
                answer.set_result(message)

        await self.client.send(target, list(args), on_invocation=on_completion)
        return await self.result(answer)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, self.timeout)


class SignalrcoreClient(Client):
    """Callbacks come on signalrcore's threads; they hand results to the loop thread-safely."""

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float = TIMEOUT,
        transport: HttpTransportType | None = None,
    ) -> None:
        super().__init__(timeout)
        options: dict[str, Any] = {}
        if token:
            options["access_token_factory"] = lambda: token
        if transport is not None:
            options["transport"] = transport
        self.connection = (
            HubConnectionBuilder().with_url(url, options=options or None).configure_logging(logging.WARNING).build()
        )
        self.loop = asyncio.get_running_loop()
        self.answers: dict[str, asyncio.Future[Any]] = {}
        self.closed = asyncio.Event()
        self.connection.on_open(self._threadsafe(self.opened.set))
        self.connection.on_close(self._threadsafe(self.closed.set))
        self.connection.on("Receive", self._threadsafe(self.received.put_nowait))
        self.connection.on_error(self._threadsafe(self._on_completion))

    def _threadsafe(self, function: Callable[..., Any]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            self.loop.call_soon_threadsafe(function, *args)

        return call

    def _on_completion(self, message: Any) -> None:
        answer = self.answers.pop(message.invocation_id, None)
        if answer is not None and not answer.done():
            answer.set_result(message)

    async def start(self) -> None:
        await asyncio.wait_for(asyncio.to_thread(self.connection.start), self.timeout)
        # A transport that fails before the handshake goes back to "disconnected" without any
        # callback: stop waiting then rather than at the timeout.
        async with asyncio.timeout(self.timeout):
            while not self.opened.is_set():
                if self.connection.transport.state == TransportState.disconnected:
                    raise RuntimeError("signalrcore's transport gave up before the handshake")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.opened.wait(), 0.05)

    async def invoke(self, target: str, *args: Any) -> Any:
        invocation_id = str(uuid.uuid4())
        answer = self.answers[invocation_id] = self.loop.create_future()
        self.connection.invoke(target, list(args), self._threadsafe(self._on_completion), invocation_id)
        return await self.result(answer)

    async def close(self) -> None:
        # Not self.timeout: stopping is bounded by what the transport needs, even after a failure.
        await asyncio.wait_for(asyncio.to_thread(self.connection.stop), TIMEOUT)


def pysignalr_messagepack(url: str, token: str | None, timeout: float = TIMEOUT) -> Client:
    return PysignalrClient(url, token, timeout, MessagepackProtocol())


CLIENTS: dict[str, Callable[..., Client]] = {  # (url, token, timeout=TIMEOUT)
    "pysignalr": PysignalrClient,
    "pysignalr-msgpack": pysignalr_messagepack,
    "signalrcore": SignalrcoreClient,
    "signalrcore-sse": functools.partial(SignalrcoreClient, transport=HttpTransportType.server_sent_events),
    "signalrcore-lp": functools.partial(SignalrcoreClient, transport=HttpTransportType.long_polling),
}
# What the hub's ``self.context`` says of each client's connection: (transport, protocol).
CONNECTED_WITH = {
    "pysignalr": ("WebSockets", "json"),
    "pysignalr-msgpack": ("WebSockets", "messagepack"),
    "signalrcore": ("WebSockets", "json"),
    "signalrcore-sse": ("ServerSentEvents", "json"),
    "signalrcore-lp": ("LongPolling", "json"),
}
LP_ONE_RECORD_PER_POLL = (
    "signalrcore's long-polling client hands on one record per poll answer (_append), so the "
    "completion that comes in one poll with the push is held back"
)
LP_POLLS_WITHOUT_TOKEN = (
    "signalrcore's long-polling client polls without the Authorization header (_recv_frame), "
    "so every poll on a hub that requires a login is a 401"
)


KNOWN_BUG_TIMEOUT = 2.0  # how long a client with a known bug gets to show it


def client_bug(request: pytest.FixtureRequest, kind: str, bugs: dict[str, str]) -> float:
    """Expect this test to time out for ``kind`` because of ``bugs[kind]``, a bug of the
    client; the bound of the client's waits (shorter when the test is expected to fail)."""
    if kind not in bugs:
        return TIMEOUT
    request.applymarker(pytest.mark.xfail(reason=bugs[kind], raises=TimeoutError, strict=True))
    return KNOWN_BUG_TIMEOUT


@contextlib.asynccontextmanager
async def connected(kind: str, url: str, token: str | None = None, timeout: float = TIMEOUT) -> AsyncIterator[Client]:
    client = CLIENTS[kind](url, token, timeout)
    try:
        await client.start()
        yield client
    finally:
        await client.close()


async def send_status(hub_url: str, token: str, body: bytes = b"") -> int:
    """The status of a send (``POST {hub}?id=``): 404 once the server has forgotten ``token``."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session,
        session.post(hub_url, params={"id": token}, data=body) as response,
    ):
        return response.status


pytestmark = pytest.mark.asyncio(loop_scope="module")
each_client = pytest.mark.parametrize("kind", list(CLIENTS))


@each_client
@pytest.mark.parametrize(
    ("target", "args", "expected"), [("Echo", ["hi"], "hi"), ("add", [2, 3], 5), ("Nothing", [], None)]
)
async def test_invoke(base_url: str, kind: str, target: str, args: list[Any], expected: Any) -> None:
    async with connected(kind, f"{base_url}/hubs/keepalive") as client:
        assert await client.invoke(target, *args) == expected


@each_client
async def test_connected_with_the_chosen_transport_and_protocol(base_url: str, kind: str) -> None:
    async with connected(kind, f"{base_url}/hubs/keepalive") as client:
        info = await client.invoke("ContextInfo")
        assert (info["transport"], info["protocol"]) == CONNECTED_WITH[kind]


@each_client
async def test_server_push(base_url: str, kind: str, request: pytest.FixtureRequest) -> None:
    timeout = client_bug(request, kind, {"signalrcore-lp": LP_ONE_RECORD_PER_POLL})
    async with connected(kind, f"{base_url}/hubs/keepalive", timeout=timeout) as client:
        assert await client.invoke("SendToCaller", kind) is None
        assert await client.next_receive() == [kind]


@each_client
async def test_server_push_from_another_connection(base_url: str, kind: str) -> None:
    """A push on its own (from another client's invocation), on each transport."""
    hub_url = f"{base_url}/hubs/keepalive"
    async with connected(kind, hub_url) as client, connected("pysignalr", hub_url) as sender:
        connection_id = await client.invoke("ConnectionId")
        assert await sender.invoke("SendToClient", connection_id, kind) is None
        assert await client.next_receive() == [kind]
        assert await client.invoke("Echo", "after") == "after"


@each_client
@pytest.mark.parametrize(
    ("target", "args", "error"),
    [
        ("Fail", ["nope"], "An unexpected error occurred invoking 'Fail' on the server. HubException: nope"),
        (
            "Nope",
            [],
            "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
        ),
    ],
)
async def test_error_completion(base_url: str, kind: str, target: str, args: list[Any], error: str) -> None:
    async with connected(kind, f"{base_url}/hubs/keepalive") as client:
        with pytest.raises(ServerError) as raised:
            await client.invoke(target, *args)
        assert str(raised.value) == error
        assert await client.invoke("Echo", "after") == "after"


@each_client
async def test_values_on_the_wire(base_url: str, kind: str) -> None:
    """bytes, datetime, UUID and a dataclass: base64 and ISO strings in JSON; bin and the
    timestamp extension in MessagePack (pysignalr unpacks with msgpack's defaults)."""
    async with connected(kind, f"{base_url}/hubs/keepalive") as client:
        values = await client.invoke("Values")
    common = {"id": "00010203-0405-0607-0706-050403020100", "point": {"x": 1, "y": 2, "label": "p"}}
    if CONNECTED_WITH[kind][1] == "messagepack":
        when = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
        assert values == {**common, "bytes": b"\x01\x02\x03", "when": msgpack.Timestamp.from_datetime(when)}
    else:
        assert values == {**common, "bytes": "AQID", "when": "2000-01-01T00:00:00Z"}


@each_client
async def test_bearer_token_on_a_login_required_hub(
    base_url: str, users: Users, kind: str, request: pytest.FixtureRequest
) -> None:
    timeout = client_bug(request, kind, {"signalrcore-lp": LP_POLLS_WITHOUT_TOKEN})
    async with connected(kind, f"{base_url}/hubs/secret-keepalive", users["bob"].token, timeout) as client:
        assert await client.invoke("Secret") == "42"


@each_client
async def test_stop(base_url: str, kind: str) -> None:
    """The client stops within the bound, and the server disposes its connection (its id,
    which is also the token of version 0, then gets 404 on a send)."""
    hub_url = f"{base_url}/hubs/keepalive"
    client = CLIENTS[kind](hub_url, None)
    await client.start()
    try:
        connection_id = await client.invoke("ConnectionId")
        # 405 for a WebSocket connection, 200 (an empty send) for SSE and long polling.
        assert await send_status(hub_url, connection_id) in (200, 405)
    finally:
        await client.close()
    if isinstance(client, SignalrcoreClient):
        await asyncio.wait_for(client.closed.wait(), TIMEOUT)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (status := await send_status(hub_url, connection_id)) != 404:
        assert loop.time() < deadline, f"the server still has the connection: a send gets {status}"
        await asyncio.sleep(0.05)


# -- signalrcore's long polling as shipped ---------------------------------------------------


async def test_a_send_before_the_first_poll_is_accepted(base_url: str) -> None:
    """signalrcore's order of requests on Long Polling: negotiate, the handshake POST, then
    the polls. ASP.NET Core answers that POST 200 and the second poll carries ``{}``."""
    hub_url = f"{base_url}/hubs/keepalive"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
        async with session.post(f"{hub_url}/negotiate", headers={"Content-Type": "application/json"}) as answer:
            token = (await answer.json())["connectionId"]
        handshake = b'{"protocol": "json", "version": 0}\x1e'
        async with session.post(
            hub_url,
            params={"id": token},
            data=handshake,
            headers={"Content-Type": "application/octet-stream"},
        ) as sent:
            assert sent.status == 200, await sent.text()
        for expected in (b"", b"{}\x1e"):
            async with session.get(hub_url, params={"id": token}, headers={"Accept": "Text"}) as poll:
                assert (poll.status, await poll.read()) == (200, expected)
        async with session.delete(hub_url, params={"id": token}) as deleted:
            assert deleted.status == 202


async def test_shipped_signalrcore_long_polling_connects(base_url: str) -> None:
    client = SignalrcoreClient(f"{base_url}/hubs/keepalive", None, transport=HttpTransportType.long_polling)
    try:
        await client.start()
        assert await client.invoke("Echo", "hi") == "hi"
    finally:
        await client.close()

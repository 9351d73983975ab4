"""``HubCommunicator``: test a hub in-process, like Channels' ``WebsocketCommunicator``.

It speaks the hub protocol over django_signalr's real WebSocket transport (no server, no
network), so tests exercise the same code as production::

    communicator = HubCommunicator(ChatHub, user=alice)
    await communicator.connect()
    assert await communicator.invoke("Whoami") == "alice"
    message = await communicator.receive_invocation("ReceiveMessage")
    await communicator.disconnect()

Every receive has a timeout (``TimeoutError`` when nothing comes), so a broken test fails
instead of hanging.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
from channels.testing import WebsocketCommunicator

from .exceptions import HubException
from .hub import Hub
from .protocol import (
    PROTOCOLS,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    MessageType,
    StreamInvocationMessage,
)
from .protocol.framing import RECORD_SEPARATOR
from .routing import HubRouter

__all__ = ["HubCommunicator"]


class HubCommunicator:
    """A SignalR client for tests, connected to ``hub`` (a routed path, or a Hub class)."""

    def __init__(
        self,
        hub: type[Hub] | str,
        *,
        protocol: str = "json",
        user: Any = None,
        headers: list[tuple[bytes, bytes]] | None = None,
        query_string: str = "",
    ) -> None:
        self.protocol = PROTOCOLS[protocol]
        self._ids = itertools.count()
        self._buffer = b""
        self._pending: list[HubMessage] = []
        if isinstance(hub, str):
            application: Any = HubRouter()
            path = hub
        else:
            application = _SingleHub(hub)
            path = "/"
        if user is not None:
            application = _WithUser(application, user)
        if query_string:
            path = f"{path}?{query_string}"
        self.websocket = WebsocketCommunicator(application, path, headers=headers)

    async def connect(self, timeout: float = 2, *, version: int = 1) -> None:
        """Open the socket and do the handshake; ``HubException`` if the server refuses it."""
        connected, code = await self.websocket.connect(timeout)
        if not connected:
            raise HubException(f"The WebSocket was refused (close code {code})")
        handshake = orjson.dumps({"protocol": self.protocol.name, "version": version})
        await self.send_raw(handshake + RECORD_SEPARATOR)
        while RECORD_SEPARATOR not in self._buffer:
            self._buffer += await self._receive_frame(timeout)
        end = self._buffer.index(RECORD_SEPARATOR)
        response, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        if response != b"{}":
            raise HubException(f"Handshake failed: {response.decode()}")

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as one frame (text for JSON, binary for MessagePack)."""
        if self.protocol.name == "json":
            await self.websocket.send_to(text_data=data.decode())
        else:
            await self.websocket.send_to(bytes_data=data)

    async def send_message(self, message: HubMessage) -> None:
        await self.send_raw(self.protocol.write_message(message))

    async def send(self, target: str, *args: Any) -> None:
        """A non-blocking invocation (no reply)."""
        await self.send_message(InvocationMessage(target, list(args)))

    async def invoke(self, target: str, *args: Any, timeout: float = 2) -> Any:
        """Invoke and return the result; ``HubException(error)`` if the server answers an error."""
        invocation_id = str(next(self._ids))
        await self.send_message(InvocationMessage(target, list(args), invocation_id))
        completion = await self.receive(
            timeout,
            match=lambda m: isinstance(m, CompletionMessage) and m.invocation_id == invocation_id,
        )
        assert isinstance(completion, CompletionMessage)
        if completion.error is not None:
            raise HubException(completion.error)
        return completion.result

    async def stream(self, target: str, *args: Any) -> str:
        """Start a server-to-client stream; returns its invocation id."""
        invocation_id = str(next(self._ids))
        await self.send_message(StreamInvocationMessage(invocation_id, target, list(args)))
        return invocation_id

    async def receive(self, timeout: float = 2, *, match: Any = None, pings: bool = False) -> HubMessage:
        """The next message (Pings skipped unless ``pings``), or the next one ``match`` accepts;
        messages skipped by ``match`` stay queued for later receives."""
        while True:
            for index, message in enumerate(self._pending):
                if (pings or message.type is not MessageType.PING) and (match is None or match(message)):
                    del self._pending[index]
                    return message
            self._buffer += await self._receive_frame(timeout)
            messages, used = self.protocol.parse_messages(self._buffer, None)
            self._buffer = self._buffer[used:]
            self._pending.extend(messages)

    async def receive_invocation(self, target: str | None = None, timeout: float = 2) -> InvocationMessage:
        """The next server-to-client invocation (of ``target``, case-insensitively)."""
        message = await self.receive(
            timeout,
            match=lambda m: isinstance(m, InvocationMessage) and (target is None or m.target.lower() == target.lower()),
        )
        assert isinstance(message, InvocationMessage)
        return message

    async def receive_nothing(self, timeout: float = 0.1) -> bool:
        """Whether nothing but Pings arrives within ``timeout``."""
        try:
            await self.receive(timeout)
        except TimeoutError:
            return True
        return False

    async def receive_close(self, timeout: float = 2) -> int | None:
        """Wait for the server to close the socket; returns the close code."""
        while True:
            output = await self._next_output(timeout)
            if output["type"] == "websocket.close":
                code: int | None = output.get("code")
                return code

    async def _next_output(self, timeout: float) -> dict[str, Any]:
        """The application's next ASGI message. Unlike ``receive_output``, a timeout leaves the
        application running, so tests can check that nothing arrives and go on."""
        application = self.websocket.future
        if application.done():
            application.result()  # raises what the application raised
        get = asyncio.ensure_future(self.websocket.output_queue.get())
        done, _ = await asyncio.wait({get, application}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if get in done:
            output: dict[str, Any] = get.result()
            return output
        get.cancel()
        if application in done:
            application.result()
            raise ConnectionError("The application finished")
        raise TimeoutError(f"Nothing arrived within {timeout} s")

    async def _receive_frame(self, timeout: float) -> bytes:
        output = await self._next_output(timeout)
        if output["type"] == "websocket.close":
            raise ConnectionError(f"The server closed the WebSocket (code {output.get('code')})")
        text = output.get("text")
        return text.encode() if text is not None else output.get("bytes") or b""

    async def disconnect(self, code: int = 1000, timeout: float = 2) -> None:
        await self.websocket.disconnect(code, timeout)


class _SingleHub:
    """An ASGI app serving one hub class at any path (no URLconf needed)."""

    def __init__(self, hub_class: type[Hub]) -> None:
        from .endpoint import HubEndpoint

        self.endpoint = HubEndpoint(hub_class)
        self.router = HubRouter()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.router.hub_app({**scope, "signalr_route": (self.endpoint, False)}, receive, send)


class _WithUser:
    """Authenticates every request as ``user``, skipping sessions and tokens."""

    def __init__(self, inner: Any, user: Any) -> None:
        self.inner = inner
        self.user = user

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.inner({**scope, "user": self.user}, receive, send)

"""SignalR's HTTP transports for the load client: Server-Sent Events and Long Polling (PROTOCOL.md §2).

Both receive on one request at a time and send with ``POST {hub}?id=<token>``
(body = raw protocol bytes, answer ``200`` with an empty body). Everything runs
on one shared :class:`aiohttp.ClientSession` whose pool has room for every
connection's stream/poll plus its POST (see ``bench.clients.base.new_session``).

Receiving:

- **SSE**: one streaming ``GET`` with ``Accept: text/event-stream`` per
  connection. A single task per connection reads whatever arrives
  (``iter_any``), splits it into lines and hands each event's ``data:``
  payload (the lines joined with ``\\n``) to the message callback.
- **Long Polling**: one task per connection loops on ``GET``. The first poll
  must come back at once, empty; the client then sends the handshake, and
  each later poll returns every record pending (many at a time), ``200`` with
  an empty body on the server's poll timeout, or ``204`` once the server
  closed the connection.

Sending: :meth:`HttpConnection.send` never blocks; it queues the bytes and,
if no POST is in flight, starts one task that POSTs until the queue is
empty. Messages queued while a POST is in flight go out together in the next
POST, like the JS client's ``TransportSendQueue``, so POSTs on one connection
never overlap.

The echo loop's callbacks run on the reading task, so a round trip costs two
task wake-ups (the read and the POST) plus aiohttp's per-request work; that
is the price of these transports and what their columns measure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

import aiohttp
from yarl import URL

from bench.clients.base import ProtocolError

#: SSE streams and polls live as long as the run; the worker's own deadline bounds them.
_STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10)
#: Long polls: the server holds a poll up to 90 s (ASP.NET ``PollTimeout``) before an empty ``200``.
_POLL_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)


class HttpConnection:
    """Shared part of the SSE and Long Polling connections: delivery, POST queue, close."""

    transport_name = "HTTP"

    def __init__(self, session: aiohttp.ClientSession, url: str, binary: bool) -> None:
        """``url`` is ``http://host:port/hub?id=<token>``; ``binary`` picks the POST content type."""
        self._session = session
        self.url = URL(url, encoded=True)  # parsed once, not on every request
        self._post_headers = {"Content-Type": "application/octet-stream" if binary else "text/plain;charset=UTF-8"}
        self.closed_reason: str | None = None
        self.on_message: Callable[[bytes], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self._pending: deque[bytes] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._outbox: list[bytes] = []
        self._poster: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    # -- receiving -------------------------------------------------------------------------
    def _deliver(self, data: bytes) -> None:
        """Hand one unit (an event's data or a poll body) to the callback, or keep it for :meth:`recv`."""
        handler = self.on_message
        if handler is not None:
            handler(data)
        else:
            self._pending.append(data)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    async def recv(self, timeout: float) -> bytes:
        """Next unit when no callback is set (handshakes only)."""
        if not self._pending:
            if self.closed_reason is not None:
                raise ProtocolError(self.closed_reason)
            self._waiter = self._loop.create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            finally:
                self._waiter = None
            if not self._pending:
                raise ProtocolError(self.closed_reason or "no message")
        return self._pending.popleft()

    def set_handler(self, on_message: Callable[[bytes], None], on_close: Callable[[str], None] | None = None) -> None:
        """Switch to callback delivery, flushing anything received before."""
        self.on_message = on_message
        self.on_close = on_close
        while self._pending:
            on_message(self._pending.popleft())
        if self.closed_reason is not None and on_close is not None:
            on_close(self.closed_reason)

    # -- sending ---------------------------------------------------------------------------
    def send(self, message: bytes) -> None:
        """Queue ``message``; start a POST unless one is in flight (it will take this one too)."""
        if self.closed_reason is not None:
            return
        self._outbox.append(message)
        if self._poster is None:
            self._poster = self._loop.create_task(self._post_all())

    async def _post_all(self) -> None:
        """POST the queue until it is empty, one request at a time."""
        outbox = self._outbox
        try:
            while outbox and self.closed_reason is None:
                body = outbox[0] if len(outbox) == 1 else b"".join(outbox)
                outbox.clear()
                async with self._session.post(self.url, data=body, headers=self._post_headers) as response:
                    answer = await response.read()
                    if response.status != 200:
                        self._closed(f"POST returned HTTP {response.status}: {answer[:200]!r}")
                        return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._closed(f"POST failed: {type(exc).__name__}: {exc}")
        finally:
            self._poster = None

    async def post_now(self, body: bytes, timeout: float) -> None:
        """One POST outside the queue (the handshake), checked for ``200``."""
        async with asyncio.timeout(timeout):
            async with self._session.post(self.url, data=body, headers=self._post_headers) as response:
                answer = await response.read()
        if response.status != 200:
            raise ProtocolError(f"POST returned HTTP {response.status}: {answer[:200]!r}")

    # -- closing ---------------------------------------------------------------------------
    def _closed(self, reason: str) -> None:
        """Mark closed once; wake a handshake reader and tell the close callback."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self.on_close is not None:
            self.on_close(reason)

    def close(self) -> None:
        """Stop reading and sending (no DELETE: the server is torn down right after a run)."""
        self._closed("closed by client")
        for task in (self._reader, self._poster):
            if task is not None and not task.done():
                task.cancel()


class SseConnection(HttpConnection):
    """Server-Sent Events down, POSTs up. JSON only: SSE has no Binary transfer format."""

    transport_name = "ServerSentEvents"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        """Prepare the event parser; :meth:`start` opens the stream."""
        super().__init__(session, url, binary=False)
        self._partial = b""
        self._data: list[bytes] = []

    async def start(self, timeout: float) -> None:
        """Open the event stream (``200 text/event-stream``) and start reading it."""
        async with asyncio.timeout(timeout):
            response = await self._session.get(
                self.url, headers={"Accept": "text/event-stream"}, timeout=_STREAM_TIMEOUT
            )
        if response.status != 200 or not response.content_type.startswith("text/event-stream"):
            body = await asyncio.wait_for(response.read(), timeout)
            response.release()
            raise ProtocolError(f"SSE GET returned HTTP {response.status} {response.content_type}: {body[:200]!r}")
        self._reader = self._loop.create_task(self._read(response))

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        """Feed every chunk of the stream to the event parser until it ends."""
        try:
            async for chunk in response.content.iter_any():
                self._feed(chunk)
            self._closed("SSE stream ended by the server")
        except (aiohttp.ClientError, OSError) as exc:
            self._closed(f"SSE stream failed: {type(exc).__name__}: {exc}")
        finally:
            response.close()  # an unfinished stream's socket cannot go back to the pool

    def _feed(self, chunk: bytes) -> None:
        """Split into lines (``\\r\\n`` or ``\\n``); a blank line ends an event; keep ``data:`` values."""
        buffer = self._partial + chunk if self._partial else chunk
        lines = buffer.split(b"\n")
        self._partial = lines.pop()
        data = self._data
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    event = data[0] if len(data) == 1 else b"\n".join(data)
                    data.clear()
                    self._deliver(event)
            elif line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            # comments (":" lines, e.g. the opening ":\r\n") and other fields: ignored


class LongPollingConnection(HttpConnection):
    """Long polls down, POSTs up."""

    transport_name = "LongPolling"

    def __init__(self, session: aiohttp.ClientSession, url: str, binary: bool) -> None:
        """Prepare; :meth:`start` sends the first poll."""
        super().__init__(session, url, binary)
        self.first_poll_returned: asyncio.Future[None] = self._loop.create_future()

    def start(self) -> None:
        """Start the poll loop; :attr:`first_poll_returned` resolves when the first poll comes back."""
        self._reader = self._loop.create_task(self._poll())

    async def _poll(self) -> None:
        """Poll until closed: deliver each non-empty body; ``204`` means the server closed."""
        session, url, first = self._session, self.url, True
        try:
            while self.closed_reason is None:
                async with session.get(url, timeout=_POLL_TIMEOUT) as response:
                    body = await response.read()
                    status = response.status
                if status == 204:
                    self._closed("poll returned 204: connection closed by the server")
                    return
                if status != 200:
                    self._closed(f"poll returned HTTP {status}: {body[:200]!r}")
                    return
                if first:
                    first = False
                    if not self.first_poll_returned.done():
                        self.first_poll_returned.set_result(None)
                if body:
                    self._deliver(body)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._closed(f"poll failed: {type(exc).__name__}: {exc}")
        finally:
            if not self.first_poll_returned.done():
                self.first_poll_returned.set_exception(ProtocolError(self.closed_reason or "poll ended"))
                with contextlib.suppress(ProtocolError):
                    self.first_poll_returned.exception()  # retrieved: no "never retrieved" warning

"""A minimal callback-driven RFC 6455 WebSocket client for load generation.

Why not aiohttp/websockets connections directly: with those, every message
wakes a task through a future and a queue; measured on this 2-core box the
aiohttp receive path cost ~20 µs per message, so 1,000 receivers pegged a
core at ~45k deliveries/s — the load client was becoming the bottleneck.
Here frames are parsed in ``data_received`` (~0.4 µs per frame) and handed to
a plain callback, and the echo loop sends its next request from that same
callback: no task switch per message at all.

Scope is deliberately small: client side only, no extensions (servers run with
per-message deflate off), text and binary messages both delivered as ``str``
(:func:`connect`; aiosignalr sends its JSON in binary frames) or both as
``bytes`` (:func:`connect_binary`, for MessagePack), fragmented messages
reassembled, pings answered, close handshake honoured.
Client frames are masked with a random key (C ``apply_mask`` from websockets).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
from collections import deque
from collections.abc import Callable
from typing import Generic, cast

from bench.clients.base import M


def _py_apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``mask`` (fallback when the C helper is missing)."""
    size = len(data)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


apply_mask: Callable[[bytes, bytes], bytes]
try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    apply_mask = _py_apply_mask


_randbytes = random.Random().randbytes  # no syscall per frame, unlike os.urandom
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketError(ConnectionError):
    """Handshake refused, protocol violation or connection closed."""


def _frame(opcode: int, payload: bytes) -> bytes:
    """Encode one final, masked client frame."""
    mask = _randbytes(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    return header + mask + apply_mask(payload, mask)


class RawWebSocket(asyncio.Protocol, Generic[M]):
    """One client connection. Messages go to :attr:`on_message` once set, else to :meth:`recv`.

    ``decode`` turns a message's payload into what the callbacks get:
    ``bytes.decode`` (``str`` messages) or ``bytes`` (the payload as is).
    """

    def __init__(self, host: str, port: int, path: str, decode: Callable[[bytes], M]) -> None:
        """Prepare the upgrade request; the connection is made by :func:`connect`."""
        self._decode: Callable[[bytes], M] = decode
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[M], None] | None = None
        self.on_close: Callable[[str], None] | None = None
        self.closed_reason: str | None = None
        self._upgraded = False
        self._buffer = b""
        self._fragments: list[bytes] = []
        self._pending: deque[M] = deque()
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the HTTP upgrade request."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass it
        transport = self.transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        """Finish the handshake, then parse every complete frame in the buffer."""
        buf = self._buffer + data if self._buffer else data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buf
                return
            self._check_handshake(buf[:end].decode("latin-1"))
            buf = buf[end + 4 :]
            if self.closed_reason is not None:
                return
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            self._frame_received(buf[pos], buf[start:end])
            pos = end
        self._buffer = buf[pos:] if pos < size else b""

    def connection_lost(self, exc: Exception | None) -> None:
        """Record why the connection ended and tell whoever listens."""
        self._closed(f"connection lost: {exc}" if exc else "connection closed")

    # -- internals -----------------------------------------------------------------------
    def _check_handshake(self, head: str) -> None:
        """Validate the 101 response and the Sec-WebSocket-Accept value."""
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self._fail(f"upgrade refused: {lines[0]}")
            return
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + _GUID).digest()).decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("sec-websocket-accept") != expected:
            self._fail("bad Sec-WebSocket-Accept")
            return
        self._upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)

    def _frame_received(self, head: int, payload: bytes) -> None:
        """Dispatch one server frame (server frames are never masked)."""
        opcode = head & 0x0F
        if opcode >= OP_CLOSE:
            if opcode == OP_PING:
                self._write(_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._write(_frame(OP_CLOSE, payload[:2]))
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                self._closed(f"closed by server: {code} {payload[2:].decode(errors='replace')}")
                if self.transport is not None:
                    self.transport.close()
            return
        if not head & 0x80:  # non-final fragment
            self._fragments.append(payload)
            return
        if self._fragments:
            payload = b"".join([*self._fragments, payload])
            self._fragments.clear()
        text = self._decode(payload)
        handler = self.on_message
        if handler is not None:
            handler(text)
        else:
            self._pending.append(text)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    def _write(self, data: bytes) -> None:
        """Write unless the transport is gone."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, reason: str) -> None:
        """Abort the connection with ``reason``."""
        self._closed(reason)
        if self.transport is not None:
            self.transport.abort()

    def _closed(self, reason: str) -> None:
        """Mark closed once; wake the opener/reader and the close callback."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        if not self.opened.done():
            self.opened.set_exception(WebSocketError(reason))
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self.on_close is not None:
            self.on_close(reason)

    # -- public API ----------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Send one text message (buffered by the transport; never blocks)."""
        self._write(_frame(OP_TEXT, text.encode()))

    def send(self, message: M) -> None:
        """Send ``str`` as a text message and ``bytes`` as a binary message (never blocks)."""
        if isinstance(message, str):
            self._write(_frame(OP_TEXT, message.encode()))
        else:
            self._write(_frame(OP_BINARY, message))

    async def recv(self, timeout: float) -> M:
        """Next message when no :attr:`on_message` callback is set (handshakes only)."""
        if not self._pending:
            if self.closed_reason is not None:
                raise WebSocketError(self.closed_reason)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, timeout)
            finally:
                self._waiter = None
            if not self._pending:
                raise WebSocketError(self.closed_reason or "no message")
        return self._pending.popleft()

    def set_handler(self, on_message: Callable[[M], None], on_close: Callable[[str], None] | None = None) -> None:
        """Switch to callback delivery, flushing anything received before."""
        self.on_message = on_message
        self.on_close = on_close
        while self._pending:
            on_message(self._pending.popleft())
        if self.closed_reason is not None and on_close is not None:
            on_close(self.closed_reason)

    def close(self) -> None:
        """Send a normal close frame and drop the connection (the bench never waits for the echo)."""
        self._write(_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()


async def connect(url: str, timeout: float) -> RawWebSocket[str]:
    """Open ``ws://host:port/path?query`` and complete the upgrade within ``timeout`` seconds."""
    return await _connect(url, timeout, bytes.decode)


async def connect_binary(url: str, timeout: float) -> RawWebSocket[bytes]:
    """Like :func:`connect`, but messages (text or binary) are delivered as ``bytes``."""
    return await _connect(url, timeout, bytes)


async def _connect(url: str, timeout: float, decode: Callable[[bytes], M]) -> RawWebSocket[M]:
    """Open the socket, wait for the upgrade; never leak a half-open socket."""
    if not url.startswith("ws://"):
        raise ValueError(f"only ws:// URLs are supported: {url}")
    hostport, _, rest = url[5:].partition("/")
    host, _, port = hostport.rpartition(":")
    loop = asyncio.get_running_loop()
    made: list[RawWebSocket[M]] = []

    async def opening() -> RawWebSocket[M]:
        _transport, ws = await loop.create_connection(
            lambda: RawWebSocket(host, int(port), "/" + rest, decode), host, int(port)
        )
        made.append(ws)
        await ws.opened
        return ws

    try:
        return await asyncio.wait_for(opening(), timeout)
    except BaseException:
        for ws in made:  # never leak a half-open socket on timeout/refusal
            ws.close()
        raise

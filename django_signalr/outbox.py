"""A connection's unsent bytes, between whoever writes them and the transport that sends them.

Writers never wait: a fan-out to many connections appends to each outbox and moves on, so one
slow client cannot hold up the others. The transport takes everything pending at once, which
coalesces many records into one WebSocket frame, SSE event or poll response (the clients parse
several records per frame). A client that stops reading makes its outbox grow; past
``limit`` bytes the outbox refuses more and reports the overflow once, and the connection is
closed with an error instead of losing messages silently or growing without bound. A single
message larger than ``limit`` is still accepted into an empty outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Outbox:
    __slots__ = (
        "_chunks",
        "_closed",
        "_closing",
        "_drain_waiters",
        "_loop",
        "_on_overflow",
        "_size",
        "_waiter",
        "limit",
        "written",
    )

    def __init__(self, limit: int, on_overflow: Callable[[], None]) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._on_overflow = on_overflow
        self.limit = limit
        self.written = 0  # bytes ever accepted; the heartbeat reads it to see activity

    @property
    def pending(self) -> bool:
        return bool(self._chunks)

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes, *, notify: bool = True) -> None:
        """Queue ``data``. ``notify=False`` is for a writer that sends right after, itself."""
        if self._closed:
            return
        if self._size + len(data) > self.limit and self._chunks:
            # What is pending will never be read in time: drop it, and let the connection
            # close itself with an error (its Close message then fits in the empty outbox).
            self._chunks = []
            self._size = 0
            self._on_overflow()
            return
        self._chunks.append(data)
        self._size += len(data)
        self.written += len(data)
        if notify:
            self.notify()

    def take(self) -> bytes:
        """Everything pending, as one buffer."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        self._size = 0
        if self._drain_waiters:
            self._wake_drain_waiters()
        return data

    async def drained(self, below: int) -> None:
        """Until fewer than ``below`` bytes are pending (or the outbox is closed): how a writer
        that can wait -- a stream -- keeps pace with its client. Returns at once when under."""
        while self._size >= below and not self._closed:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """Drop what is pending (a replaced transport: stateful reconnect sends again what
        matters from its own buffer)."""
        self._chunks = []
        self._size = 0
        self._wake_drain_waiters()

    def close(self) -> None:
        """No more writes; the transport sends what is pending and then closes."""
        self._closed = True
        self.notify()
        self._wake_drain_waiters()
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)

    async def wait_closed(self) -> None:
        """Until ``close()`` (for a transport that takes data elsewhere, as long polls do)."""
        if not self._closed:
            if self._closing is None:
                self._closing = self._loop.create_future()
            await asyncio.shield(self._closing)

    async def wait(self) -> None:
        """Until something is pending or the outbox is closed."""
        while not self._chunks and not self._closed:
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                # A waiter cancelled after another took over (a superseded long poll) must
                # not take the newer waiter's wake-up with it.
                if self._waiter is waiter:
                    self._waiter = None

    def notify(self) -> None:
        """Wake whoever waits (data written with ``notify=False`` is now to be taken)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

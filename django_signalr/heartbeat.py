"""One timer per event loop that drives every connection's clocks (ASP.NET Core's heartbeat).

A timer per connection would be rescheduled on every message; one loop over all connections
each tick costs a few microseconds per connection and nothing per message. The tick is 1 s,
or shorter when a hub's intervals are short (tests), so timeouts fire within a quarter of
their interval.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

logger = logging.getLogger("django_signalr.heartbeat")

_MIN_TICK = 0.02
_MAX_TICK = 1.0


class Beating(Protocol):
    tick: float

    def on_heartbeat(self, now: float) -> None: ...


class Heartbeat:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._members: set[Beating] = set()
        self._interval = _MAX_TICK
        self._task: asyncio.Task[None] | None = None

    def add(self, member: Beating) -> None:
        self._members.add(member)
        self._interval = min(self._interval, max(_MIN_TICK, member.tick))
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run())

    def discard(self, member: Beating) -> None:
        self._members.discard(member)

    async def _run(self) -> None:
        while self._members:
            await asyncio.sleep(self._interval)
            now = self._loop.time()
            for member in list(self._members):
                try:
                    member.on_heartbeat(now)
                except Exception:
                    logger.exception("Heartbeat of %r failed", member)


_heartbeats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Heartbeat] = weakref.WeakKeyDictionary()


def get_heartbeat() -> Heartbeat:
    """The running loop's heartbeat."""
    loop = asyncio.get_running_loop()
    heartbeat = _heartbeats.get(loop)
    if heartbeat is None:
        heartbeat = _heartbeats[loop] = Heartbeat(loop)
    return heartbeat

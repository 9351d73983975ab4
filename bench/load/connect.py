"""Opening many client connections quickly but politely, with bounded time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from bench.clients.base import Connection, WireProtocol


def _describe(exc: BaseException | None, timeout: float) -> str:
    """Readable one-line reason (a bare TimeoutError has no message of its own)."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"TimeoutError: no complete handshake within {timeout:.0f}s"
    return f"{type(exc).__name__}: {exc}"


async def open_many(
    protocol: WireProtocol[Any],
    session: aiohttp.ClientSession,
    base_url: str,
    path: str,
    count: int,
    *,
    concurrency: int = 50,
    timeout: float = 10.0,
    timings: list[float] | None = None,
) -> tuple[list[Connection[Any]], list[str]]:
    """Open ``count`` connections, at most ``concurrency`` handshakes in flight, one retry each.

    Returns the open sockets and the error strings of the ones that failed
    twice. A single probe connection goes first so a broken target fails in
    one ``timeout`` instead of ``count`` of them. Concurrency is capped so a
    slow server sees a connect storm it can absorb (its listen backlog is
    finite) rather than a wall of timeouts. ``timings`` gets the seconds each
    successful connection took to open and handshake (the probe's excluded).
    """
    try:
        probe = await protocol.open(session, base_url, path, timeout)
    except (OSError, TimeoutError, aiohttp.ClientError, RuntimeError, ValueError) as exc:
        return [], [f"probe connection failed: {_describe(exc, timeout)}"]
    count -= 1
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one() -> Connection[Any] | None:
        last: BaseException | None = None
        for _attempt in range(2):
            async with gate:
                try:
                    began = time.monotonic()
                    opened = await protocol.open(session, base_url, path, timeout)
                    if timings is not None:
                        timings.append(time.monotonic() - began)
                    return opened
                except (OSError, TimeoutError, aiohttp.ClientError, RuntimeError, ValueError) as exc:
                    last = exc
        errors.append(_describe(last, timeout))
        return None

    results = await asyncio.gather(*(one() for _ in range(count)))
    return [probe, *(ws for ws in results if ws is not None)], errors

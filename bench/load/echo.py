"""Closed-loop echo load: N connections, one request in flight each.

Each connection sends a request, waits for its reply, sends the next. The
next request is sent from the reply callback itself (see
``bench.clients.rawws``), so over WebSockets the client spends no task
switches per round trip (over SSE and Long Polling the read and the POST each
run on a task: ``bench.clients.httpconn``). Round trips completing inside the
measurement window (after warm-up) are counted and their latencies kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.clients.base import Connection, WireProtocol
from bench.stats import histogram


class EchoLoad:
    """Shared state of all closed loops in one worker."""

    def __init__(self, protocol: WireProtocol[Any]) -> None:
        """Prepare counters; nothing is recorded until :attr:`measuring` is set."""
        self.protocol = protocol
        self.running = True
        self.measuring = False
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def attach(self, ws: Connection[Any]) -> None:
        """Start a closed loop on ``ws``: send the first request, continue from the reply callback."""
        protocol = self.protocol
        parse, request = protocol.parse, protocol.echo_request
        clock = time.perf_counter
        latencies = self.latencies
        seq = 0
        started = 0.0

        def send_next() -> None:
            nonlocal seq, started
            seq += 1
            started = clock()
            ws.send(request(seq))

        def on_message(message: str) -> None:
            try:
                parsed = parse(message)
            except Exception as exc:  # reported in the result; this loop ends
                self.errors.append(f"{type(exc).__name__}: {exc}")
                ws.close()
                return
            if parsed.reply is not None:
                ws.send(parsed.reply)
            if parsed.echoes:
                if self.measuring:
                    latencies.append(clock() - started)
                if self.running:
                    send_next()

        def on_close(reason: str) -> None:
            if self.running:
                self.errors.append(reason)

        ws.set_handler(on_message, on_close)
        send_next()


async def run_echo(
    protocol: WireProtocol[Any],
    sockets: list[Connection[Any]],
    warmup: float,
    duration: float,
    emit: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Run warm-up then the measured window; emit ``window_start`` so the parent can sample CPU.

    Returns the result record: round trips, window length, latency histogram
    and any per-connection errors.
    """
    load = EchoLoad(protocol)
    for ws in sockets:
        load.attach(ws)
    await asyncio.sleep(warmup)
    emit({"event": "window_start"})
    load.measuring = True
    start = time.perf_counter()
    await asyncio.sleep(duration)
    load.measuring = False
    window = time.perf_counter() - start
    load.running = False
    round_trips = len(load.latencies)
    return {
        "event": "result",
        "connections": len(sockets),
        "round_trips": round_trips,
        "window": window,
        "hist": histogram(load.latencies),
        "errors": len(load.errors),
        "first_error": load.errors[0] if load.errors else None,
        "notes": sorted(protocol.notes),
    }

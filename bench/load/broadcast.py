"""Broadcast load: many passive receivers and one paced sender.

The sender stamps each message with ``t`` (``time.monotonic()``, which is one
clock for every process on a Linux host), a sequence number ``q`` and the step
number ``s``. Receivers file each delivery under its step, so a step's count
and latencies are exact even when deliveries lag into the next step.
Receivers are plain callbacks on :class:`RawWebSocket` (no task per message).

Small groups: :meth:`Receivers.join_groups` puts receiver socket ``i`` in
group ``groups[i]`` (waiting for every join's answer), and
``Sender.run_step(..., groups=[...])`` sends the ``k``-th message of a step
to ``groups[k % len(groups)]`` instead of broadcasting it; the bodies are the
same, so receivers tally them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from bench.clients.base import Connection, WireProtocol
from bench.stats import histogram


@dataclass(slots=True)
class StepTally:
    """Deliveries of one step as seen by one receiver process."""

    count: int = 0
    #: deliveries whose sequence number was not above the last one seen on that socket
    disordered: int = 0
    first: float = 0.0
    last: float = 0.0
    latencies: list[float] = field(default_factory=list)


class Receivers:
    """Tallies deliveries per step over all receiver sockets of this process."""

    def __init__(self, protocol: WireProtocol[Any]) -> None:
        """Start with no tallies; :meth:`start` installs the callbacks."""
        self.protocol = protocol
        self.steps: dict[int, StepTally] = {}
        self.disconnects: list[str] = []
        self.errors: list[str] = []
        #: join answers received so far (all sockets together)
        self.acks = 0
        self._acks_wanted = 0
        self._acks_done: asyncio.Event | None = None
        self._started = False
        self._stopping = False

    def start(self, sockets: list[Connection[Any]]) -> None:
        """Install the delivery callback on every socket."""
        for ws in sockets:
            ws.set_handler(self._make_handler(ws), self._on_close)
        self._started = True

    async def join_groups(self, sockets: list[Connection[Any]], groups: list[str], timeout: float) -> None:
        """Make socket ``i`` join ``groups[i]``; return once every join is answered.

        Call after :meth:`start` (the answers arrive through its callbacks).
        Raise :class:`RuntimeError` if not all joins are answered within
        ``timeout`` seconds, or if a socket drops or the server answers
        something unexpected meanwhile.
        """
        if not self._started:
            raise RuntimeError("Receivers.join_groups() needs start() first")
        if len(groups) != len(sockets):
            raise ValueError(f"{len(sockets)} sockets but {len(groups)} groups")
        self._acks_wanted = self.acks + len(sockets)
        done = self._acks_done = asyncio.Event()
        errors_before, disconnects_before = len(self.errors), len(self.disconnects)
        join = self.protocol.join_request
        for ws, group in zip(sockets, groups, strict=True):
            ws.send(join(group))
        deadline = time.monotonic() + timeout
        while not done.is_set():
            if len(self.errors) > errors_before or len(self.disconnects) > disconnects_before:
                problem = (self.errors[errors_before:] or self.disconnects[disconnects_before:])[0]
                raise RuntimeError(f"group join failed: {problem}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = self._acks_wanted - self.acks
                raise RuntimeError(
                    f"group join: {missing} of {len(sockets)} joins not answered within {timeout:g} s "
                    f"({len(set(groups))} groups)"
                )
            with contextlib.suppress(TimeoutError):  # wake up to check for errors and the deadline
                await asyncio.wait_for(done.wait(), min(remaining, 0.1))
        self._acks_done = None

    def _make_handler(self, ws: Connection[Any]) -> Any:
        """Hot path: parse a message and file its broadcasts (kept lean on purpose)."""
        parse = self.protocol.parse
        clock = time.monotonic
        steps = self.steps
        last_seq = 0

        def on_message(message: str) -> None:
            nonlocal last_seq
            try:
                parsed = parse(message)
            except Exception as exc:  # counted and reported with the step
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            if parsed.reply is not None:
                ws.send(parsed.reply)
            if parsed.acks:
                self._on_acks(parsed.acks)
            if parsed.broadcasts:
                now = clock()
                for body in parsed.broadcasts:
                    tally = steps.get(body["s"])
                    if tally is None:
                        tally = steps[body["s"]] = StepTally(first=now)
                    tally.count += 1
                    tally.last = now
                    seq = body["q"]
                    if seq <= last_seq:  # duplicate or reordered: would hide losses if unchecked
                        tally.disordered += 1
                    else:
                        last_seq = seq
                    tally.latencies.append(now - body["t"])

        return on_message

    def _on_acks(self, count: int) -> None:
        """Count join answers; wake :meth:`join_groups` once all of them are in."""
        self.acks += count
        if self._acks_done is not None and self.acks >= self._acks_wanted:
            self._acks_done.set()

    def _on_close(self, reason: str) -> None:
        """A receiver dropped: its later deliveries will show up as lost."""
        if not self._stopping:
            self.disconnects.append(reason)

    def counts(self) -> dict[int, int]:
        """Deliveries so far per step (cheap; polled while draining)."""
        return {step: tally.count for step, tally in self.steps.items()}

    def report(self, step: int) -> dict[str, Any]:
        """Final figures for ``step``; its raw latencies are released afterwards."""
        tally = self.steps.get(step, StepTally())
        result = {
            "event": "report",
            "step": step,
            "count": tally.count,
            "disordered": tally.disordered,
            "first": tally.first,
            "last": tally.last,
            "hist": histogram(tally.latencies),
            "disconnects": len(self.disconnects),
            "errors": len(self.errors),
            "first_error": next(iter(self.errors or self.disconnects), None),
        }
        tally.latencies = []
        return result

    def stop(self) -> None:
        """Stop counting closes as disconnects (the worker is shutting down)."""
        self._stopping = True


class Sender:
    """One connection that asks the server to broadcast at a fixed rate."""

    def __init__(self, protocol: WireProtocol[Any], ws: Connection[Any]) -> None:
        """Wrap ``ws``; its own copies of the broadcasts are discarded (pings still answered)."""
        self.protocol = protocol
        self.ws = ws
        self.seq = 0
        ws.set_handler(self._discard)

    def _discard(self, message: Any) -> None:
        """Drop everything the server pushes to the sender, answering keep-alives."""
        parsed = self.protocol.parse(message)
        if parsed.reply is not None:
            self.ws.send(parsed.reply)

    async def run_step(
        self, step: int, rate: float, duration: float, groups: list[str] | None = None
    ) -> dict[str, Any]:
        """Send ``rate * duration`` messages on an absolute schedule (no drift accumulation).

        Without ``groups`` each message is a broadcast; with them, the
        ``k``-th message of the step goes to ``groups[k % len(groups)]`` only.
        """
        count = round(rate * duration)
        interval = 1.0 / rate
        clock = time.monotonic
        start = clock()
        send = self.ws.send
        max_behind = 0.0
        if groups:
            group_request = self.protocol.group_request
            ring = len(groups)
        else:
            request = self.protocol.broadcast_request
        for index in range(count):
            due = start + index * interval
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                max_behind = max(max_behind, -delay)
            self.seq += 1
            body = {"t": clock(), "q": self.seq, "s": step}
            if groups:
                send(group_request(groups[index % ring], body))
            else:
                send(request(body))
        return {
            "event": "step_done",
            "step": step,
            "sent": count,
            "start": start,
            "end": clock(),
            "max_behind": max_behind,
            "sender_alive": self.ws.closed_reason is None,
        }

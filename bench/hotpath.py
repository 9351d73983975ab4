"""The echo hot path in-process: django_signalr's ASGI app fed invocations with no sockets.

``python -m bench.hotpath`` gives the Python cost of one echoed invocation (parse, dispatch,
the hub method, the completion written and handed to ``send``) without the server, the
kernel or the load client, so a change to the hot path shows as a few hundred nanoseconds
instead of drowning in the noise of a socket benchmark. It runs several connections in
turn (one WebSocket each, skipNegotiation) and prints the best and the median µs per
invocation, for JSON and MessagePack; then the same for a whole connection's life (negotiate,
WebSocket, handshake, close), the server's part of the connect rate. ``--profile out.txt`` samples it with py-spy (raw
stacks) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import ormsgpack

from django_signalr.protocol.framing import RECORD_SEPARATOR, write_varint

PAYLOAD = "x" * 256


def frames(protocol: str, count: int) -> list[dict[str, Any]]:
    """The handshake, then ``count`` ``Echo`` invocations, as ASGI receive events."""
    handshake = orjson.dumps({"protocol": protocol, "version": 1}) + RECORD_SEPARATOR
    events: list[dict[str, Any]] = [{"type": "websocket.receive", "text": handshake.decode()}]
    for i in range(count):
        if protocol == "json":
            record = orjson.dumps({"type": 1, "invocationId": str(i), "target": "Echo", "arguments": [PAYLOAD]})
            events.append({"type": "websocket.receive", "text": (record + RECORD_SEPARATOR).decode()})
        else:
            body = ormsgpack.packb([1, {}, str(i), "Echo", [PAYLOAD], []])
            events.append({"type": "websocket.receive", "bytes": write_varint(len(body)) + body})
    return events


async def one_connection(application: Any, protocol: str, count: int) -> float:
    """Serve one connection ``count`` echoes; seconds per echo, from the first answer on."""
    events = iter([{"type": "websocket.connect"}, *frames(protocol, count)])
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    answers = 0
    started = 0.0

    async def receive() -> dict[str, Any]:
        event = next(events, None)
        if event is None:
            await finished
            return {"type": "websocket.disconnect", "code": 1000}
        return event

    async def send(event: dict[str, Any]) -> None:
        nonlocal answers, started
        if event["type"] != "websocket.send":
            return
        answers += 1
        if answers == 1:  # the handshake answer: the clock starts
            started = time.perf_counter()
        elif answers == count + 1:
            finished.set_result(time.perf_counter() - started)

    serve: Callable[..., Awaitable[None]] = application
    await asyncio.wait_for(serve(_scope("websocket", "/hubs/bench"), receive, send), timeout=120)
    return float(finished.result()) / count


def _scope(kind: str, path: str, query: bytes = b"") -> dict[str, Any]:
    scope = {
        "type": kind,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "asgi": {"version": "3.0"},
    }
    if kind == "websocket":
        scope["subprotocols"] = []
    else:
        scope["method"] = "POST"
    return scope


async def connections(application: Any, count: int) -> float:
    """Open and close ``count`` connections as the official clients do (negotiate, then the
    WebSocket with the token, the handshake and its answer, a clean close); seconds each."""
    started = time.perf_counter()
    for _ in range(count):
        answer: list[bytes] = []

        async def negotiate_request() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def negotiate_answer(event: dict[str, Any], answer: list[bytes] = answer) -> None:
            if event["type"] == "http.response.body":
                answer.append(event["body"])

        negotiate = _scope("http", "/hubs/bench/negotiate", b"negotiateVersion=1")
        await application(negotiate, negotiate_request, negotiate_answer)
        token = orjson.loads(b"".join(answer))["connectionToken"]
        events = iter([{"type": "websocket.connect"}, *frames("json", 0)])
        loop = asyncio.get_running_loop()
        handshaken = loop.create_future()

        async def receive(events: Any = events, handshaken: asyncio.Future[None] = handshaken) -> dict[str, Any]:
            event = next(events, None)
            if event is None:
                await handshaken
                return {"type": "websocket.disconnect", "code": 1000}
            return event

        async def send(event: dict[str, Any], handshaken: asyncio.Future[None] = handshaken) -> None:
            if event["type"] == "websocket.send" and not handshaken.done():
                handshaken.set_result(None)

        socket = _scope("websocket", "/hubs/bench", b"id=" + token.encode())
        await asyncio.wait_for(application(socket, receive, send), timeout=10)
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30_000, help="invocations per connection")
    parser.add_argument("--runs", type=int, default=7, help="connections per protocol")
    parser.add_argument("--protocols", default="json,messagepack")
    parser.add_argument("--connects", type=int, default=2_000, help="connections opened and closed per run")
    parser.add_argument("--profile", metavar="OUT", help="sample with py-spy into OUT (raw stacks)")
    options = parser.parse_args()
    if options.profile:
        command = [sys.executable, "-m", "bench.hotpath", "--protocols", options.protocols]
        spy = [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record", "-r", "1000", "-f", "raw"]
        subprocess.run([*spy, "-o", options.profile, "--", *command], check=True)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_target.settings")
    os.environ["BENCH_REGISTRY"] = "0"  # the registry is off the message path; its thread only adds noise
    import uvloop

    from bench.django_target.asgi import application  # Django's setup must run outside the loop

    async def run() -> None:
        for protocol in options.protocols.split(","):
            costs = [await one_connection(application, protocol, options.count) for _ in range(options.runs)]
            best, median = min(costs) * 1e6, statistics.median(costs) * 1e6
            print(f"{protocol:12} best {best:6.2f} µs  median {median:6.2f} µs per echoed invocation")
        if options.connects:
            costs = [await connections(application, options.connects) for _ in range(3)]
            best, median = min(costs) * 1e6, statistics.median(costs) * 1e6
            print(f"{'connect':12} best {best:6.0f} µs  median {median:6.0f} µs per connection (negotiate to close)")

    uvloop.run(run())


if __name__ == "__main__":
    main()

"""Load worker process: ``python -m bench.worker ROLE --protocol P --url U --path PATH ...``.

Runs on uvloop in its own process so the orchestrator's bookkeeping never
competes with the load loops. It talks line-delimited JSON: events on stdout
(``ready``, ``window_start``, ``result``, ``step_done``, ``report``,
``counts``, ``error``) and commands on stdin (``step``, ``counts``,
``report``, ``quit``). EOF on stdin or the ``--deadline`` ends the process, so
a crashed orchestrator never leaves load running. ``ready`` carries
``connect_s`` (time to open every connection) and ``connect_hist`` (histogram
of each connection's open-and-handshake time, the probe excluded).

Roles: ``echo`` (closed loop, self-timed), ``receivers`` (N passive
connections) and ``sender`` (one paced broadcaster).

Options for the send-to-connection and small-group scenarios (all off by
default, which keeps the plain echo and broadcast behaviour):

- ``--via-connection`` (``echo``): each request asks the server to send the
  payload back to this connection through its addressed-send API (SignalR
  ``SendToMe`` -> ``Echoed``, plain ``to_me`` -> ``echoed``, Socket.IO ``to_me``
  -> ``echoed``) instead of answering the request itself.
- ``--group-size N`` with ``--index-offset K`` (``receivers``): before
  ``ready``, socket ``i`` of this worker joins group ``g{(K + i) // N}`` and
  every join's answer is awaited (``--connect-timeout`` bounds it); ``K`` is
  the number of receivers in the workers before this one, so groups of ``N``
  span workers. ``ready`` then also carries ``groups_joined`` (the number of
  distinct groups this worker's sockets joined).
- ``--groups M`` (``sender``): every ``step`` sends its messages round-robin to
  groups ``g0`` .. ``g{M-1}`` (``SendToGroup`` / ``group``) instead of
  broadcasting them; each message reaches only that group's members.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import string
import sys
import time
from typing import Any

import orjson
import uvloop

from bench.clients import get_protocol
from bench.clients.base import new_session
from bench.load.broadcast import Receivers, Sender
from bench.load.connect import open_many
from bench.load.echo import run_echo
from bench.stats import histogram


def emit(event: dict[str, Any]) -> None:
    """Write one JSON event line to the orchestrator."""
    sys.stdout.buffer.write(orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()


async def commands() -> asyncio.StreamReader:
    """Return a reader over stdin for orchestrator commands."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def make_payload(size: int) -> str:
    """A random ASCII string of exactly ``size`` bytes (so it is also ``size`` bytes of UTF-8)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(size))


def group_names(count: int, size: int, offset: int) -> list[str]:
    """Group of each of ``count`` sockets: socket ``i`` is in ``g{(offset + i) // size}``."""
    return [f"g{(offset + i) // size}" for i in range(count)]


async def main(args: argparse.Namespace) -> int:
    """Connect, announce readiness, then serve the role until done or told to quit."""
    protocol = get_protocol(args.protocol, lp_lenient=args.lp_lenient)
    protocol.set_echo_payload(make_payload(args.payload_bytes), via_connection=args.via_connection)
    count = args.connections if args.role != "sender" else 1
    session = new_session(count)
    try:
        began = time.monotonic()
        timings: list[float] = []
        sockets, errors = await asyncio.wait_for(
            open_many(protocol, session, args.url, args.path, count, timeout=args.connect_timeout, timings=timings),
            timeout=args.connect_timeout * 3 + count / 50,
        )
        ready: dict[str, Any] = {
            "event": "ready",
            "connected": len(sockets),
            "failed": count - len(sockets),
            "connect_s": time.monotonic() - began,
            "connect_hist": histogram(timings),
        }
        receivers = Receivers(protocol) if args.role == "receivers" and not errors else None
        if receivers is not None:
            receivers.start(sockets)
            if args.group_size:
                names = group_names(len(sockets), args.group_size, args.index_offset)
                await receivers.join_groups(sockets, names, args.connect_timeout)
                ready["groups_joined"] = len(set(names))
        if errors:
            ready["first_error"] = errors[0]
        if protocol.notes:
            ready["notes"] = sorted(protocol.notes)
        emit(ready)
        if errors:
            return 1
        if args.role == "echo":
            emit(await run_echo(protocol, sockets, args.warmup, args.duration, emit))
            return 0
        stdin = await commands()
        sender = Sender(protocol, sockets[0]) if args.role == "sender" else None
        sender_groups = [f"g{k}" for k in range(args.groups)] if args.groups else None
        while True:
            line = await stdin.readline()
            if not line:
                return 0
            command = orjson.loads(line)
            name = command["cmd"]
            if name == "quit":
                if receivers is not None:
                    receivers.stop()
                return 0
            if name == "step" and sender is not None:
                emit(await sender.run_step(command["step"], command["rate"], command["duration"], sender_groups))
            elif name == "counts" and receivers is not None:
                emit({"event": "counts", "counts": receivers.counts()})
            elif name == "report" and receivers is not None:
                emit(receivers.report(command["step"]))
            else:
                emit({"event": "error", "error": f"bad command for {args.role}: {name}"})
    finally:
        # Abrupt close is fine: the server is torn down right after.
        await asyncio.wait_for(session.close(), timeout=5.0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line of a worker (built by ``bench.procs.LoadWorker``)."""
    parser = argparse.ArgumentParser(prog="bench.worker")
    parser.add_argument("role", choices=("echo", "receivers", "sender"))
    parser.add_argument("--protocol", required=True)
    parser.add_argument("--url", required=True, help="http://host:port")
    parser.add_argument("--path", required=True)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--payload-bytes", type=int, default=256)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    parser.add_argument(
        "--lp-lenient", action="store_true", help="send the handshake even if the first long poll is held"
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="hard lifetime cap, seconds")
    parser.add_argument(
        "--via-connection", action="store_true", help="echo: the reply comes through the server's send to a connection"
    )
    parser.add_argument(
        "--group-size", type=int, default=0, help="receivers: socket i joins group g{(K+i)//N} before ready"
    )
    parser.add_argument(
        "--index-offset", type=int, default=0, help="receivers: K, this worker's first socket's global index"
    )
    parser.add_argument("--groups", type=int, default=0, help="sender: send round-robin to groups g0..g{M-1}")
    args = parser.parse_args(argv)
    if args.group_size < 0 or args.index_offset < 0 or args.groups < 0:
        parser.error("--group-size, --index-offset and --groups must not be negative")
    return args


def run(argv: list[str]) -> int:
    """Process entry: raise the fd limit, arm the deadline, run :func:`main` on uvloop."""
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))

    async def bounded() -> int:
        try:
            return await asyncio.wait_for(main(args), timeout=args.deadline)
        except Exception as exc:  # reported to the orchestrator as an error event
            emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
            return 1

    code = uvloop.run(bounded())
    sys.stdout.flush()
    os._exit(code)  # skip slow interpreter teardown of 1,000 sockets


if __name__ == "__main__":
    run(sys.argv[1:])

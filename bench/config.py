"""Static configuration: the targets, their wire protocols and scenario sizes.

Kept in one place so that adding a target or retuning a scenario is a one-line
change, and so that the JSON results can record exactly what was run.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

HOST = "127.0.0.1"
#: The harness may only bind ports in this range (shared machine).
PORT_RANGE = range(18100, 18200)


def venv_python() -> str:
    """Return the interpreter used for servers and load workers (the repo venv if present)."""
    candidate = REPO_DIR / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else os.environ.get("PYTHON", "python3")


@dataclass(frozen=True, slots=True)
class Target:
    """One server under test.

    ``app`` is the ``module:attribute`` ASGI path given to uvicorn, ``protocol``
    names the load client wire protocol (see ``bench.clients``), ``path`` is the
    endpoint the clients connect to and ``env`` is extra environment for the
    server process (e.g. ``DJANGO_SETTINGS_MODULE``). ``columns`` are the echo
    columns (:data:`ECHO_COLUMNS`) the target is run for; targets that only
    speak their own protocol over a WebSocket have ``ws-json`` alone.
    """

    name: str
    app: str
    protocol: str
    path: str
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    columns: tuple[str, ...] = ("ws-json",)

    def column_protocol(self, column: str) -> str:
        """Worker ``--protocol`` for ``column``: the target's own for ``ws-json``, else ``<it>-<column>``."""
        return self.protocol if column == "ws-json" else f"{self.protocol}-{column}"


#: Echo columns: name -> (SignalR transport, hub protocol). ``ws-json`` is the
#: historical echo figure (every target has it); the others are SignalR only.
#: Server-Sent Events carry text only, so there is no ``sse-msgpack``
#: (PROTOCOL.md §2: negotiate lists SSE with ``Text`` alone).
ECHO_COLUMNS: dict[str, tuple[str, str]] = {
    "ws-json": ("WebSockets", "json"),
    "ws-msgpack": ("WebSockets", "messagepack"),
    "sse-json": ("ServerSentEvents", "json"),
    "lp-json": ("LongPolling", "json"),
    "lp-msgpack": ("LongPolling", "messagepack"),
}
_SIGNALR_COLUMNS = tuple(ECHO_COLUMNS)


_CHANNELS_ENV = {"DJANGO_SETTINGS_MODULE": "bench.servers.channels_settings"}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "channels_plain",
            "bench.servers.channels_plain:application",
            "plain",
            "/ws",
            _CHANNELS_ENV,
            "AsyncWebsocketConsumer + InMemoryChannelLayer group_send (default settings)",
        ),
        Target(
            "channels_ceiling",
            "bench.servers.channels_ceiling:application",
            "plain",
            "/ws",
            _CHANNELS_ENV,
            "same consumer, own receive loop, broadcast by iterating a set",
        ),
        Target(
            "socketio",
            "bench.servers.socketio_app:application",
            "socketio",
            "/socket.io/",
            note="python-socketio ASGI",
        ),
        # What aiosignalr 0.1.1 really serves (read from aiosignalr/server/server.py,
        # transports.py, context.py; checked with a client that follows PROTOCOL.md §2):
        # - ws-json: yes (its JSON records go out in binary frames, not text frames);
        # - ws-msgpack: yes;
        # - sse-json: yes;
        # - lp-json, lp-msgpack: NO for a spec-following client. Its first poll is not
        #   answered at once but held until data arrives (only the handshake makes data)
        #   or 15 s pass; the JS client's start() awaits that first poll, and after the
        #   15 s the idle watch (started with the poll, also 15 s) has torn the connection
        #   down, so the handshake POST gets 404. The bench reports these columns FAILED;
        #   ``--lp-lenient`` sends the handshake while the first poll is pending, which
        #   works, and flags the figures (steady-state polling itself is served).
        # It also accepts messagepack over SSE (no transfer-format check), not a column here.
        Target(
            "aiosignalr",
            "bench.servers.aiosignalr_app:application",
            "signalr",
            "/hubs/bench",
            note="aiosignalr ASGI app",
            columns=_SIGNALR_COLUMNS,
        ),
        Target(
            "django_signalr",
            "bench.django_target.asgi:application",
            "signalr",
            "/hubs/bench",
            {"DJANGO_SETTINGS_MODULE": "bench.django_target.settings"},
            "this project",
            columns=_SIGNALR_COLUMNS,
        ),
        Target(
            "django_signalr_noregistry",
            "bench.django_target.asgi:application",
            "signalr",
            "/hubs/bench",
            {"DJANGO_SETTINGS_MODULE": "bench.django_target.settings", "BENCH_REGISTRY": "0"},
            "this project with CONNECTION_REGISTRY off: the registry's cost",
            columns=("ws-json",),
        ),
    )
}

#: The target whose ratios against every other target are reported.
SUBJECT = "django_signalr"


@dataclass(frozen=True, slots=True)
class EchoParams:
    """Echo scenario sizing: closed-loop connections, payload and timing windows (seconds).

    ``columns`` are the transport/protocol columns run (each target runs those
    it has, :attr:`Target.columns`). ``lp_lenient``: when a server does not
    answer the first long poll at once, send the handshake anyway (and flag
    the figure) instead of failing the column.
    """

    connections: int = 50
    payload_bytes: int = 256
    warmup: float = 2.0
    duration: float = 10.0
    columns: tuple[str, ...] = tuple(ECHO_COLUMNS)
    lp_lenient: bool = False


@dataclass(frozen=True, slots=True)
class BroadcastParams:
    """Broadcast scenario sizing.

    ``rates`` are messages/s sent by the single sender; each is delivered to
    every receiver, so deliveries/s = rate * receivers. ``drain`` is the grace
    period after a step during which late deliveries still count.
    ``receiver_procs`` splits the receivers over that many load processes.
    """

    receivers: int = 1000
    rates: tuple[int, ...] = (2, 5, 10, 20, 40, 80, 120, 160)
    step_seconds: float = 5.0
    drain: float = 3.0
    #: One receiver process: on this 2-core box a second load process only
    #: takes CPU from the server. Receivers cost ~4 µs per delivery when the
    #: server writes several messages per TCP segment and ~20 µs (mostly kernel
    #: loopback work) when it writes one segment per delivery; the most seen
    #: was 0.84 core (channels_ceiling's saturated step, server at 0.97). The
    #: per-step ``rcv`` CPU column shows it; near 1.0 would mean client-bound.
    receiver_procs: int = 1
    #: A step is "clean" when nothing is lost and p99 latency is below this.
    clean_p99: float = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    """A full set of scenario parameters (``full`` or ``quick``)."""

    name: str
    echo: EchoParams
    broadcast: BroadcastParams

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view for the results file."""
        return asdict(self)


FULL = Profile("full", EchoParams(), BroadcastParams())
QUICK = Profile(
    "quick",
    EchoParams(warmup=1.0, duration=3.0),
    BroadcastParams(step_seconds=2.0, drain=1.5),
)

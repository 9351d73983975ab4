"""Static configuration: the targets, their wire protocols and scenario sizes.

Kept in one place so that adding a target or retuning a scenario is a one-line
change, and so that the JSON results can record exactly what was run.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
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
    #: Servers it runs under (an ASGI app: both); a target with a ``command`` is its own server.
    servers: tuple[str, ...] = ("uvicorn", "daphne")
    #: Channel layers it can run on (``bench.layers``); the others use none.
    layers: tuple[str, ...] = ("memory",)
    #: For a server that is not an ASGI app: its arguments after ``python`` (``{port}`` replaced).
    command: tuple[str, ...] = ()

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
            layers=("memory", "redis", "pubsub"),
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
            layers=("memory", "redis", "pubsub"),
        ),
        Target(
            "websockets_ceiling",
            "",
            "plain",
            "/",
            note="a bare websockets server on uvloop, no ASGI: the ceiling of Python WebSocket servers here",
            servers=("own",),
            command=("-m", "bench.servers.websockets_ceiling", "--port", "{port}"),
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
    """Echo sizing: closed-loop connections, payload, timing windows (seconds), the column
    (transport + hub protocol, :data:`ECHO_COLUMNS`) and whether replies come through the
    server's send-to-a-connection API (``via_connection``) instead of as the request's answer.
    ``lp_lenient``: when a server does not answer the first long poll at once, send the
    handshake anyway (and flag the figure) instead of failing."""

    connections: int = 50
    payload_bytes: int = 256
    warmup: float = 1.0
    duration: float = 3.0
    column: str = "ws-json"
    via_connection: bool = False
    lp_lenient: bool = False


@dataclass(frozen=True, slots=True)
class BroadcastParams:
    """Broadcast and groups sizing.

    ``rates`` are messages/s sent by the single sender; a message reaches every receiver
    (broadcast) or the ``group_size`` members of one group (groups: the sender goes round
    the groups), so deliveries/s = rate * fan-out. ``drain`` is the grace period after a step
    during which late deliveries still count. ``memory``: sample the server's RSS before and
    after the receivers connect (per idle connection).
    """

    receivers: int = 1000
    rates: tuple[int, ...] = (10, 15, 22, 33, 50, 75, 110, 160)
    step_seconds: float = 1.5
    drain: float = 1.0
    column: str = "ws-json"
    group_size: int = 0
    memory: bool = False
    #: One receiver process: on this 2-core box a second load process only
    #: takes CPU from the server. Receivers cost ~4 µs per delivery when the
    #: server writes several messages per TCP segment and ~20 µs (mostly kernel
    #: loopback work) when it writes one segment per delivery; the most seen
    #: was 0.84 core (channels_ceiling's saturated step, server at 0.97). The
    #: per-step ``rcv`` CPU column shows it; near 1.0 would mean client-bound.
    receiver_procs: int = 1
    #: A step is "clean" when nothing is lost and p99 latency is below this.
    clean_p99: float = 1.0

    @property
    def fan_out(self) -> int:
        """Deliveries per message sent."""
        return self.group_size or self.receivers


#: Rate ladders (messages/s), steps of about 1.5x; a target stops at its first saturated step.
BROADCAST_1K_RATES = (10, 15, 22, 33, 50, 75, 110, 160, 240, 360)
BROADCAST_5K_RATES = (2, 3, 4, 6, 9, 13, 20, 30, 45)
GROUP_RATES = (1000, 1500, 2200, 3300, 5000, 7500, 11000, 16000, 24000)
#: Through channels_redis every group send is a layer message of its own (a few Redis round
#: trips, awaited by the sender): one process tops out near 500 msg/s, so the ladder starts lower.
REDIS_GROUP_RATES = (100, 150, 220, 330, 500, 750, *GROUP_RATES)


@dataclass(frozen=True, slots=True)
class Case:
    """One row of the results: a scenario, its sizing, and the server, layer and column it runs
    on. Every selected target that can run it does (:func:`runs_case`)."""

    key: str
    title: str
    scenario: str  # "echo" (to_connection is echo with via_connection), "broadcast"
    server: str = "uvicorn"
    layer: str = "memory"
    column: str = "ws-json"
    payload_bytes: int = 256
    via_connection: bool = False
    receivers: int = 1000
    rates: tuple[int, ...] = BROADCAST_1K_RATES
    group_size: int = 0
    memory: bool = False
    #: Cases run only when asked for with ``--cases`` (not part of the default matrix).
    extra: bool = False


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case("echo", "echo, 50 conns, 256 B (round trips/s)", "echo"),
        Case("echo-2k", "echo, 50 conns, 2 KB (round trips/s)", "echo", payload_bytes=2048),
        Case("to-connection", "send to a connection, 50 conns (round trips/s)", "echo", via_connection=True),
        Case("broadcast-1k", "broadcast to 1,000 (max clean deliveries/s)", "broadcast"),
        Case(
            "broadcast-5k",
            "broadcast to 5,000 (max clean deliveries/s)",
            "broadcast",
            receivers=5000,
            rates=BROADCAST_5K_RATES,
            memory=True,
        ),
        Case(
            "groups",
            "groups of 10, 1,000 conns (max clean deliveries/s)",
            "broadcast",
            group_size=10,
            rates=GROUP_RATES,
        ),
        Case("echo-msgpack", "echo, MessagePack (round trips/s)", "echo", column="ws-msgpack"),
        Case("broadcast-1k-msgpack", "broadcast to 1,000, MessagePack", "broadcast", column="ws-msgpack"),
        Case("echo-redis", "echo on channels_redis (round trips/s)", "echo", layer="redis"),
        Case("broadcast-1k-redis", "broadcast to 1,000 on channels_redis", "broadcast", layer="redis"),
        Case("broadcast-1k-pubsub", "broadcast to 1,000 on Redis pub/sub", "broadcast", layer="pubsub", extra=True),
        Case("echo-daphne", "echo under daphne (round trips/s)", "echo", server="daphne"),
        Case("broadcast-1k-daphne", "broadcast to 1,000 under daphne", "broadcast", server="daphne"),
        *(
            Case(f"echo-{column}", f"echo over {column} (round trips/s)", "echo", column=column, extra=True)
            for column in ("sse-json", "lp-json", "lp-msgpack")
        ),
    )
}


def _variant(case: Case, layer: str, column: str) -> Case:
    """``case`` on another layer and/or over MessagePack: an extra case named after both."""
    parts = [(layer, _LAYER_LABELS[layer])] if layer != "memory" else []
    if column == "ws-msgpack":
        parts.append(("msgpack", "MessagePack"))
    return replace(
        case,
        key="-".join([case.key, *(key for key, _ in parts)]),
        title=", ".join([case.title, *(label for _, label in parts)]),
        layer=layer,
        column=column,
        rates=REDIS_GROUP_RATES if case.group_size and layer != "memory" else case.rates,
        memory=False,  # the memory and connect-rate rows come from broadcast-5k alone
        extra=True,
    )


_LAYER_LABELS = {"redis": "channels_redis", "pubsub": "Redis pub/sub"}

#: The rest of the scenario x layer x hub protocol cross product, as extra cases (``--cases
#: all`` runs them): the default matrix keeps the headline scenarios on channels_redis and
#: MessagePack so that it stays under 10 minutes on 2 cores.
CASES.update(
    (variant.key, variant)
    for base in ("echo", "echo-2k", "to-connection", "broadcast-1k", "broadcast-5k", "groups")
    for layer, column in (("memory", "ws-msgpack"), ("redis", "ws-json"), ("redis", "ws-msgpack"))
    for variant in [_variant(CASES[base], layer, column)]
    if variant.key not in CASES
)


def runs_case(target: Target, case: Case) -> bool:
    """Whether ``target`` can run ``case``: its server (a target that is its own server runs
    in the uvicorn rows), its layer, its column."""
    server_ok = case.server in target.servers or (target.command != () and case.server == "uvicorn")
    return server_ok and case.layer in target.layers and case.column in target.columns


@dataclass(frozen=True, slots=True)
class Profile:
    """Timing of every case (``full`` or ``quick``)."""

    name: str
    echo: EchoParams
    broadcast: BroadcastParams

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable view for the results file."""
        return asdict(self)

    def echo_params(self, case: Case) -> EchoParams:
        return replace(
            self.echo, payload_bytes=case.payload_bytes, column=case.column, via_connection=case.via_connection
        )

    def broadcast_params(self, case: Case) -> BroadcastParams:
        """The broadcast (or groups) sizing of ``case``."""
        return replace(
            self.broadcast,
            receivers=case.receivers,
            rates=case.rates,
            column=case.column,
            group_size=case.group_size,
            memory=case.memory,
        )


FULL = Profile("full", EchoParams(), BroadcastParams())
QUICK = Profile(
    "quick",
    EchoParams(warmup=0.5, duration=1.5),
    BroadcastParams(step_seconds=1.0, drain=1.0),
)

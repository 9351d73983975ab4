"""Load-client wire protocols, one module per protocol, looked up by name."""

from __future__ import annotations

from typing import Any

from bench.clients.base import Connection, WireProtocol


def get_protocol(name: str, *, lp_lenient: bool = False) -> WireProtocol[Any]:
    """Return a fresh protocol adapter for ``name``.

    ``plain``, ``socketio``, ``signalr`` (WebSockets + JSON) or
    ``signalr-<transport>-<protocol>`` with transport ``ws``, ``sse`` or
    ``lp`` and protocol ``json`` or ``msgpack`` (e.g. ``signalr-lp-msgpack``).
    ``lp_lenient`` tolerates a held first long poll (see ``SignalRColumnProtocol``).
    """
    if name == "plain":
        from bench.clients.plain import PlainProtocol

        return PlainProtocol()
    if name == "socketio":
        from bench.clients.socketio import SocketIOProtocol

        return SocketIOProtocol()
    if name in ("signalr", "signalr-ws-json"):
        from bench.clients.signalr import SignalRProtocol

        return SignalRProtocol()
    if name.startswith("signalr-"):
        from bench.clients.signalr import SignalRColumnProtocol

        _, transport, hub_protocol = name.split("-", 2)
        return SignalRColumnProtocol(transport, hub_protocol, lp_lenient=lp_lenient)
    raise ValueError(f"unknown wire protocol {name!r}")


__all__ = ["Connection", "WireProtocol", "get_protocol"]

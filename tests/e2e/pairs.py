"""The transport x protocol pairs the official client is tested on, and a way to connect it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from .jsclient import JsConnection, JsDriver

PAIRS = [
    ("WebSockets", "json"),
    ("WebSockets", "messagepack"),
    ("ServerSentEvents", "json"),  # SSE carries text only
    ("LongPolling", "json"),
    ("LongPolling", "messagepack"),
]
PAIR_IDS = [f"{transport}-{protocol}" for transport, protocol in PAIRS]
BINARY_PAIRS = [pair for pair in PAIRS if pair[1] == "messagepack"]
each_pair = pytest.mark.parametrize("pair", PAIRS, ids=PAIR_IDS)

_names = itertools.count()


def unique(prefix: str) -> str:
    """A connection name no other test of the session uses."""
    return f"{prefix}-{next(_names)}"


async def connect_pair(js: JsDriver, base_url: str, pair: tuple[str, str], hub: str, **options: Any) -> JsConnection:
    """The official client on ``pair``, connected to ``{base_url}/hubs/{hub}``."""
    transport, protocol = pair
    return await js.connect(
        unique(f"{hub}-{transport}-{protocol}"),
        f"{base_url}/hubs/{hub}",
        transport=transport,
        protocol=protocol,
        **options,
    )

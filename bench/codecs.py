"""The serializer comparison behind the protocol codecs: ``python -m bench.codecs``.

Times packing and unpacking hub messages of the benchmark's shapes with msgpack's
``packb``/``unpackb`` (the options the MessagePack protocol needs) against ormsgpack as the
protocol calls it (``messagepack_protocol.packb``/``unpackb``), and
``json`` against orjson, in this process (median of 5 runs of 100,000 calls).
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

from django_signalr.protocol import messagepack_protocol

MESSAGES: dict[str, Any] = {
    "echo 256 B": [1, {}, "12", "Echo", ["x" * 256]],
    "broadcast": [1, {}, None, "Receive", [{"t": 123.456, "q": 42, "s": 3}]],
    "2 KB": [1, {}, None, "Receive", [{"user": "alice", "text": "y" * 2000, "n": [1, 2, 3]}]],
}
CALLS = 100_000


def nanoseconds(call: Callable[[], object]) -> float:
    return statistics.median(timeit.repeat(call, number=CALLS, repeat=5)) / CALLS * 1e9


def main() -> None:
    for name, value in MESSAGES.items():
        packed, text = msgpack.packb(value, use_bin_type=True), orjson.dumps(value)
        rows = {
            "msgpack pack": lambda v=value: msgpack.packb(v, datetime=True, use_bin_type=True, default=str),
            "ormsgpack pack": lambda v=value: messagepack_protocol.packb(v),
            "msgpack unpack": lambda b=packed: msgpack.unpackb(b, raw=False, timestamp=3, strict_map_key=False),
            "ormsgpack unpack": lambda b=packed: messagepack_protocol.unpackb(b),
            "json dumps": lambda v=value: json.dumps(v, separators=(",", ":")).encode(),
            "orjson dumps": lambda v=value: orjson.dumps(v),
            "json loads": lambda t=text: json.loads(t),
            "orjson loads": lambda t=text: orjson.loads(t),
        }
        times = {label: nanoseconds(call) for label, call in rows.items()}
        print(f"{name}:")
        for slow, fast in (("msgpack pack", "ormsgpack pack"), ("msgpack unpack", "ormsgpack unpack"),
                           ("json dumps", "orjson dumps"), ("json loads", "orjson loads")):  # fmt: skip
            ratio = times[slow] / times[fast]
            print(f"  {slow:<15}{times[slow]:>7.0f} ns   {fast:<17}{times[fast]:>7.0f} ns   {ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Echo scenario (orchestrator side): one closed-loop worker against one server, for one column.

A column is a SignalR transport + hub protocol (``ws-json``, ``ws-msgpack``,
``sse-json``, ``lp-json``, ``lp-msgpack``; ``bench.config.ECHO_COLUMNS``).
Measures round trips/s over a fixed window after warm-up, p50/p99 round-trip
latency, and the CPU share of server and client during the window. With
``via_connection`` each reply comes through the server's send-to-a-connection
API (SignalR ``clients.client(id)``, Socket.IO ``emit(to=sid)``, a Channels
``channel_layer.send``) instead of as the request's own answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.config import ECHO_COLUMNS, EchoParams, Target
from bench.procs import ChildError, LoadWorker, ServerProcess
from bench.scenarios.cpu import CpuMeter
from bench.stats import merge, percentile


async def run(server: ServerProcess, target: Target, params: EchoParams, log_dir: Path) -> dict[str, Any]:
    """Run the echo load (its column, or via the send-to-a-connection API) against ``server``;
    raise :class:`ChildError` on any failure."""
    column = params.column
    worker = LoadWorker(
        "echo",
        [
            "--protocol", target.column_protocol(column), "--url", server.base_url, "--path", target.path,
            "--connections", str(params.connections), "--payload-bytes", str(params.payload_bytes),
            "--warmup", str(params.warmup), "--duration", str(params.duration),
            "--deadline", str(params.warmup + params.duration + 60),
            *(["--lp-lenient"] if params.lp_lenient else []),
            *(["--via-connection"] if params.via_connection else []),
        ],
        log_dir / f"{target.name}.echo.worker.log",
    )  # fmt: skip
    await worker.start()
    try:
        ready = await worker.expect("ready", timeout=40.0)
        if ready["failed"]:
            raise ChildError(f"{ready['failed']}/{params.connections} connections failed: {ready.get('first_error')}")
        await worker.expect("window_start", timeout=params.warmup + 10.0)
        meter = CpuMeter({"server": server.pid, "client": worker.pid})
        meter.start()
        result = await worker.expect("result", timeout=params.duration + 15.0)
        cpu = meter.stop()
    finally:
        await worker.stop()
    if result["errors"]:
        raise ChildError(f"{result['errors']} connection(s) failed during the run: {result['first_error']}")
    hist = merge([result["hist"]])
    p50, p99 = percentile(hist, 0.50), percentile(hist, 0.99)
    transport, hub_protocol = ECHO_COLUMNS[column]
    return {
        "status": "ok",
        "column": column,
        "transport": transport,
        "hub_protocol": hub_protocol,
        "round_trips_per_s": result["round_trips"] / result["window"],
        "round_trips": result["round_trips"],
        "window_s": result["window"],
        "p50_ms": None if p50 is None else p50 * 1e3,
        "p99_ms": None if p99 is None else p99 * 1e3,
        "cpu": cpu,
        "connect_s": ready["connect_s"],
        "notes": result.get("notes", []),
    }

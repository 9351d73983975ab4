"""Broadcast and groups scenarios (orchestrator side): rising-rate steps until the target saturates.

One sender worker asks the server to broadcast ``rate`` messages/s for a
step (or, with ``group_size``, to send each message to the next group of that
many receivers, round the groups); receiver workers
(``BroadcastParams.receiver_procs`` of them, splitting the receivers) tally
deliveries per step. The sender connects first (its connection pays the
server's first-connection costs); then, with ``memory``, the server's RSS is
sampled before and after the receivers connect and settle (per idle
connection), and the receivers' connect rate and handshake latency are kept.
After each step the harness waits
up to ``drain`` seconds for stragglers, then collects counts and latency
histograms: lost = expected - received, delivered/s = received over the time
the deliveries actually took (never less than the step length).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import BroadcastParams, Target
from bench.procs import ChildError, LoadWorker, ServerProcess
from bench.scenarios.cpu import CpuMeter
from bench.stats import merge, percentile

#: Seconds to let the server settle before an RSS sample (handshakes finishing, buffers freed).
SETTLE = 1.0


def _split(total: int, parts: int) -> list[int]:
    """Split ``total`` receivers as evenly as possible over ``parts`` workers."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _worker(
    role: str,
    target: Target,
    server: ServerProcess,
    params: BroadcastParams,
    connections: int,
    log: Path,
    lifetime: float,
    extra: list[str],
) -> LoadWorker:
    """Build a broadcast worker command line."""
    return LoadWorker(
        role,
        [
            "--protocol", target.column_protocol(params.column), "--url", server.base_url, "--path", target.path,
            "--connections", str(connections), "--deadline", str(lifetime), *extra,
        ],
        log,
    )  # fmt: skip


def _group_options(params: BroadcastParams, index_offset: int) -> list[str]:
    """Receivers join group ``g<(offset + i) // size>``; nothing without groups."""
    if not params.group_size:
        return []
    return ["--group-size", str(params.group_size), "--index-offset", str(index_offset)]


def _groups(params: BroadcastParams) -> int:
    return -(-params.receivers // params.group_size) if params.group_size else 0


async def _received(receivers: list[LoadWorker], step: int) -> int:
    """Deliveries of ``step`` so far, summed over receiver workers."""
    for worker in receivers:
        worker.send({"cmd": "counts"})
    total = 0
    for worker in receivers:
        counts = (await worker.expect("counts", timeout=10.0))["counts"]
        total += int(counts.get(str(step), 0))
    return total


async def _measure_step(
    step: int,
    rate: int,
    params: BroadcastParams,
    sender: LoadWorker,
    receivers: list[LoadWorker],
    meter: CpuMeter,
) -> dict[str, Any]:
    """Run one step: send, sample CPU over the sending window, drain, collect and summarise."""
    meter.start()
    sender.send({"cmd": "step", "step": step, "rate": rate, "duration": params.step_seconds})
    done = await sender.expect("step_done", timeout=params.step_seconds + 15.0)
    cpu = meter.stop()
    expected = done["sent"] * params.fan_out
    drain_deadline = time.monotonic() + params.drain
    while time.monotonic() < drain_deadline:  # polls other processes: no event to wait on
        if await _received(receivers, step) >= expected:
            break
        await asyncio.sleep(0.2)
    reports = []
    for worker in receivers:
        worker.send({"cmd": "report", "step": step})
    for worker in receivers:
        reports.append(await worker.expect("report", timeout=30.0))
    received = sum(r["count"] for r in reports)
    disordered = sum(r["disordered"] for r in reports)
    last = max((r["last"] for r in reports if r["count"]), default=done["end"])
    span = max(params.step_seconds, last - done["start"])
    hist = merge(r["hist"] for r in reports)
    p50, p99 = percentile(hist, 0.50), percentile(hist, 0.99)
    lost = expected - received
    return {
        "step": step,
        "rate": rate,
        "offered_per_s": rate * params.fan_out,
        "sent": done["sent"],
        "expected": expected,
        "received": received,
        "lost": lost,
        "delivered_per_s": received / span,
        "p50_ms": None if p50 is None else p50 * 1e3,
        "p99_ms": None if p99 is None else p99 * 1e3,
        "disordered": disordered,
        "clean": lost == 0 and disordered == 0 and p99 is not None and p99 < params.clean_p99,
        "cpu": cpu,
        "sender_behind_s": done["max_behind"],
        "disconnects": sum(r["disconnects"] for r in reports),
        "client_errors": sum(r["errors"] for r in reports),
        "first_error": next((r["first_error"] for r in reports if r["first_error"]), None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def saturated(step: dict[str, Any], params: BroadcastParams) -> bool:
    """A step 'clearly saturates' the target: >1 % lost, p99 over 2x the clean bound, or <75 % delivered."""
    p99_ms = step["p99_ms"] if step["p99_ms"] is not None else float("inf")
    return (
        step["lost"] > 0.01 * step["expected"]
        or p99_ms > 2e3 * params.clean_p99
        or step["delivered_per_s"] < 0.75 * step["offered_per_s"]
        or step["disconnects"] > 0
    )


async def run(
    server: ServerProcess,
    target: Target,
    params: BroadcastParams,
    log_dir: Path,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Connect receivers then the sender, step the rate up, return steps and the max clean rate."""
    lifetime = 120.0 + len(params.rates) * (params.step_seconds + params.drain + 20.0)
    name = f"{target.name}.{'groups' if params.group_size else 'broadcast'}"
    shares = _split(params.receivers, params.receiver_procs)
    receivers = [
        _worker(
            "receivers", target, server, params, n, log_dir / f"{name}.receivers{i}.log", lifetime,
            _group_options(params, sum(shares[:i])),
        )
        for i, n in enumerate(shares)
    ]  # fmt: skip
    groups = ["--groups", str(_groups(params))] if params.group_size else []
    sender = _worker("sender", target, server, params, 1, log_dir / f"{name}.sender.log", lifetime, groups)
    workers = [*receivers, sender]
    steps: list[dict[str, Any]] = []
    stop_reason = "all rates ran (not saturated: raise --rates)"
    memory: dict[str, Any] | None = None
    connect: dict[str, Any] = {"connections": params.receivers, "seconds": 0.0}
    try:
        await sender.start()
        ready = await sender.expect("ready", timeout=30.0)
        if ready["failed"]:
            raise ChildError(f"sender failed to connect: {ready.get('first_error')}")
        await asyncio.sleep(SETTLE)
        rss_before = server.rss_bytes()
        for worker in receivers:
            await worker.start()
        hists = []
        for worker in receivers:
            ready = await worker.expect("ready", timeout=90.0 + params.receivers / 100)
            if ready["failed"]:
                raise ChildError(f"{ready['failed']} receiver connection(s) failed: {ready.get('first_error')}")
            connect["seconds"] = max(connect["seconds"], ready["connect_s"])
            hists.append(ready.get("connect_hist", {}))
        hist = merge(hists)
        connect.update(
            per_s=params.receivers / connect["seconds"],
            p50_ms=_ms(percentile(hist, 0.50)),
            p99_ms=_ms(percentile(hist, 0.99)),
        )
        if params.memory:
            await asyncio.sleep(SETTLE)
            rss_after = server.rss_bytes()
            memory = {
                "rss_before": rss_before,
                "rss_after": rss_after,
                "per_connection_bytes": (rss_after - rss_before) / params.receivers,
            }
        pids = {"server": server.pid, "sender": sender.pid}
        pids.update({f"receivers{i}": w.pid for i, w in enumerate(receivers)})
        meter = CpuMeter(pids)
        for index, rate in enumerate(params.rates):
            if not server.alive():
                raise ChildError(f"server died: {server.log_tail()}")
            step = await _measure_step(index, rate, params, sender, receivers, meter)
            steps.append(step)
            if on_step is not None:
                on_step(step)
            if saturated(step, params):
                stop_reason = f"saturated at {rate} msg/s"
                break
    except ChildError as exc:
        if not steps:
            raise
        stop_reason = f"aborted: {exc}"
    finally:
        await asyncio.gather(*(w.stop() for w in workers))
    clean = [s for s in steps if s["clean"]]
    best = max(clean, key=lambda s: s["delivered_per_s"], default=None)
    return {
        "status": "ok",
        "receivers": params.receivers,
        "group_size": params.group_size,
        "column": params.column,
        "receiver_procs": len(receivers),
        "connect": connect,
        "memory": memory,
        "steps": steps,
        "stop_reason": stop_reason,
        "max_clean_delivered_per_s": best["delivered_per_s"] if best else 0.0,
        "max_clean_rate": best["rate"] if best else None,
        "max_clean_p99_ms": best["p99_ms"] if best else None,
        "max_clean_cpu": best["cpu"] if best else None,
    }

"""Command line and orchestration: ``bench/run [--scenario ...] [--targets ...] [--transports ...]``.

For each scenario, for each target (interleaved so machine noise hits every
target alike): start a fresh uvicorn server, run the load from separate worker
processes, stop the server by PID. The echo scenario does this once per
column (transport + hub protocol) and target, targets interleaved within a
column. A target that fails to start, connect or answer correctly is reported
as FAILED (for that column) and the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.config import ECHO_COLUMNS, FULL, PORT_RANGE, QUICK, RESULTS_DIR, SUBJECT, TARGETS, Profile
from bench.procs import ChildError, ServerProcess, free_port
from bench.scenarios import broadcast, echo

SCENARIOS = ("echo", "broadcast")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the ``bench/run`` command line."""
    parser = argparse.ArgumentParser(prog="bench/run", description="Compare django_signalr with peer realtime servers.")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma list from: {', '.join(TARGETS)}")
    parser.add_argument(
        "--transports",
        default=",".join(ECHO_COLUMNS),
        help=f"echo columns, comma list from: {', '.join(ECHO_COLUMNS)} (default all; only the "
        "SignalR targets have more than ws-json)",
    )
    parser.add_argument(
        "--lp-lenient",
        action="store_true",
        help="echo: if a server holds the first long poll, send the handshake anyway (flagged) instead "
        "of failing the column",
    )
    parser.add_argument("--duration", type=float, help="echo window and broadcast step length, seconds")
    parser.add_argument("--quick", action="store_true", help="short windows (whole run ~3 min)")
    parser.add_argument("--rates", help="broadcast sender rates, comma list of msg/s (default 2,5,10,20,40,80,120,160)")
    parser.add_argument("--receivers", type=int, help="broadcast receiver connections (default 1000)")
    parser.add_argument("--receiver-procs", type=int, help="load processes sharing the receivers (default 1)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per target, interleaved; the best is reported (noise only slows)",
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets.split(",") if t and t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    columns = [c for c in args.transports.split(",") if c]
    unknown = [c for c in columns if c not in ECHO_COLUMNS]
    if unknown or not columns:
        parser.error(f"unknown or no transport column(s): {', '.join(unknown)}; pick from {', '.join(ECHO_COLUMNS)}")
    return args


def build_profile(args: argparse.Namespace) -> Profile:
    """Start from the quick or full profile and apply command-line overrides."""
    profile = QUICK if args.quick else FULL
    echo_params, bc_params = profile.echo, profile.broadcast
    columns = tuple(c for c in ECHO_COLUMNS if c in args.transports.split(","))  # canonical order
    echo_params = dataclasses.replace(echo_params, columns=columns, lp_lenient=args.lp_lenient)
    if args.duration:
        echo_params = dataclasses.replace(echo_params, duration=args.duration)
        bc_params = dataclasses.replace(bc_params, step_seconds=args.duration)
    if args.rates:
        bc_params = dataclasses.replace(bc_params, rates=tuple(int(r) for r in args.rates.split(",")))
    if args.receivers:
        bc_params = dataclasses.replace(bc_params, receivers=args.receivers)
    if args.receiver_procs:
        bc_params = dataclasses.replace(bc_params, receiver_procs=args.receiver_procs)
    return Profile(profile.name, echo_params, bc_params)


async def run_one(
    scenario: str, name: str, port: int, profile: Profile, log_dir: Path, column: str = "ws-json"
) -> dict[str, Any]:
    """Start ``name``'s server, run ``scenario`` (echo: its ``column``), always stop it.

    Failures become a record with ``status: failed``.
    """
    target = TARGETS[name]
    label = f"{scenario}.{column}" if scenario == "echo" else scenario
    server = ServerProcess(target, free_port(port), log_dir / f"{name}.{label}.server.log")
    began = time.monotonic()
    try:
        await server.start()
        if scenario == "echo":
            result = await echo.run(server, target, profile.echo, log_dir, column)
        else:
            result = await broadcast.run(
                server,
                target,
                profile.broadcast,
                log_dir,
                on_step=lambda s: print(report.step_line(name, s), flush=True),
            )
    except (ChildError, OSError, TimeoutError) as exc:
        tail = server.log_tail() if server.proc is not None else ""
        message = f"{exc}" + (f" [server log: {tail}]" if tail and tail not in str(exc) else "")
        result = {"status": "failed", "error": message}
        if scenario == "echo":
            result["column"] = column
    finally:
        await server.stop()
    result["elapsed_s"] = round(time.monotonic() - began, 1)
    return result


async def run_echo(names: list[str], profile: Profile, repeat: int, log_dir: Path) -> dict[str, dict[str, Any]]:
    """Run every selected echo column on every target that has it; targets interleaved within a column.

    Returns ``{target: {**ws-json figures, "columns": {column: figures}}}``:
    the ws-json figures stay at the top level (the historical shape) and
    every column run, ws-json included, is under ``columns``.
    """
    plan = [(column, name) for column in profile.echo.columns for name in names if column in TARGETS[name].columns]
    e = profile.echo
    per_run = e.warmup + e.duration + 2.5  # plus server start, connect, stop
    print(
        f" {len(plan)} runs x {max(1, repeat)} (columns {','.join(e.columns)}), "
        f"about {len(plan) * max(1, repeat) * per_run / 60:.1f} min",
        flush=True,
    )
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    for round_ in range(max(1, repeat)):
        if repeat > 1:
            print(f" round {round_ + 1}/{repeat}", flush=True)
        for column, name in plan:
            port = PORT_RANGE[0] + names.index(name)
            result = await run_one("echo", name, port, profile, log_dir / f"r{round_ + 1}", column)
            runs[(column, name)].append(result)
            if result["status"] != "ok":
                print(f"  {name:<{report.NAME_WIDTH}}{column:<11} FAILED: {result['error'][:300]}", flush=True)
            else:
                print(report.echo_line(name, result), flush=True)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        columns = {column: best_run("echo", runs[(column, n)]) for column, n in plan if n == name}
        if not columns:
            continue
        top = dict(columns.get("ws-json", {"status": "not run", "error": "ws-json column not selected"}))
        top["columns"] = columns
        out[name] = top
    return out


def best_run(scenario: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pick the best of a target's runs (machine noise can only make a run slower); keep all in ``runs``."""
    key = "round_trips_per_s" if scenario == "echo" else "max_clean_delivered_per_s"
    ok = [r for r in runs if r["status"] == "ok"]
    best = dict(max(ok, key=lambda r: r[key]) if ok else runs[-1])
    if len(runs) > 1:
        best["runs"] = runs
    return best


async def run(args: argparse.Namespace) -> int:
    """Run the selected scenarios over the selected targets; print and save the results."""
    profile = build_profile(args)
    names = [t for t in args.targets.split(",") if t]
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS_DIR / f"{stamp}-logs"
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    print(f"bench: profile={profile.name} scenarios={','.join(scenarios)} targets={','.join(names)}", flush=True)
    for scenario in scenarios:
        print(f"\n== {scenario} ==", flush=True)
        if scenario == "echo":
            results["echo"] = await run_echo(names, profile, args.repeat, log_dir)
            continue
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_ in range(max(1, args.repeat)):
            if args.repeat > 1:
                print(f" round {round_ + 1}/{args.repeat}", flush=True)
            for index, name in enumerate(names):
                result = await run_one(scenario, name, PORT_RANGE[0] + index, profile, log_dir / f"r{round_ + 1}")
                runs[name].append(result)
                if result["status"] != "ok":
                    print(f"  {name:<{report.NAME_WIDTH}}FAILED: {result['error'][:300]}", flush=True)
        results[scenario] = {name: best_run(scenario, name_runs) for name, name_runs in runs.items()}
    print()
    if "echo" in results:
        e = profile.echo
        title = f"Echo ({e.connections} closed-loop conns, {e.payload_bytes} B, {e.duration:.0f} s window):"
        print("\n".join([title, *report.echo_table(results["echo"]), ""]))
    if "broadcast" in results:
        b = profile.broadcast
        title = f"Broadcast ({b.receivers} receivers; clean = nothing lost and p99 < {b.clean_p99:.0f} s):"
        print("\n".join([title, *report.broadcast_table(results["broadcast"]), ""]))
    ratio_table = report.ratios(results) if SUBJECT in names else {}
    column_ratios = report.column_ratios(results["echo"]) if SUBJECT in names and "echo" in results else {}
    if ratio_table or column_ratios:
        print("\n".join(["Ratios:", *report.ratio_lines(ratio_table), *report.column_ratio_lines(column_ratios)]))
    out = RESULTS_DIR / f"{stamp}.json"
    report.write_json(
        out,
        {
            "timestamp": stamp,
            "profile": profile.as_dict(),
            "repeat": args.repeat,
            "targets": {n: dataclasses.asdict(TARGETS[n]) for n in names},
            "machine": {
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
            },
            "results": results,
            "ratios": {**ratio_table, "echo_columns": column_ratios},
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    print(f"\nresults: {out.relative_to(RESULTS_DIR.parent.parent)}  (server/worker logs in {log_dir.name}/)")
    print(f"elapsed: {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``bench/run``."""
    return asyncio.run(run(parse_args(sys.argv[1:] if argv is None else argv)))

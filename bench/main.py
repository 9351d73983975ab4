"""Command line and orchestration: ``bench/run [--cases ...] [--targets ...] [--quick] [--repeat N]``.

For each case (``bench.config.CASES``: a scenario with its sizing, server, layer and column),
for each selected target that can run it (interleaved, so machine noise hits every target
alike): start a fresh server, run the load from separate uvloop worker processes, stop the
server by PID. A target that fails to start, connect or answer correctly is reported as
FAILED for that case and the run goes on. Prints the results matrix, the ratios and the
issue's targets; writes ``bench/results/<timestamp>.json`` and ``<timestamp>.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.config import CASES, FULL, PORT_RANGE, QUICK, RESULTS_DIR, SUBJECT, TARGETS, Case, Profile, runs_case
from bench.procs import ChildError, ServerProcess, free_port
from bench.scenarios import broadcast, echo

#: Targets run by default: every one but the registry-cost variant (ask for it by name).
DEFAULT_TARGETS = [name for name in TARGETS if name != "django_signalr_noregistry"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the ``bench/run`` command line."""
    parser = argparse.ArgumentParser(prog="bench/run", description="Compare django_signalr with peer realtime servers.")
    default_cases = [key for key, case in CASES.items() if not case.extra]
    parser.add_argument(
        "--cases",
        default=",".join(default_cases),
        help=f"comma list, or 'all' (default: {', '.join(default_cases)}); more: "
        + ", ".join(key for key, case in CASES.items() if case.extra),
    )
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS), help=f"comma list from: {', '.join(TARGETS)}")
    parser.add_argument(
        "--lp-lenient",
        action="store_true",
        help="echo: if a server holds the first long poll, send the handshake anyway (flagged) instead of failing",
    )
    parser.add_argument("--duration", type=float, help="echo window and broadcast step length, seconds")
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke run, figures are rough)")
    parser.add_argument("--rates", help="broadcast sender rates for every broadcast case, comma list of msg/s")
    parser.add_argument("--repeat", type=int, default=1, help="runs per target, interleaved; the best is reported")
    parser.add_argument(
        "--report", type=Path, metavar="RESULTS_JSON", help="print the tables of an earlier run and redraw its chart"
    )
    args = parser.parse_args(argv)
    if args.cases == "all":
        args.cases = ",".join(CASES)
    for option, known in (("targets", TARGETS), ("cases", CASES)):
        unknown = [name for name in getattr(args, option).split(",") if name and name not in known]
        if unknown:
            parser.error(f"unknown {option}: {', '.join(unknown)}")
    return args


def build_profile(args: argparse.Namespace) -> Profile:
    """Start from the quick or full profile and apply command-line overrides."""
    profile = QUICK if args.quick else FULL
    echo_params = dataclasses.replace(profile.echo, lp_lenient=args.lp_lenient)
    bc_params = profile.broadcast
    if args.duration:
        echo_params = dataclasses.replace(echo_params, duration=args.duration)
        bc_params = dataclasses.replace(bc_params, step_seconds=args.duration)
    return Profile(profile.name, echo_params, bc_params)


def with_rates(case: Case, rates: str | None) -> Case:
    """``case`` with the ``--rates`` override, if any (broadcast cases only)."""
    if not rates or case.scenario != "broadcast":
        return case
    return dataclasses.replace(case, rates=tuple(int(r) for r in rates.split(",")))


async def run_one(case: Case, name: str, port: int, profile: Profile, log_dir: Path) -> dict[str, Any]:
    """Start ``name``'s server for ``case``, run it, always stop the server; failures become a
    record with ``status: failed``."""
    target = TARGETS[name]
    server_kind = "own" if target.command else case.server
    server = ServerProcess(
        target, free_port(port), log_dir / f"{case.key}.{name}.server.log", server=server_kind, layer=case.layer
    )
    began = time.monotonic()
    try:
        await server.start()
        if case.scenario == "echo":
            result = await echo.run(server, target, profile.echo_params(case), log_dir / case.key)
            print(report.echo_line(name, result), flush=True)
        else:
            result = await broadcast.run(
                server,
                target,
                profile.broadcast_params(case),
                log_dir / case.key,
                on_step=lambda s: print(report.step_line(name, s), flush=True),
            )
    except (ChildError, OSError, TimeoutError) as exc:
        tail = server.log_tail() if server.proc is not None else ""
        message = f"{exc}" + (f" [server log: {tail}]" if tail and tail not in str(exc) else "")
        result = {"status": "failed", "error": message}
        print(f"  {name:<{report.NAME_WIDTH}}FAILED: {message[:300]}", flush=True)
    finally:
        await server.stop()
    result["elapsed_s"] = round(time.monotonic() - began, 1)
    return result


def best_run(case: Case, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pick the best of a target's runs (machine noise can only make a run slower); keep all in ``runs``."""
    key = "round_trips_per_s" if case.scenario == "echo" else "max_clean_delivered_per_s"
    ok = [r for r in runs if r["status"] == "ok"]
    best = dict(max(ok, key=lambda r: r[key]) if ok else runs[-1])
    if len(runs) > 1:
        best["runs"] = runs
    return best


async def run(args: argparse.Namespace) -> int:
    """Run the selected cases over the selected targets; print and save the results."""
    profile = build_profile(args)
    names = [t for t in args.targets.split(",") if t]
    cases = [with_rates(CASES[key], args.rates) for key in args.cases.split(",") if key]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    log_dir = RESULTS_DIR / f"{stamp}-logs"
    results: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    print(f"bench: profile={profile.name} cases={','.join(c.key for c in cases)} targets={','.join(names)}", flush=True)
    for case in cases:
        runners = [name for name in names if runs_case(TARGETS[name], case)]
        if not runners:
            continue
        print(f"\n== {case.key}: {case.title} ==", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
        for round_ in range(max(1, args.repeat)):
            for name in runners:
                port = PORT_RANGE[0] + names.index(name)
                runs[name].append(await run_one(case, name, port, profile, log_dir / f"r{round_ + 1}"))
        results[case.key] = {name: best_run(case, name_runs) for name, name_runs in runs.items()}

    ratios, checks = summarize(results, names)
    out = RESULTS_DIR / f"{stamp}.json"
    chart = RESULTS_DIR / f"{stamp}.png"
    report.chart(results, names, chart)
    report.write_json(
        out,
        {
            "timestamp": stamp,
            "profile": profile.as_dict(),
            "cases": {case.key: dataclasses.asdict(case) for case in cases},
            "repeat": args.repeat,
            "targets": {n: dataclasses.asdict(TARGETS[n]) for n in names},
            "machine": {
                "cpus": os.cpu_count(),
                "loadavg_at_end": os.getloadavg(),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
            },
            "results": results,
            "ratios": ratios,
            "targets_met": checks,
            "elapsed_s": round(time.monotonic() - started, 1),
        },
    )
    base = RESULTS_DIR.parent.parent
    print(f"\nresults: {out.relative_to(base)}, chart: {chart.relative_to(base)} (logs in {log_dir.name}/)")
    print(f"elapsed: {time.monotonic() - started:.0f} s")
    return 0


def summarize(
    results: dict[str, dict[str, dict[str, Any]]], names: list[str]
) -> tuple[dict[str, dict[str, float]], list[dict[str, Any]]]:
    """Print the matrix, the ratios and the targets; return the ratios and the target checks."""
    ratios = report.ratio_matrix(results) if SUBJECT in names else {}
    checks = report.target_checks(ratios)
    print()
    print("\n".join([*report.matrix_lines(results, names), "", *report.ratio_lines(ratios), ""]))
    print("\n".join(report.target_lines(checks)))
    return ratios, checks


def rereport(path: Path) -> int:
    """``--report``: the tables of a results file, and its chart drawn again beside it."""
    document = json.loads(path.read_text())
    names = list(document["targets"])
    summarize(document["results"], names)
    print("\n".join(["", *report.markdown_lines(document["results"], names)]))
    report.chart(document["results"], names, path.with_suffix(".png"))
    print(f"\nchart: {path.with_suffix('.png')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point used by ``bench/run``."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.report is not None:
        return rereport(args.report)
    return asyncio.run(run(args))

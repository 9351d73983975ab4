"""Printing the tables and ratios, and writing ``bench/results/<timestamp>.json``.

Ratios are always ``django_signalr / peer`` for throughput figures (above
1.00x means django_signalr is faster) and for p50/p99 latency (below 1.00x
means django_signalr is snappier). The echo scenario has one row per target
and column (transport + hub protocol), and per-column ratios against the
peers that speak SignalR too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.config import SUBJECT, TARGETS

#: Width of the target-name column: the longest name and a space.
NAME_WIDTH = max(map(len, TARGETS)) + 1


def _fmt(value: float | None, spec: str = ".0f") -> str:
    """Format a number or show ``-`` for missing values."""
    return "-" if value is None else format(value, spec)


_SHORT = {"server": "srv", "client": "cli", "sender": "snd", "other": "oth"}
#: CPU (in cores) used by unrelated processes above which a figure is flagged as noisy.
NOISY = 0.25
#: CPU (in cores) of the load client (echo) above which the figure may be the client's limit.
CLIENT_BOUND = 0.90


def _cpu(cpu: dict[str, float | None]) -> str:
    """Compact CPU shares, e.g. ``srv 0.98 cli 0.55 oth 0.02`` (receivers as rcv0, rcv1...)."""
    names = ["server", "client", *sorted(k for k in cpu if k.startswith("receivers")), "other"]
    parts = [f"{_SHORT.get(n, n.replace('receivers', 'rcv'))} {_fmt(cpu[n], '.2f')}" for n in names if n in cpu]
    flag = "  NOISY" if (cpu.get("other") or 0.0) > NOISY else ""
    if (cpu.get("client") or 0.0) >= CLIENT_BOUND:
        flag += "  CLIENT-BOUND"
    return " ".join(parts) + flag


def step_line(target: str, step: dict[str, Any]) -> str:
    """One live progress line per broadcast step."""
    cpu = _cpu(step["cpu"])
    if step["clean"]:
        flag = "clean"
    elif step.get("disordered"):
        flag = "DUP"  # duplicated or reordered deliveries
    else:
        flag = "LOSS" if step["lost"] > 0 else "slow"
    return (
        f"  {target:<{NAME_WIDTH}}{step['rate']:>4} msg/s  offered {step['offered_per_s']:>6}/s  "
        f"delivered {step['delivered_per_s']:>8.0f}/s  lost {step['lost']:>6}  "
        f"p50 {_fmt(step['p50_ms'], '.1f'):>7} ms  p99 {_fmt(step['p99_ms'], '.1f'):>7} ms  "
        f"{flag:<5}  cpu[{cpu}]"
    )


def _columns(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A target's echo records per column (older result files have only the top-level ws-json one)."""
    columns: dict[str, dict[str, Any]] | None = res.get("columns")
    return columns if columns is not None else {"ws-json": res}


def echo_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Echo summary: round trips/s, p50/p99 and CPU shares per target and column.

    A ``*`` marks figures whose client had to tolerate a protocol deviation;
    the notes are listed under the table.
    """
    lines = [
        f"{'target':<{NAME_WIDTH}}{'column':<12}{'round trips/s':>14}{'p50 ms':>9}{'p99 ms':>9}"
        "   cpu in cores during the window"
    ]
    notes: list[str] = []
    for name, res in results.items():
        shown = name
        for column, col in _columns(res).items():
            if col.get("status") != "ok":
                lines.append(f"{shown:<{NAME_WIDTH}}{column:<12}{'FAILED':>14}   {col.get('error', '')[:120]}")
            else:
                flag = "*" if col.get("notes") else " "
                notes.extend(f"* {name} {column}: {note}" for note in col.get("notes", ()))
                p50, p99 = _fmt(col["p50_ms"], ".2f"), _fmt(col["p99_ms"], ".2f")
                lines.append(
                    f"{shown:<{NAME_WIDTH}}{column:<12}{col['round_trips_per_s']:>13.0f}{flag}{p50:>9}{p99:>9}"
                    f"   {_cpu(col['cpu'])}"
                )
            shown = ""
    return lines + notes


def broadcast_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Broadcast summary: highest clean delivery rate (nothing lost, p99 < 1 s) per target."""
    head = f"{'target':<{NAME_WIDTH}}{'max clean deliveries/s':>23}{'at msg/s':>9}{'p99 ms':>9}"
    lines = [head + "   stopped because / cpu at that step"]
    for name, res in results.items():
        if res.get("status") != "ok":
            lines.append(f"{name:<{NAME_WIDTH}}{'FAILED':>23}   {res.get('error', '')[:160]}")
            continue
        lines.append(
            f"{name:<{NAME_WIDTH}}{res['max_clean_delivered_per_s']:>23.0f}{_fmt(res['max_clean_rate'], 'd'):>9}"
            f"{_fmt(res['max_clean_p99_ms'], '.1f'):>9}   {res['stop_reason']}"
            + (f" / {_cpu(res['max_clean_cpu'])}" if res.get("max_clean_cpu") else "")
        )
    return lines


def ratios(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float | str]]:
    """``django_signalr / peer`` for echo round trips/s, echo p99 and broadcast max clean rate."""
    figures = {
        "echo_round_trips_per_s": ("echo", "round_trips_per_s"),
        "echo_p99_ms": ("echo", "p99_ms"),
        "broadcast_max_clean_per_s": ("broadcast", "max_clean_delivered_per_s"),
    }
    out: dict[str, dict[str, float | str]] = {}
    for label, (scenario, key) in figures.items():
        by_target = results.get(scenario)
        if not by_target:
            continue
        ours = by_target.get(SUBJECT, {})
        if ours.get("status") == "not run":  # echo without the ws-json column: see column_ratios
            continue
        row: dict[str, float | str] = {}
        for peer, res in by_target.items():
            if peer == SUBJECT:
                continue
            if ours.get("status") != "ok":
                row[peer] = f"n/a ({SUBJECT} {ours.get('status', 'failed')})"
            elif res.get("status") != "ok":
                row[peer] = f"n/a ({peer} {res.get('status', 'failed')})"
            elif not res.get(key) or ours.get(key) is None:
                row[peer] = "n/a (zero or missing)"
            else:
                row[peer] = ours[key] / res[key]
        out[label] = row
    return out


#: Echo figures compared per column, and whether higher is better.
_COLUMN_FIGURES = {"round_trips_per_s": True, "p50_ms": False, "p99_ms": False}


def column_ratios(echo: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float | str]]]:
    """``django_signalr / peer`` per echo column, against each peer with the same wire protocol.

    Returns ``{column: {peer: {figure: ratio or "n/a (...)"}}}`` (figures:
    round trips/s, p50 ms, p99 ms). Only columns the subject ran appear.
    """
    ours_by_column = _columns(echo[SUBJECT]) if SUBJECT in echo else {}
    protocol = TARGETS[SUBJECT].protocol
    out: dict[str, dict[str, dict[str, float | str]]] = {}
    for column, ours in ours_by_column.items():
        for peer, res in echo.items():
            if peer == SUBJECT or peer not in TARGETS or TARGETS[peer].protocol != protocol:
                continue
            theirs = _columns(res).get(column)
            if theirs is None:
                continue
            row: dict[str, float | str] = {}
            for key in _COLUMN_FIGURES:
                if ours.get("status") != "ok":
                    row[key] = f"n/a ({SUBJECT} failed)"
                elif theirs.get("status") != "ok":
                    row[key] = f"n/a ({peer} failed)"
                elif not theirs.get(key) or ours.get(key) is None:
                    row[key] = "n/a (zero or missing)"
                else:
                    row[key] = ours[key] / theirs[key]
            if theirs.get("notes") or ours.get("notes"):
                row["flagged"] = "a side tolerated a protocol deviation (see notes)"
            out.setdefault(column, {})[peer] = row
    return out


def column_ratio_lines(table: dict[str, dict[str, dict[str, float | str]]]) -> list[str]:
    """Human form of :func:`column_ratios`: one line per column and peer."""
    if not table:
        return []
    lines = [
        f"echo per column, {SUBJECT}/peer (round trips/s: above 1 is better; p50, p99: below 1 is better):",
        f"  {'column':<12}{'peer':<13}{'round trips/s':>14}{'p50':>8}{'p99':>8}",
    ]
    for column, peers in table.items():
        for peer, row in peers.items():
            values = [row[key] for key in _COLUMN_FIGURES]
            if all(isinstance(v, float) for v in values):
                shown = "".join(f"{v:>{w}.2f}x" for v, w in zip(values, (13, 7, 7), strict=True))
                shown += "  *" if "flagged" in row else ""
            else:
                shown = f"  {next(v for v in values if isinstance(v, str))}"
            lines.append(f"  {column:<12}{peer:<13}{shown}")
    return lines


def ratio_lines(table: dict[str, dict[str, float | str]]) -> list[str]:
    """Human form of :func:`ratios`, e.g. ``django_signalr/aiosignalr = 1.12x``."""
    notes = {
        "echo_round_trips_per_s": "echo ws-json round trips/s (higher is better)",
        "echo_p99_ms": "echo ws-json p99 latency (lower is better)",
        "broadcast_max_clean_per_s": "broadcast max clean deliveries/s (higher is better)",
    }
    lines: list[str] = []
    for label, row in table.items():
        lines.append(f"{notes[label]}:")
        for peer, value in row.items():
            shown = f"{value:.2f}x" if isinstance(value, float) else value
            lines.append(f"  {SUBJECT}/{peer} = {shown}")
    return lines


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the full results document (creating ``bench/results/``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


def echo_line(target: str, result: dict[str, Any]) -> str:
    """One live progress line per echo run."""
    return (
        f"  {target:<{NAME_WIDTH}}{result.get('column', 'ws-json'):<11} {result['round_trips_per_s']:>8.0f} rt/s"
        f"  p50 {_fmt(result['p50_ms'], '.2f')} ms"
        f"  p99 {_fmt(result['p99_ms'], '.2f')} ms  cpu[{_cpu(result['cpu'])}]"
    )

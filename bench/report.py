"""Printing the results matrix, its ratios and the issue's targets; writing the results JSON
and the PNG chart.

One row per case (``bench.config.CASES``), one column per target. A case's figure is round
trips/s (echo) or the highest clean delivery rate (broadcast, groups: nothing lost, p99 under
1 s). Two more rows come from ``broadcast-5k``: the receivers' connect rate and the server's
memory per idle connection. Ratios are ``django_signalr / peer`` in the same case (for memory,
lower is better).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.config import CASES, SUBJECT, TARGETS

#: Width of the target-name column: the longest name and a space.
NAME_WIDTH = max(map(len, TARGETS)) + 1


def _fmt(value: float | None, spec: str = ".0f") -> str:
    """Format a number or show ``-`` for missing values."""
    return "-" if value is None else format(value, spec)


def _number(value: float | None) -> str:
    """``12,345`` for large figures, ``4.2`` for small ones (KiB), ``-`` for none."""
    return _fmt(value, ",.0f" if (value or 0) >= 100 else ".1f")


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


#: Derived rows: (key, title, case they come from, how to read the figure, higher is better).
DERIVED = (
    ("connect", "connect rate, 5,000 conns, 50 in flight (conns/s)", "broadcast-5k", ("connect", "per_s"), True),
    ("memory", "memory per idle connection at 5,000 (KiB)", "broadcast-5k", ("memory", "per_connection_bytes"), False),
)

#: The issue's targets: (row, peer, lowest acceptable ours/peer; for memory the highest).
TARGET_RATIOS = (
    ("echo", "aiosignalr", 1.25),
    ("echo", "socketio", 2.0),
    ("echo", "channels_ceiling", 0.5),
    ("broadcast-1k", "aiosignalr", 1.0),
    ("broadcast-1k", "socketio", 2.0),
    ("broadcast-5k", "aiosignalr", 1.0),
    ("broadcast-5k", "socketio", 2.0),
    ("memory", "aiosignalr", 1.0),
)


def figure(row: str, result: dict[str, Any]) -> float | None:
    """The figure of a row (a case key or a derived key) in one target's result."""
    if result.get("status") != "ok":
        return None
    for key, _title, _case, (section, name), _higher in DERIVED:
        if key == row:
            part = result.get(section) or {}
            value = part.get(name)
            return None if value is None else value / 1024 if key == "memory" else value
    key = "round_trips_per_s" if CASES[row].scenario == "echo" else "max_clean_delivered_per_s"
    value = result.get(key)
    return None if value is None else float(value)


def rows(results: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, float | None], bool]]:
    """(row key, title, {target: figure}, higher is better) for every case run and derived row."""
    out = []
    for key, by_target in results.items():
        out.append((key, CASES[key].title, {t: figure(key, r) for t, r in by_target.items()}, True))
    for key, title, source, _where, higher in DERIVED:
        if source in results:
            out.append((key, title, {t: figure(key, r) for t, r in results[source].items()}, higher))
    return out


def matrix_lines(results: dict[str, dict[str, dict[str, Any]]], targets: list[str]) -> list[str]:
    """The results matrix: a row per case, a column per target (``-``: did not run or failed)."""
    width = max(len(t) for t in targets) + 2
    lines = [f"{'':<58}" + "".join(f"{t:>{width}}" for t in targets)]
    for _key, title, figures, _higher in rows(results):
        cells = "".join(f"{_number(figures.get(t)):>{width}}" for t in targets)
        lines.append(f"{title[:57]:<58}{cells}")
    return lines


def markdown_lines(results: dict[str, dict[str, dict[str, Any]]], targets: list[str]) -> list[str]:
    """The matrix as a Markdown table (for the README), ours first."""
    order = [SUBJECT, *(t for t in targets if t != SUBJECT)] if SUBJECT in targets else targets
    lines = ["| case | " + " | ".join(order) + " |", "|---|" + "---:|" * len(order)]
    for _key, title, figures, _higher in rows(results):
        cells = [_number(figures.get(t)) for t in order]
        if SUBJECT in targets:
            cells[0] = f"**{cells[0]}**"
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines


def ratio_matrix(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """``{row: {peer: ours / peer}}`` wherever both figures exist; infinite where the peer
    scored 0 (no clean broadcast step at all) and we did not."""
    out: dict[str, dict[str, float]] = {}
    for key, _title, figures, _higher in rows(results):
        ours = figures.get(SUBJECT)
        if not ours:
            continue
        out[key] = {
            peer: ours / theirs if theirs else math.inf
            for peer, theirs in figures.items()
            if peer != SUBJECT and theirs is not None
        }
    return out


def _ratio(value: float) -> str:
    return "inf (peer: none clean)" if math.isinf(value) else f"{value:.2f}x"


def ratio_lines(ratios: dict[str, dict[str, float]]) -> list[str]:
    """``django_signalr / peer`` per row."""
    lines = [f"{SUBJECT} / peer (memory: lower is better; everything else: higher is better):"]
    for key, peers in ratios.items():
        shown = "  ".join(f"{peer} {_ratio(value)}" for peer, value in peers.items())
        lines.append(f"  {key:<22}{shown}")
    return lines


def target_checks(ratios: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """The issue's targets against this run's ratios (``ok`` is None where not measured)."""
    checks = []
    for row, peer, bound in TARGET_RATIOS:
        value = ratios.get(row, {}).get(peer)
        higher = row != "memory"
        ok = None if value is None else value >= bound if higher else value <= bound
        checks.append({"row": row, "peer": peer, "bound": bound, "higher_is_better": higher, "ratio": value, "ok": ok})
    return checks


def target_lines(checks: list[dict[str, Any]]) -> list[str]:
    """PASS/FAIL per target."""
    lines = ["targets (ratios in this run):"]
    for check in checks:
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[check["ok"]]
        sign = ">=" if check["higher_is_better"] else "<="
        shown = "-" if check["ratio"] is None else _ratio(check["ratio"])
        lines.append(f"  {check['row']:<14}vs {check['peer']:<18}{sign} {check['bound']:.2f}x  {shown:>7}  {verdict}")
    return lines


def chart(results: dict[str, dict[str, dict[str, Any]]], targets: list[str], path: Path) -> None:
    """One bar chart per row, every target side by side, ours highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [row for row in rows(results) if any(v is not None for v in row[2].values())]
    columns = 3
    lines = -(-len(table) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(5.2 * columns, 2.9 * lines), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, (_key, title, figures, higher) in zip(axes.flat, table, strict=False):
        names = [t for t in targets if figures.get(t) is not None]
        values = [figures[t] or 0.0 for t in names]
        bars = ax.barh(names, values, color=[colors(targets.index(t)) for t in names])
        for bar, name in zip(bars, names, strict=True):
            if name == SUBJECT:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
        ax.invert_yaxis()
        ax.set_title(title + ("" if higher else " (lower is better)"), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.bar_label(bars, labels=[_number(v) for v in values], fontsize=6, padding=2)
    for ax in list(axes.flat)[len(table) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write the full results document (creating ``bench/results/``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(document), indent=2, default=str, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    """The document with infinite ratios as the string ``"inf"`` (JSON has no infinity)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def echo_line(target: str, result: dict[str, Any]) -> str:
    """One live progress line per echo run."""
    return (
        f"  {target:<{NAME_WIDTH}}{result.get('column', 'ws-json'):<11} {result['round_trips_per_s']:>8.0f} rt/s"
        f"  p50 {_fmt(result['p50_ms'], '.2f')} ms"
        f"  p99 {_fmt(result['p99_ms'], '.2f')} ms  cpu[{_cpu(result['cpu'])}]"
    )

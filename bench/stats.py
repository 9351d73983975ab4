"""Latency histograms and CPU accounting shared by workers and the orchestrator.

Workers collect raw latencies in a list (an append is the cheapest thing on the
hot path) and turn them into a log-bucket histogram only when reporting, so
histograms from several load processes can be merged before taking
percentiles. 200 buckets per decade = 1.2 % relative resolution.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping

BUCKETS_PER_DECADE = 200
_SCALE = BUCKETS_PER_DECADE / math.log(10)
_FLOOR = 1e-7  # 0.1 µs; anything smaller (clock granularity) lands in the first bucket


def histogram(latencies: Iterable[float]) -> dict[int, int]:
    """Bucket latencies (seconds) into ``{bucket: count}`` (bucket = floor(log10(s) * 200))."""
    log = math.log
    return dict(Counter(math.floor(log(max(lat, _FLOOR)) * _SCALE) for lat in latencies))


def merge(histograms: Iterable[Mapping[int | str, int]]) -> dict[int, int]:
    """Sum histograms (keys may arrive as strings after a JSON round trip)."""
    total: Counter[int] = Counter()
    for hist in histograms:
        for key, count in hist.items():
            total[int(key)] += count
    return dict(total)


def percentile(hist: Mapping[int, int], fraction: float) -> float | None:
    """Return the ``fraction`` quantile (0..1) in seconds at bucket midpoint, or None if empty."""
    count = sum(hist.values())
    if count == 0:
        return None
    rank = max(1, math.ceil(fraction * count))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return float(10 ** ((bucket + 0.5) / BUCKETS_PER_DECADE))
    raise AssertionError("unreachable")


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU seconds consumed so far by ``pid`` (Linux /proc), or None if it is gone.

    Used to tell who saturates during a window: a process near 1.0 CPU-s per
    wall-second is pegging a core.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float:
    """CPU-seconds all cores spent busy since boot (/proc/stat; iowait and idle excluded)."""
    with open("/proc/stat", "rb") as handle:
        fields = handle.readline().split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS

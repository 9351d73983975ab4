"""CPU share of named processes over a window — how the harness spots who saturates."""

from __future__ import annotations

import os
import time

from bench.stats import cpu_seconds, machine_busy_seconds


class CpuMeter:
    """Samples /proc CPU time of several PIDs at :meth:`start` and :meth:`stop`.

    The result is CPU-seconds per wall-second per process (1.0 = one core
    pegged). On the 2-core bench machine a load worker near 1.0 means the
    client, not the server, may be limiting the figure. ``other`` is the CPU
    used by everything else on the machine in the same window (noise: other
    users' builds and tests); a large value means the figure is suspect.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        """``pids`` maps a label (``server``, ``client``, ``receivers0``...) to a PID."""
        self.pids = pids
        self._start: dict[str, float | None] = {}
        self._t0 = 0.0
        self._machine = 0.0

    def start(self) -> None:
        """Take the opening sample."""
        self._t0 = time.monotonic()
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._start["harness"] = cpu_seconds(os.getpid())
        self._machine = machine_busy_seconds()

    def stop(self) -> dict[str, float | None]:
        """Return CPU fraction per label since :meth:`start` (None if a process vanished)."""
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        machine = (machine_busy_seconds() - self._machine) / elapsed
        shares: dict[str, float | None] = {}
        for name, pid in {**self.pids, "harness": os.getpid()}.items():
            before, after = self._start.get(name), cpu_seconds(pid)
            shares[name] = None if before is None or after is None else round((after - before) / elapsed, 3)
        ours = sum(v for v in shares.values() if v is not None)
        shares["other"] = round(max(0.0, machine - ours), 3)
        return shares

"""CPU threads that follow the cores actually free while a fit runs.

torch's intra-op pool synchronises its threads at the end of every operation, and medl's
operations are small (tens of microseconds). When another process holds some of the cores,
a thread of the pool is descheduled and the others wait for it at every operation: two
2-thread fits on 2 cores each ran 6-8x slower than alone, not 2x (docs/benchmarks.md). So
during a CPU fit the pool is sized, every epoch, to the cores other processes left free
over the last epoch (read from ``/proc/stat`` less this process's own CPU time), between 1
and the thread count the fit started with. Set ``MEDL_ADAPTIVE_THREADS=0`` to keep the
pool as it is.
"""

from __future__ import annotations

import os
import time

import torch


def _busy_jiffies() -> tuple[float, float] | None:
    """(busy, total) CPU time of the whole machine in seconds, or None off Linux.

    Niced processes' time (a background build, ``nice make``) does not count as busy unless
    this process is niced itself: the scheduler hands their cores to the pool whenever it
    asks, so they do not stall it, and counted they would send the fit to one thread.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return None
    values = [float(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    if os.getpriority(os.PRIO_PROCESS, 0) <= 0:
        idle += values[1]  # nice
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


class ThreadGovernor:
    """Sizes torch's thread pool to the free cores; a no-op off Linux, on GPUs, or when
    disabled with ``MEDL_ADAPTIVE_THREADS=0``.

    Parameters
    ----------
    device
        The training device; only ``cpu`` fits are governed.
    min_interval
        Seconds between two decisions (shorter epochs share one sample).
    """

    def __init__(self, device: torch.device, min_interval: float = 1.0) -> None:
        enabled = os.environ.get("MEDL_ADAPTIVE_THREADS", "1") not in ("0", "false", "False")
        self.ceiling = torch.get_num_threads()
        self.enabled = enabled and device.type == "cpu" and self.ceiling > 1
        self.min_interval = min_interval
        self.threads = self.ceiling
        #: every pool size this fit trained with
        self.used = {self.threads}
        self._last = self._sample() if self.enabled else None
        if self._last is None:
            self.enabled = False

    @staticmethod
    def _sample() -> tuple[float, float, float, float] | None:
        busy = _busy_jiffies()
        if busy is None:
            return None
        return (*busy, time.process_time(), time.monotonic())

    def update(self) -> int:
        """Re-size the pool from the CPU use since the last call; the threads now in use."""
        if not self.enabled:
            return self.threads
        now = self._sample()
        if now is None or now[3] - self._last[3] < self.min_interval:
            return self.threads
        busy, _, own, wall = (a - b for a, b in zip(now, self._last))
        self._last = now
        cores = os.cpu_count() or self.ceiling
        others = max(0.0, busy - own) / wall  # cores other processes kept busy
        free = max(1, min(self.ceiling, int(cores - others + 0.5)))
        if free != self.threads:
            torch.set_num_threads(free)
            self.threads = free
            self.used.add(free)
        return self.threads

    def restore(self) -> None:
        """Give the pool back the size it had before the fit."""
        if self.enabled and self.threads != self.ceiling:
            torch.set_num_threads(self.ceiling)
            self.threads = self.ceiling

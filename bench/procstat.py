"""Per-process CPU time and memory read from /proc, for the benchmark's cost columns.

CPU time is ``utime + stime + cutime + cstime`` so that work done by children that exit inside a
measurement window (the process ``docker exec`` starts, reaped by its shim) is still counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its reaped children; 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state): utime..cstime are fields 14..17
    return sum(int(x) for x in fields[11:15]) / _TICK


def total_cpu(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def memory_kib(pid: int, key: str) -> int:
    """A ``VmHWM``/``VmRSS``-style line of /proc/PID/status, in KiB (0 if unavailable)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0, needs ptrace rights); True if done."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True

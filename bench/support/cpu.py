"""CPU time from /proc: of processes, of a process group, and of the whole machine."""

from __future__ import annotations

import os
from collections.abc import Iterable


def _stat_fields(pid: int | str) -> list[str] | None:
    """Return the fields of /proc/PID/stat after the command name (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # Field 3 (state) comes first; pgrp is field 5, utime and stime are fields 14 and 15.
    return stat[stat.rfind(")") + 2 :].split()


def group_pids(pgid: int) -> list[int]:
    """Return the live processes of process group `pgid`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def cpu_by_pid(pids: Iterable[int]) -> dict[int, float]:
    """Return user+system CPU seconds of each live process among `pids`."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            out[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """Return the user+system CPU seconds the live processes among `pids` have used."""
    return sum(cpu_by_pid(pids).values())


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples (processes born in between count from zero)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def machine_busy_seconds() -> float:
    """Return the CPU seconds all cores have spent busy (not idle or waiting on I/O) so far."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already inside user).
    busy = sum(values[:8]) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")

"""CPU time and resident memory of a process tree, read from /proc (Linux only).

A server may fork workers (granian does), so figures are summed over the process and
all its descendants.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; it ends at the last ')'.
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time (proc(5) fields utime and stime) summed over ``pids``."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def rss_kib(pids: list[int]) -> int:
    """Resident set size (proc(5) statm field 2) summed over ``pids``."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except OSError:
            pass
    return total


def core_times(core: int) -> list[int]:
    """The ``cpuN`` line of /proc/stat: user nice system idle iowait irq softirq steal."""
    prefix = f"cpu{core} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            return [int(value) for value in line.split()[1:9]]
    return [0] * 8


def core_shares(before: list[int], after: list[int]) -> dict[str, float]:
    """Idle and softirq time of a core between two readings, in % of the elapsed time.

    An idle share near 0 with the server's own CPU share well below 100 means other
    processes (or softirq work, which Linux does not charge to the server) took the rest.
    """
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    return {"core_idle_pct": 100 * delta[3] / total, "core_softirq_pct": 100 * delta[6] / total}

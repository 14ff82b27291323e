"""CPU time and resident memory of the server and its model processes, read from Linux's /proc.

The Python backend runs each model instance in its own stub process, a child of tritonserver, so
"the server and its models" is the process tree under the server's pid. No psutil: /proc has it all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_MB = 1e6


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat the profiler needs."""

    pid: int
    ppid: int
    start_ticks: int
    cpu_seconds: float
    rss_bytes: int


def parse_stat(text: str) -> ProcStat:
    """Parse the one line of /proc/PID/stat (man 5 proc); the command name may hold spaces and parens."""
    pid = int(text[: text.index(" ")])
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): field n of proc(5) is fields[n - 3]
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        start_ticks=int(fields[19]),
        cpu_seconds=(int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
        rss_bytes=int(fields[21]) * _PAGE_BYTES,
    )


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The stat of one process, or None if it is gone (or /proc does not exist)."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def process_tree(root: int, proc: Path = PROC) -> list[ProcStat]:
    """``root`` and all its descendants that are alive now; empty if ``root`` is gone."""
    stats: dict[int, ProcStat] = {}
    try:
        entries = [entry.name for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for name in entries:
        stat = read_stat(int(name), proc)
        if stat is not None:
            stats[stat.pid] = stat
    if root not in stats:
        return []
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(stats[pid])
        todo.extend(children.get(pid, ()))
    return tree


@dataclass(frozen=True)
class HostSample:
    """Server + model processes at one instant: cumulative CPU seconds (since each started) and RSS."""

    t: float
    cpu_seconds: float
    rss_mb: float
    pids: tuple[int, ...]


class TreeUsage:
    """Cumulative CPU time of a process tree, keeping the CPU time of processes that have exited.

    A stub process exits when its model is unloaded; its last-seen CPU time stays in the total so that
    the cumulative counter never goes down (rates over it stay meaningful).
    """

    def __init__(self, root: int, proc: Path = PROC) -> None:
        self.root = root
        self._proc = proc
        self._last_cpu: dict[tuple[int, int], float] = {}

    def sample(self, t: float) -> HostSample | None:
        """Read the tree now; None once the root process is gone."""
        tree = process_tree(self.root, self._proc)
        if not tree:
            return None
        for stat in tree:
            self._last_cpu[(stat.pid, stat.start_ticks)] = stat.cpu_seconds
        return HostSample(
            t=t,
            cpu_seconds=sum(self._last_cpu.values()),
            rss_mb=sum(stat.rss_bytes for stat in tree) / _MB,
            pids=tuple(stat.pid for stat in tree),
        )

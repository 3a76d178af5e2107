"""CPU time of processes from ``/proc`` (Linux): utime + stime, plus cutime + cstime of the
children a process has waited for (the installer agent's install scripts).

A ``CpuLedger`` follows groups of processes through a measurement window: ``start`` reads every
known process, ``sample`` adds the processes that appeared since (a new PostgreSQL backend) and
keeps the last reading of each, ``spent`` gives the CPU seconds each group spent in the window.
A process that started inside the window counts from zero; one first seen later than the window
start but older than it counts from its first reading (its earlier CPU is not the window's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    comm: str
    ppid: int
    ticks: int
    """utime + stime + cutime + cstime, in clock ticks."""
    start_ticks: int
    """When the process started, in clock ticks after boot."""


def parse_stat(text: str) -> ProcStat:
    """One ``/proc/<pid>/stat`` line. The command name is in parentheses and may itself hold
    spaces and parentheses: the fields after it start at the last ``)``."""
    open_at, close_at = text.index("("), text.rindex(")")
    pid = int(text[:open_at])
    comm = text[open_at + 1:close_at]
    fields = text[close_at + 2:].split()
    # fields[0] is field 3 (state): field n is fields[n - 3]
    utime, stime, cutime, cstime = (int(fields[n - 3]) for n in (14, 15, 16, 17))
    return ProcStat(pid=pid, comm=comm, ppid=int(fields[4 - 3]),
                    ticks=utime + stime + cutime + cstime, start_ticks=int(fields[22 - 3]))


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """The process's stat, or None if it has gone."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError):
        return None


def all_stats(proc: Path = PROC) -> list[ProcStat]:
    stats = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name), proc)
            if stat is not None:
                stats.append(stat)
    return stats


def pids_by_comm(comm: str, proc: Path = PROC,
                 stats: Iterable[ProcStat] | None = None) -> list[int]:
    """Every process whose command name is ``comm`` (``beam.smp``: the RabbitMQ broker), among
    ``stats`` if given (one scan of /proc for several questions)."""
    return [s.pid for s in (all_stats(proc) if stats is None else stats) if s.comm == comm]


def with_descendants(roots: Iterable[int], stats: Iterable[ProcStat]) -> set[int]:
    """The roots and every process below them."""
    children: dict[int, list[int]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, []))
    return found


def uptime_ticks(proc: Path = PROC) -> int:
    return int(float((proc / "uptime").read_text().split()[0]) * TICKS_PER_S)


def rss_bytes(pid: int, proc: Path = PROC) -> int:
    """Resident memory of the process (``VmRSS``)."""
    for line in (proc / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for process {pid}")


@dataclass
class _Followed:
    group: str
    first: int
    last: int


@dataclass
class CpuLedger:
    """CPU seconds spent by groups of processes between ``start`` and the last ``sample``."""

    read: Callable[[int], ProcStat | None] = read_stat
    now_ticks: Callable[[], int] = uptime_ticks
    _followed: dict[int, _Followed] = field(default_factory=dict)
    _start_ticks: int | None = None

    def start(self, groups: Mapping[str, Iterable[int]]) -> None:
        self._followed.clear()
        self._start_ticks = self.now_ticks()
        self.follow(groups)

    def follow(self, groups: Mapping[str, Iterable[int]]) -> None:
        """Read processes not followed yet (a new backend, a child) and every followed one."""
        if self._start_ticks is None:
            raise RuntimeError("start the ledger first")
        for group, pids in groups.items():
            for pid in pids:
                if pid in self._followed:
                    continue
                stat = self.read(pid)
                if stat is None:
                    continue
                born_inside = stat.start_ticks >= self._start_ticks
                self._followed[pid] = _Followed(group, 0 if born_inside else stat.ticks,
                                                stat.ticks)
        self.sample()

    def sample(self) -> None:
        for pid, followed in self._followed.items():
            stat = self.read(pid)
            if stat is not None:  # gone: its last reading stands
                followed.last = stat.ticks

    def spent(self) -> dict[str, float]:
        """CPU seconds per group since ``start``."""
        totals: dict[str, int] = {}
        for followed in self._followed.values():
            totals[followed.group] = (totals.get(followed.group, 0)
                                      + followed.last - followed.first)
        return {group: ticks / TICKS_PER_S for group, ticks in totals.items()}

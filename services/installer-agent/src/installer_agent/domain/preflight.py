"""Pre-flight decisions (A2), pure: which configured desktop processes are still running, and
whether the host has enough free disk. The adapters gather the facts; these decide.

Every refusal says what is wrong *and what to do*; the job prefixes it with "pre-flight: ".
"""

from __future__ import annotations

import csv
import io
import ntpath
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MB = 1024 * 1024
MIN_FREE_DISK_MB = 100  # the floor when no explicit requirement is configured
PACKAGE_SIZE_FACTOR = 2  # unpacked copy + the package itself, as a rule of thumb
LINUX_COMM_LENGTH = 15  # /proc/<pid>/comm keeps the first 15 characters of a name


@dataclass(frozen=True, slots=True)
class RunningProcess:
    """One process on the host: its pid and the names it goes by (comm, argv[0], image)."""

    pid: int
    names: tuple[str, ...]


def process_key(name: str) -> str:
    """A name compared the same way everywhere: its basename, case-folded, without ``.exe``.

    Case-folding and dropping ``.exe`` make "ShopDesk.exe" (Windows) and "shopdesk" the same
    process; matching a little too eagerly only refuses an install, never breaks a desktop.
    """
    base = ntpath.basename(posixpath.basename(name.strip()))
    key = base.casefold()
    return key[:-4] if key.endswith(".exe") else key


def _matches(required: str, seen: str) -> bool:
    want, got = process_key(required), process_key(seen)
    if not want or not got:
        return False
    if want == got:
        return True
    # /proc/<pid>/comm truncates long names: "shopdesk-client-gui" shows as "shopdesk-client".
    return len(got) == LINUX_COMM_LENGTH and len(want) > LINUX_COMM_LENGTH and want.startswith(got)


def still_running(
    required_stopped: Sequence[str], processes: Iterable[RunningProcess], *, own_pid: int = -1
) -> dict[str, list[int]]:
    """For each configured name that is running, the pids running it (the agent excluded)."""
    found: dict[str, list[int]] = {}
    wanted = [name for name in required_stopped if process_key(name)]
    if not wanted:
        return found
    for process in processes:
        if process.pid == own_pid:
            continue
        for name in wanted:
            if any(_matches(name, seen) for seen in process.names):
                found.setdefault(name, []).append(process.pid)
    return {name: sorted(pids) for name, pids in found.items()}


def processes_refusal(running: dict[str, list[int]]) -> str | None:
    """Why the install is refused because of running desktop processes, or None."""
    if not running:
        return None
    listed = ", ".join(
        f"{name} (pid {', '.join(str(pid) for pid in pids)})" for name, pids in running.items()
    )
    return (
        f"{listed} still running on the server; close {'it' if len(running) == 1 else 'them'} "
        "on every desktop of the server host (ask the users to quit), then start the update again"
    )


def required_free_bytes(package_size: int, min_free_disk_mb: int | None) -> int:
    """The free space an install needs: the configured amount, or by default twice the
    package's size and at least 100 MB."""
    if min_free_disk_mb is not None:
        return min_free_disk_mb * MB
    return max(MIN_FREE_DISK_MB * MB, PACKAGE_SIZE_FACTOR * package_size)


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB"


def disk_refusal(free_bytes: int, needed_bytes: int, where: str) -> str | None:
    """Why the install is refused for lack of disk space on ``where``, or None."""
    if free_bytes >= needed_bytes:
        return None
    return (
        f"not enough free disk on {where}: {_mb(free_bytes)} free, {_mb(needed_bytes)} needed; "
        f"free at least {_mb(needed_bytes - free_bytes)} there (old backups, logs, downloads), "
        "then start the update again"
    )


def parse_tasklist(output: str) -> list[RunningProcess]:
    """The processes ``tasklist /FO CSV /NH`` listed: "Image Name","PID",… per line."""
    processes: list[RunningProcess] = []
    for row in csv.reader(io.StringIO(output)):
        if len(row) < 2:
            continue  # blank lines, "INFO: No tasks are running…"
        image, pid = row[0].strip(), row[1].strip().replace(",", "").replace(".", "")
        if image and pid.isdigit():
            processes.append(RunningProcess(int(pid), (image,)))
    return processes


def cmdline_program(cmdline: bytes) -> str | None:
    """argv[0] of a /proc/<pid>/cmdline (NUL-separated), as text; None when empty
    (kernel threads, zombies)."""
    first = cmdline.split(b"\0", 1)[0]
    return first.decode(errors="replace") if first else None

"""The processes running on this host and its free disk: the facts the pre-flight decides on.

Linux: every ``/proc/<pid>`` gives its ``comm`` (the kernel's name, 15 characters at most) and
the basename of argv[0] from ``cmdline`` (what the process calls itself, e.g. ``exec -a``).
Windows: ``tasklist /FO CSV /NH`` (image names such as ``ShopDesk.exe``). Elsewhere:
``ps -A -o pid= -o comm=``. Processes that vanish while being read are simply skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from installer_agent.domain.preflight import RunningProcess, cmdline_program, parse_tasklist

PROC = Path("/proc")
LIST_TIMEOUT_S = 30.0


class ProcessListUnavailable(RuntimeError):
    """The host's processes could not be listed (the check cannot say they are stopped)."""


def _proc_processes(proc: Path) -> list[RunningProcess]:
    processes: list[RunningProcess] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        names: list[str] = []
        try:
            names.append((entry / "comm").read_text(errors="replace").strip())
            program = cmdline_program((entry / "cmdline").read_bytes())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone meanwhile, or not ours to read (hidepid): nothing to see
        if program:
            names.append(os.path.basename(program))
        processes.append(RunningProcess(int(entry.name), tuple(n for n in names if n)))
    return processes


def _run_listing(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=LIST_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProcessListUnavailable(f"{argv[0]} could not be run: {exc}") from exc
    if done.returncode != 0:
        raise ProcessListUnavailable(
            f"{' '.join(argv)} exited with code {done.returncode}: {done.stderr.strip()[:200]}"
        )
    return done.stdout


def _ps_processes() -> list[RunningProcess]:
    processes = []
    for line in _run_listing(["ps", "-A", "-o", "pid=", "-o", "comm="]).splitlines():
        pid, _, name = line.strip().partition(" ")
        if pid.isdigit() and name.strip():
            processes.append(RunningProcess(int(pid), (os.path.basename(name.strip()),)))
    return processes


def running_processes(proc: Path = PROC) -> list[RunningProcess]:
    """Every process on this host with its names. Blocking: call it in a thread."""
    if sys.platform == "win32":
        return parse_tasklist(_run_listing(["tasklist", "/FO", "CSV", "/NH"]))
    if proc.is_dir() and (proc / "self").exists():
        return _proc_processes(proc)
    return _ps_processes()


def free_disk_bytes(path: Path) -> int:
    """Free bytes for this user on the filesystem holding ``path`` (its nearest existing
    ancestor when ``path`` does not exist yet)."""
    probe = path.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free

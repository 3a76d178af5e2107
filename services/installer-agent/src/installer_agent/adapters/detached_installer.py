"""The installer, run detached from the agent so that it survives the agent (a ``kill -9``, an
OOM kill, the agent's own update, a supervisor restarting it).

Per install, in the agent's state directory (``<state_dir>/installs``):

- ``<update>.log`` — the install's log; the installer's output is appended to it directly;
- ``<update>.installer.json`` — the launch record, written *before* the launcher starts: where
  the installer's output begins in the log, when it started, its timeout;
- ``<update>.installer.pids`` — the launcher's and the installer's pids (the launcher writes it);
- ``<update>.installer.status`` — the installer's exit status (the launcher writes it when the
  installer exits; negative: killed by that signal).

``follow`` reads the log from where the installer's output begins (line by line, as it grows)
until the status file appears, killing the installer's process group once its timeout has
passed. A restarted agent calls it again with the launch record it finds: it re-attaches to a
running installer, or reads the outcome of a finished one — it never starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from installer_agent.adapters.host_commands import KILL_GRACE_S, MAX_LINE
from installer_agent.adapters.launcher import write_atomically
from installer_agent.domain.command_templates import CommandNotStarted, Finished, LineHandler
from installer_agent.domain.installer_run import InstallerFiles, InstallerTrace, Launch

POLL_S = 0.2
LAUNCHER = "installer_agent.adapters.launcher"
PIDS_GRACE_S = 5.0  # a launcher just started has this long to write its pids


def read_launch(files: InstallerFiles) -> Launch | None:
    try:
        data = json.loads(files.launch.read_text(encoding="utf-8"))
        return Launch(int(data["offset"]), float(data["started_at"]), float(data["timeout_s"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_status(files: InstallerFiles) -> int | None:
    try:
        return int(files.status.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _read_pids(files: InstallerFiles) -> tuple[int | None, int | None]:
    try:
        data = json.loads(files.pids.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    launcher, installer = data.get("launcher"), data.get("installer")
    return (launcher if isinstance(launcher, int) else None,
            installer if isinstance(installer, int) else None)


def _is_our_launcher(pid: int, files: InstallerFiles) -> bool:
    """Whether ``pid`` is still this install's launcher (not a pid reused since, e.g. after a
    reboot): alive, not a zombie, and on Linux running with this install's status file."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    proc = Path("/proc") / str(pid)
    if not proc.is_dir():
        return True
    try:
        if ") Z" in (proc / "stat").read_text():
            return False
        return str(files.status).encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return False


def launcher_running(files: InstallerFiles) -> bool:
    launcher, _ = _read_pids(files)
    return launcher is not None and _is_our_launcher(launcher, files)


async def trace(files: InstallerFiles) -> InstallerTrace:
    """What is left of an install's installer, for an agent that starts. A launcher started
    just before the agent died gets a moment to write its pids."""
    launch = read_launch(files)
    if launch is None:
        return InstallerTrace(None, None, running=False)
    waited_until = time.monotonic() + PIDS_GRACE_S
    while not files.pids.exists() and read_status(files) is None:
        if time.monotonic() > waited_until:
            break
        await asyncio.sleep(POLL_S)
    return InstallerTrace(launch, read_status(files), running=launcher_running(files))


def launch(
    files: InstallerFiles,
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[Launch, subprocess.Popen[bytes]]:
    """Start the installer detached (its own session), its output appended to the log. The
    launch record is on disk before anything starts: a restarted agent that finds no record
    knows the installer never ran; one that finds it never starts it again."""
    files.log.parent.mkdir(parents=True, exist_ok=True)
    for stale in (files.pids, files.status):
        stale.unlink(missing_ok=True)
    with files.log.open("ab") as out:
        record = Launch(offset=out.tell(), started_at=time.time(), timeout_s=timeout_s)
        write_atomically(files.launch, json.dumps(asdict(record)))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", LAUNCHER, str(files.pids), str(files.status), "--",
                 *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
                **_detached(),
                cwd=cwd,
            )
        except OSError as exc:  # the agent's own interpreter could not be started
            files.launch.unlink(missing_ok=True)
            raise CommandNotStarted(f"cannot start the installer's launcher: {exc}") from exc
    return record, process


def _detached() -> dict[str, object]:
    """Popen options that cut the launcher loose from the agent (and its console/job)."""
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
        return {"creationflags": flags}
    return {"start_new_session": True}


class _LogLines:
    """The lines appended to a log file from ``offset`` on, as they come."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.offset = offset
        self._buffer = b""

    def new_lines(self, *, final: bool = False) -> list[str]:
        try:
            with self.path.open("rb") as file:
                file.seek(self.offset)
                data = file.read()
        except OSError:
            data = b""
        self.offset += len(data)
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE or (final and self._buffer):
            lines.append(self._buffer)
            self._buffer = b""
        return [raw.decode("utf-8", "replace").rstrip("\r")[:MAX_LINE] for raw in lines]


def _signal_installer(files: InstallerFiles, sig: signal.Signals) -> None:
    _, installer = _read_pids(files)
    if installer is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if sys.platform == "win32":
            os.kill(installer, sig)
        else:
            os.killpg(installer, sig)  # the launcher made it a process group of its own


async def follow(
    files: InstallerFiles,
    record: Launch,
    on_line: LineHandler,
    *,
    process: subprocess.Popen[bytes] | None = None,
    poll_s: float = POLL_S,
    kill_grace_s: float = KILL_GRACE_S,
    keep_lines: int = 200,
) -> Finished:
    """Follow the installer's output until it has an exit status. ``on_line`` gets each line
    (it should be quick: the installer never waits for it). ``process``: the launcher, when
    this agent started it (then it is reaped here). Past the deadline the installer's process
    group gets SIGTERM, then SIGKILL. Cancelled (the agent stops), it leaves the installer
    running."""
    lines = _LogLines(files.log, record.offset)
    output: deque[str] = deque(maxlen=keep_lines)
    timed_out = False
    killed_at: float | None = None
    pids_wait_until = time.monotonic() + PIDS_GRACE_S

    async def pass_on(found: list[str]) -> None:
        for line in found:
            output.append(line)
            await on_line(line)

    while True:
        await pass_on(lines.new_lines())
        status = read_status(files)
        if process is not None:
            process.poll()  # reap it when it ends
        if status is None and not launcher_running(files) and (
            process is None or process.returncode is not None
        ) and (files.pids.exists() or time.monotonic() > pids_wait_until):
            status = read_status(files)  # it may have written the status just now
            if status is None:  # the launcher was killed: the exit status is lost
                await pass_on(lines.new_lines(final=True))
                return Finished(-1, None, timed_out, tuple(output))
        if status is not None:
            await pass_on(lines.new_lines(final=True))
            _, installer = _read_pids(files)
            return Finished(installer or -1, status, timed_out, tuple(output))
        if not timed_out and time.time() >= record.deadline:
            timed_out = True
            killed_at = time.monotonic()
            _signal_installer(files, signal.SIGTERM)
        elif killed_at is not None and time.monotonic() - killed_at >= kill_grace_s:
            killed_at = None
            _signal_installer(files, getattr(signal, "SIGKILL", signal.SIGTERM))
        await asyncio.sleep(poll_s)

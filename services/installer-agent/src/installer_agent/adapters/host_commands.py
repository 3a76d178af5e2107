"""Running a command on the host: argv (never a shell), output line by line, a timeout that
kills the whole process group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from installer_agent.domain.command_templates import CommandNotStarted, Finished, LineHandler

log = logging.getLogger(__name__)

MAX_LINE = 4000
KILL_GRACE_S = 3.0
DRAIN_AFTER_EXIT_S = 2.0


async def _read_lines(stream: asyncio.StreamReader, on_line: LineHandler) -> None:
    buffer = b""
    while chunk := await stream.read(1 << 16):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        if len(buffer) > MAX_LINE:
            lines.append(buffer)
            buffer = b""
        for raw in lines:
            await on_line(raw.decode("utf-8", "replace").rstrip("\r")[:MAX_LINE])
    if buffer:
        await on_line(buffer.decode("utf-8", "replace").rstrip("\r")[:MAX_LINE])


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def kill_group(process: asyncio.subprocess.Process, grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the command's process group, then SIGKILL it if it is still there."""
    pgid = process.pid  # started with start_new_session: its own group
    _signal_group(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace_s)
    except TimeoutError:
        pass
    _signal_group(pgid, signal.SIGKILL)  # children that ignored SIGTERM, or the leader itself
    await process.wait()


async def run_command(
    argv: Sequence[str],
    *,
    timeout_s: float,
    on_line: LineHandler | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    keep_lines: int = 200,
) -> Finished:
    """Run ``argv`` in its own session; stdout and stderr together, line by line. After
    ``timeout_s`` the whole process group is killed. If the caller is cancelled (the agent is
    stopping) the command is left running: stopping an installer half-way is worse, and the
    next start reports the install as interrupted."""
    output: list[str] = []

    async def collect(line: str) -> None:
        output.append(line)
        if len(output) > keep_lines:
            del output[: len(output) - keep_lines]
        if on_line is not None:
            try:
                await on_line(line)
            except Exception:  # reporting must never stop us draining the pipe
                log.exception("could not report an output line of %s", argv[0])

    full_env = None
    if env:
        full_env = {**os.environ, **env}
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            cwd=cwd,
        )
    except OSError as exc:
        raise CommandNotStarted(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    assert process.stdout is not None
    reader = asyncio.create_task(_read_lines(process.stdout, collect))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            timed_out = True
            log.warning("command %s (pid %d) exceeded %g s: killing its process group",
                        argv[0], process.pid, timeout_s)
            await kill_group(process)
        # The leader exited; a child still holding the pipe must not keep us here for ever.
        done, _ = await asyncio.wait({reader}, timeout=DRAIN_AFTER_EXIT_S)
        if not done:
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    except asyncio.CancelledError:
        reader.cancel()
        if process.returncode is None:
            log.error("agent stopping while %s (pid %d) runs; it is left running", argv[0],
                      process.pid)
        raise
    return Finished(process.pid, process.returncode, timed_out, tuple(output))

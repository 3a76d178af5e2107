"""One install, start to finish: pre-flight, started, backup, installer, version, restore on
failure, outcome (A2-A5).

Every state change is one unit of work: the installs row and the message(s) it causes
(correlated with the install command) commit together. ``running`` is committed before the
installer starts, so an agent that dies during the install finds it at the next start and
reports it interrupted (A6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO

from installer_agent.adapters.host_commands import (
    CommandNotStarted,
    Finished,
    LineHandler,
    run_command,
)
from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.domain.command_templates import HostCommand, render
from installer_agent.domain.installs import InstallStatus, Outcome, Stage, refused, stage_of
from installer_agent.domain.outcome import (
    CommandRun,
    ProgressThrottle,
    backup_failed,
    decide_outcome,
    log_tail,
    progress_percent,
    with_restore,
)
from installer_agent.service_layer.heartbeat import Heartbeat
from installer_agent.service_layer.preflight import (
    PackageFetcher,
    PreflightCheck,
    PreflightFailed,
)
from lockstep_shared import metrics
from lockstep_shared.catalogue import InstallProgressed, InstallRequested, InstallStarted
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import UnitOfWork

log = logging.getLogger("installer_agent.host")

PROGRESS_INTERVAL_S = 0.5  # at most two progress reports a second
SAVE_ATTEMPTS = 8


def _file_name(update_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", update_id) + ".log"


class InstallJob:
    """Runs the host's configured commands: ``backup_command`` (optional; if it fails nothing
    is installed, A3), ``installer_command``, ``version_command`` (reads what the host now
    runs), ``restore_command`` (optional, after a failure, A5); each with its placeholders
    filled in, killed after its timeout. ``command_env`` and ``working_dir`` apply to all of
    them; the outcome keeps the last ``log_tail_lines`` lines of their output."""

    def __init__(
        self,
        *,
        uow: UnitOfWork,
        repository: InstallsRepository,
        fetch_package: PackageFetcher,
        checks: Sequence[PreflightCheck] = (),
        heartbeat: Heartbeat,
        logs_dir: Path,
        installer_command: HostCommand,
        version_command: HostCommand,
        backup_command: HostCommand | None = None,
        restore_command: HostCommand | None = None,
        command_env: Mapping[str, str] | None = None,
        working_dir: Path | None = None,
        log_tail_lines: int = 50,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uow = uow
        self.repository = repository
        self.installer_command = installer_command
        self.version_command = version_command
        self.backup_command = backup_command
        self.restore_command = restore_command
        self.command_env = dict(command_env or {})
        self.working_dir = working_dir
        self.log_tail_lines = log_tail_lines
        self.fetch_package = fetch_package
        self.checks = list(checks)
        self.heartbeat = heartbeat
        self.logs_dir = logs_dir
        self.clock = clock
        self.monotonic = monotonic
        self._stage: Stage = "installer"

    async def perform(self, request: Envelope) -> Outcome | None:
        """Run the install the command asks for; None if it was not ``requested`` any more."""
        command = request.data
        assert isinstance(command, InstallRequested)
        package = command.package
        extra = {"site_id": command.site_id, "update_id": command.update_id,
                 "correlation_id": request.correlationid}
        what = f"{package.product} {package.version}"

        try:
            package_path = await self.fetch_package(package)
            for check in self.checks:
                await check(package, package_path)
        except PreflightFailed as exc:
            outcome = refused(str(exc))
            log.error("install of %s refused: %s", what, outcome.reason, extra=extra)
            await self._finish(request, outcome, expected=InstallStatus.REQUESTED)
            return outcome

        started_at = self.clock()
        async with self.uow.begin(cause=request) as tx:
            if not await self.repository.mark_running(tx.conn, command.update_id, started_at):
                log.warning("install %s is no longer requested; skipped", command.update_id,
                            extra=extra)
                return None
            tx.emit(InstallStarted(site_id=command.site_id, update_id=command.update_id,
                                   started_at=started_at))
        log.info("installing %s from %s (update %s)", what, package_path, command.update_id,
                 extra=extra)
        self.heartbeat.installing(request)
        try:
            outcome = await self._install(request, package_path, extra)
        except Exception as exc:  # the agent itself failed: say so, never leave it "running"
            log.exception("the agent failed during the install of %s", what, extra=extra)
            outcome = Outcome(
                InstallStatus.FAILED,
                reason=f"the agent hit an error during the install ({exc}); check the host",
                stage=self._stage,
            )
        finally:
            self.heartbeat.installing(None)
        await self._finish(request, outcome, expected=InstallStatus.RUNNING)
        metrics.INSTALLS.labels(outcome.status.value).inc()
        if outcome.duration_s is not None:
            metrics.INSTALL_SECONDS.observe(outcome.duration_s)
        if outcome.status is InstallStatus.SUCCEEDED:
            log.info("install of %s succeeded in %.1f s: the host reports %s", what,
                     outcome.duration_s or 0, outcome.installed_version, extra=extra)
        else:
            log.error("install of %s failed: %s", what, outcome.reason, extra=extra)
        return outcome

    async def _install(
        self, request: Envelope, package_path: Path, extra: dict[str, str]
    ) -> Outcome:
        command = request.data
        assert isinstance(command, InstallRequested)
        values = {
            "package": str(package_path),
            "version": command.package.version,
            "product": command.package.product,
            "sha256": command.package.sha256,
            "update_id": command.update_id,
            "site_id": command.site_id,
        }
        tail: deque[str] = deque(maxlen=self.log_tail_lines)
        throttle = ProgressThrottle(PROGRESS_INTERVAL_S)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        began = self.monotonic()
        self._stage = "installer"

        async def report(line: str) -> None:
            progressed = InstallProgressed(
                site_id=command.site_id, update_id=command.update_id,
                line=line[:2000], percent=progress_percent(line),
            )
            async with self.uow.begin(cause=request) as tx:
                tx.emit(progressed)
                await self.repository.save_log_tail(tx.conn, command.update_id,
                                                    "\n".join(tail))

        async def tick() -> None:
            while True:
                await asyncio.sleep(PROGRESS_INTERVAL_S / 2)
                if (ready := throttle.due(self.monotonic())) is not None:
                    await report(ready)

        host_log = self.logs_dir / _file_name(command.update_id)
        with host_log.open("a", encoding="utf-8") as host_file:

            async def step(name: str, host_command: HostCommand, *, shown: bool) -> CommandRun:
                """Run one configured command; ``shown`` output joins the tail and progress."""
                prefix = "" if name == "installer" else f"[{name}] "

                async def on_line(line: str) -> None:
                    host_file.write(f"{prefix}{line}\n")
                    host_file.flush()
                    log.info("%s: %s", name, line, extra=extra)
                    if shown:
                        tail.append(prefix + line)
                        if (ready := throttle.offer(prefix + line, self.monotonic())) is not None:
                            await report(ready)

                await self._enter(command.update_id, name)
                argv = render(host_command.template, values)
                _write_header(host_file, f"{name}: $ {shlex.join(argv)}")
                ticker = asyncio.create_task(tick()) if shown else None
                try:
                    run = await self._run(argv, host_command.timeout_s, on_line)
                finally:
                    if ticker is not None:
                        ticker.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await ticker
                if shown and (last := throttle.flush()) is not None:
                    await report(last)
                _write_header(host_file, f"{name} ended: exit code {run.exit_code}"
                              + (" (timed out)" if run.timed_out else ""))
                return run

            def tail_text() -> str:
                return log_tail(tail, self.log_tail_lines)

            if self.backup_command is not None:
                backup = await step("backup", self.backup_command, shown=True)
                if not backup.ok:
                    return backup_failed(backup, self.backup_command.timeout_s,
                                         tail=tail_text(),
                                         duration_s=round(self.monotonic() - began, 3))
            installer = await step("installer", self.installer_command, shown=True)
            probe: CommandRun | None = None
            if installer.ok:
                probe = await step("version", self.version_command, shown=False)
            outcome = decide_outcome(
                requested_version=command.package.version,
                installer=installer,
                version_probe=probe,
                installer_timeout_s=self.installer_command.timeout_s,
                version_timeout_s=self.version_command.timeout_s,
                duration_s=0.0,
                tail="",
            )
            if outcome.status is InstallStatus.FAILED and self.restore_command is not None:
                restore = await step("restore", self.restore_command, shown=True)
                outcome = with_restore(outcome, restore, self.restore_command.timeout_s)
        return replace(outcome, log_tail=tail_text(),
                       duration_s=round(self.monotonic() - began, 3))

    async def _enter(self, update_id: str, name: str) -> None:
        """Record the step now starting (best effort: an interruption then names it)."""
        stage = stage_of(name)
        self._stage = stage
        try:
            async with self.uow.begin() as tx:
                await self.repository.enter_stage(tx.conn, update_id, stage)
        except Exception as exc:
            log.warning("could not record that install %s entered step %s: %s", update_id, name,
                        exc)

    async def _run(self, argv: list[str], timeout_s: float, on_line: LineHandler) -> CommandRun:
        try:
            finished: Finished = await run_command(
                argv, timeout_s=timeout_s, on_line=on_line, env=self.command_env or None,
                cwd=self.working_dir,
            )
        except CommandNotStarted as exc:
            await on_line(str(exc))
            return CommandRun(exit_code=None, output=(str(exc),))
        return CommandRun(finished.exit_code, finished.timed_out, finished.output)

    async def _finish(
        self, request: Envelope, outcome: Outcome, *, expected: InstallStatus
    ) -> None:
        """Record the outcome and its message together; retried while the database is away."""
        command = request.data
        assert isinstance(command, InstallRequested)
        message = outcome.message(command.site_id, command.update_id)
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                async with self.uow.begin(cause=request) as tx:
                    if not await self.repository.finish(tx.conn, command.update_id, outcome,
                                                        self.clock(), expected=expected):
                        log.error("install %s was not %s when it ended; outcome not recorded",
                                  command.update_id, expected.value)
                        return
                    tx.emit(message)
                return
            except Exception:
                if attempt == SAVE_ATTEMPTS:
                    raise
                log.exception("could not record the outcome of install %s; retrying",
                              command.update_id)
                await asyncio.sleep(min(5.0, 0.25 * 2**attempt))


def _write_header(file: IO[str], text: str) -> None:
    file.write(f"--- {text}\n")
    file.flush()

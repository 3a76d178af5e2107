"""One install, start to finish: pre-flight, started, backup, installer, version, restore on
failure, outcome (A2-A5).

Every state change is one unit of work (``Bookkeeping``: retried while the database is away):
the installs row and the message(s) it causes (correlated with the install command) commit
together. ``running`` is committed before anything runs on the host, and each step is recorded
as it starts.

The installer runs detached (``adapters.detached_installer``): its output goes to the
install's log file and its exit status to a file, so it outlives the agent. The job follows
that log (its lines become progress) until the exit status is there, then reads the installed
version; only then is the outcome recorded and reported. An agent restarted meanwhile follows
the same installer again (``follow_again``): it is never started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO

from installer_agent.adapters import detached_installer
from installer_agent.adapters.host_commands import run_command
from installer_agent.adapters.installs_repository import InstallsRepository
from installer_agent.domain.command_templates import (
    CommandNotStarted,
    Finished,
    HostCommand,
    LineHandler,
    render,
)
from installer_agent.domain.installer_run import InstallerFiles, Launch
from installer_agent.domain.installs import (
    AfterRestart,
    InstallStatus,
    Outcome,
    Stage,
    after_restart,
    interrupted,
    refused,
    stage_of,
)
from installer_agent.domain.outcome import (
    CommandRun,
    ProgressThrottle,
    backup_failed,
    decide_outcome,
    log_tail,
    progress_percent,
    with_restore,
)
from installer_agent.service_layer.bookkeeping import Bookkeeping
from installer_agent.service_layer.heartbeat import Heartbeat
from installer_agent.service_layer.preflight import (
    CommandCheck,
    NotIssued,
    PackageFetcher,
    PreflightCheck,
    PreflightFailed,
)
from lockstep_shared import metrics
from lockstep_shared.catalogue import InstallProgressed, InstallRequested, InstallStarted
from lockstep_shared.envelope import Envelope
from lockstep_shared.unit_of_work import Tx

log = logging.getLogger("installer_agent.host")

PROGRESS_INTERVAL_S = 0.5  # at most two progress reports a second


class ProgressReporter:
    """The newest output line as ``install.progressed``, at most one per interval, sent by a
    task of its own: reading the installer's output never waits for the database, and a line
    not sent yet is replaced by a newer one."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *,
                 monotonic: Callable[[], float], interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.send = send
        self.monotonic = monotonic
        self.interval_s = interval_s
        self.throttle = ProgressThrottle(interval_s)
        self._latest: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="install-progress")

    def offer(self, line: str) -> None:
        if (ready := self.throttle.offer(line, self.monotonic())) is not None:
            self._latest = ready
            self._wake.set()

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s / 2):  # never swallows a cancel
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            if (due := self.throttle.due(self.monotonic())) is not None:
                self._latest = due
            line, self._latest = self._latest, None
            if line is not None:
                await self._send(line)

    async def _send(self, line: str) -> None:
        try:
            await self.send(line)
        except Exception:  # progress is never worth failing an install for
            log.exception("could not report install progress")

    async def close(self) -> None:
        """Stop after the report being sent, then send the newest line not reported yet
        (each retried like any record while the database is away)."""
        if self._task is not None:
            self._closing = True
            self._wake.set()
            await self._task
            self._task = None
        if (line := self.throttle.flush() or self._latest) is not None:
            self._latest = None
            await self._send(line)

    def abandon(self) -> None:
        """The install is being left (the agent stops): stop reporting at once."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            self._task = None


class InstallJob:
    """Runs the host's configured commands: ``backup_command`` (optional; if it fails nothing
    is installed, A3), ``installer_command`` (detached), ``version_command`` (reads what the
    host now runs), ``restore_command`` (optional, after a failure, A5); each with its
    placeholders filled in, killed after its timeout. ``command_env`` and ``working_dir``
    apply to all of them; the outcome keeps the last ``log_tail_lines`` lines of their
    output."""

    def __init__(
        self,
        *,
        bookkeeping: Bookkeeping,
        repository: InstallsRepository,
        fetch_package: PackageFetcher,
        command_checks: Sequence[CommandCheck] = (),
        checks: Sequence[PreflightCheck] = (),
        heartbeat: Heartbeat,
        wake_heartbeat: Callable[[], None],
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
        self.bookkeeping = bookkeeping
        self.repository = repository
        self.installer_command = installer_command
        self.version_command = version_command
        self.backup_command = backup_command
        self.restore_command = restore_command
        self.command_env = dict(command_env or {})
        self.working_dir = working_dir
        self.log_tail_lines = log_tail_lines
        self.fetch_package = fetch_package
        self.command_checks = list(command_checks)
        self.checks = list(checks)
        self.heartbeat = heartbeat
        self.wake_heartbeat = wake_heartbeat
        self.logs_dir = logs_dir
        self.clock = clock
        self.monotonic = monotonic
        self.current_stage: Stage = "installer"

    def files(self, update_id: str) -> InstallerFiles:
        return InstallerFiles.of(self.logs_dir, update_id)

    async def perform(self, request: Envelope) -> Outcome | None:
        """Run the install the command asks for; None if it was not ``requested`` any more."""
        command = _command(request)
        package = command.package
        extra = _extra(request)
        what = f"{package.product} {package.version}"

        try:
            for command_check in self.command_checks:
                await command_check(command)
            package_path = await self.fetch_package(package)
            for check in self.checks:
                await check(package, package_path)
        except NotIssued as exc:
            await self._drop(request, str(exc))
            return None
        except PreflightFailed as exc:
            outcome = refused(str(exc))
            log.error("install of %s refused: %s", what, outcome.reason, extra=extra)
            await self._finish(request, outcome, expected=InstallStatus.REQUESTED)
            return outcome

        started_at = self.clock()

        async def start(tx: Tx) -> bool:
            if not await self.repository.mark_running(tx.conn, command.update_id, started_at):
                return False
            tx.emit(InstallStarted(site_id=command.site_id, update_id=command.update_id,
                                   started_at=started_at))
            return True

        if not await self.bookkeeping.write(f"the start of install {command.update_id}", start,
                                            cause=request):
            log.warning("install %s is no longer requested; skipped", command.update_id,
                        extra=extra)
            return None
        log.info("installing %s from %s (update %s)", what, package_path, command.update_id,
                 extra=extra)
        return await self._attend(request, lambda run: run.fresh(package_path))

    async def can_follow(self, request: Envelope, stage: Stage) -> bool:
        """Whether an install left ``running`` by the previous agent process can be followed
        to its real outcome (its installer was launched and runs, or left its exit status)."""
        found = await detached_installer.trace(self.files(_command(request).update_id))
        return after_restart(
            stage, launched=found.launch is not None, has_status=found.exit_code is not None,
            launcher_running=found.running,
        ) is AfterRestart.FOLLOW

    async def follow_again(self, request: Envelope, stage: Stage) -> Outcome:
        """Follow an installer the previous agent process launched, to its real outcome."""
        log.warning("following the installer of update %s again after an agent restart; it is "
                    "not started again", _command(request).update_id, extra=_extra(request))
        return await self._attend(request, lambda run: run.reattached(stage))

    def _installing(self, request: Envelope | None) -> None:
        """Tell the heartbeat an install started (or ended): it beats at once (U8)."""
        self.heartbeat.installing(request)
        self.wake_heartbeat()

    async def _attend(
        self, request: Envelope, body: Callable[[_InstallRun], Awaitable[Outcome]]
    ) -> Outcome:
        command = _command(request)
        extra = _extra(request)
        what = f"{command.package.product} {command.package.version}"
        self._installing(request)
        try:
            outcome = await body(_InstallRun(self, request))
        except Exception as exc:  # the agent itself failed: say so, never leave it "running"
            log.exception("the agent failed during the install of %s", what, extra=extra)
            outcome = Outcome(
                InstallStatus.FAILED,
                reason=f"the agent hit an error during the install ({exc}); check the host",
                stage=self.current_stage,
            )
        finally:
            self._installing(None)
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

    async def enter(self, update_id: str, name: str) -> None:
        """Record the step now starting, before it starts: an agent restarted during it then
        knows whether it may follow the installer or must report the install interrupted."""
        stage = stage_of(name)
        self.current_stage = stage

        async def record(tx: Tx) -> None:
            await self.repository.enter_stage(tx.conn, update_id, stage)

        try:
            await self.bookkeeping.write(f"step {name} of install {update_id}", record)
        except Exception as exc:
            log.warning("could not record that install %s entered step %s: %s", update_id, name,
                        exc)

    async def report(self, request: Envelope, line: str, tail: str) -> None:
        command = _command(request)
        progressed = InstallProgressed(site_id=command.site_id, update_id=command.update_id,
                                       line=line[:2000], percent=progress_percent(line))

        async def record(tx: Tx) -> None:
            tx.emit(progressed)
            await self.repository.save_log_tail(tx.conn, command.update_id, tail)

        await self.bookkeeping.write(f"progress of install {command.update_id}", record,
                                     cause=request)

    async def run(self, argv: list[str], timeout_s: float, on_line: LineHandler) -> CommandRun:
        try:
            finished: Finished = await run_command(
                argv, timeout_s=timeout_s, on_line=on_line, env=self.command_env or None,
                cwd=self.working_dir,
            )
        except CommandNotStarted as exc:
            await on_line(str(exc))
            return CommandRun(exit_code=None, output=(str(exc),))
        return CommandRun(finished.exit_code, finished.timed_out, finished.output)

    async def _drop(self, request: Envelope, reason: str) -> None:
        """Forget a command the orchestrator did not issue: no outcome, no message."""
        update_id = _command(request).update_id

        async def forget(tx: Tx) -> bool:
            return await self.repository.forget_requested(tx.conn, update_id)

        await self.bookkeeping.write(f"dropping install command {update_id}", forget,
                                     cause=request)
        log.error("install command for update %s refused and dropped: %s", update_id, reason,
                  extra=_extra(request))

    async def _finish(
        self, request: Envelope, outcome: Outcome, *, expected: InstallStatus
    ) -> None:
        """Record the outcome and its message together; retried while the database is away."""
        command = _command(request)
        message = outcome.message(command.site_id, command.update_id)

        async def record(tx: Tx) -> bool:
            if not await self.repository.finish(tx.conn, command.update_id, outcome,
                                                self.clock(), expected=expected):
                return False
            tx.emit(message)
            return True

        if not await self.bookkeeping.write(f"the outcome of install {command.update_id}",
                                            record, cause=request):
            log.error("install %s was not %s when it ended; outcome not recorded again",
                      command.update_id, expected.value, extra=_extra(request))


class _InstallRun:
    """One install's run on the host: its log file, its output tail and its progress."""

    def __init__(self, job: InstallJob, request: Envelope) -> None:
        self.job = job
        self.request = request
        self.command = _command(request)
        self.extra = _extra(request)
        self.files = job.files(self.command.update_id)
        self.tail: deque[str] = deque(maxlen=job.log_tail_lines)
        self.began = job.monotonic()
        self.progress = ProgressReporter(self._send_progress, monotonic=job.monotonic)
        self.values = {
            "version": self.command.package.version,
            "product": self.command.package.product,
            "sha256": self.command.package.sha256,
            "update_id": self.command.update_id,
            "site_id": self.command.site_id,
        }

    async def _send_progress(self, line: str) -> None:
        await self.job.report(self.request, line, "\n".join(self.tail))

    def tail_text(self) -> str:
        return log_tail(self.tail, self.job.log_tail_lines)

    async def fresh(self, package_path: Path) -> Outcome:
        self.values["package"] = str(package_path)
        self.files.log.parent.mkdir(parents=True, exist_ok=True)
        self.progress.start()
        try:
            with self.files.log.open("a", encoding="utf-8") as host_file:
                if self.job.backup_command is not None:
                    backup = await self._step(host_file, "backup", self.job.backup_command)
                    if not backup.ok:
                        await self.progress.close()
                        return backup_failed(backup, self.job.backup_command.timeout_s,
                                             tail=self.tail_text(),
                                             duration_s=round(self.job.monotonic() - self.began,
                                                              3))
                await self.job.enter(self.command.update_id, "installer")
                argv = render(self.job.installer_command.template, self.values)
                _write_header(host_file, f"installer: $ {shlex.join(argv)}")
                try:
                    record, process = detached_installer.launch(
                        self.files, argv, timeout_s=self.job.installer_command.timeout_s,
                        env=self.job.command_env or None, cwd=self.job.working_dir)
                except CommandNotStarted as exc:
                    self._line("installer", str(exc), host_file)
                    installer = CommandRun(exit_code=None, output=(str(exc),))
                else:
                    installer = await self._follow(record, process)
                return await self._after_installer(host_file, installer,
                                                   lambda: self.job.monotonic() - self.began)
        finally:
            self.progress.abandon()

    async def reattached(self, stage: Stage) -> Outcome:
        record = detached_installer.read_launch(self.files)
        if record is None:  # the files went away since the agent started: nothing to follow
            return interrupted(stage=stage)
        package = self.command.package
        self.values["package"] = str(self.job.fetch_package.store.path_for(package.sha256))
        self.job.current_stage = stage
        self.progress.start()
        try:
            installer = await self._follow(record, None)
            with self.files.log.open("a", encoding="utf-8") as host_file:
                return await self._after_installer(
                    host_file, installer,
                    lambda: self.job.clock().timestamp() - record.started_at)
        finally:
            self.progress.abandon()

    async def _follow(self, record: Launch,
                      process: object | None) -> CommandRun:
        async def on_line(line: str) -> None:
            log.info("installer: %s", line, extra=self.extra)
            self.tail.append(line)
            self.progress.offer(line)

        finished = await detached_installer.follow(
            self.files, record, on_line, process=process)  # type: ignore[arg-type]
        if finished.exit_code is None:
            await on_line("the installer's launcher was killed: its exit status is unknown")
        return CommandRun(finished.exit_code, finished.timed_out, finished.output)

    async def _after_installer(self, host_file: IO[str], installer: CommandRun,
                               elapsed: Callable[[], float]) -> Outcome:
        """The installer has ended: flush its progress, read the version, decide, restore."""
        await self.progress.close()
        _write_header(host_file, f"installer ended: exit code {installer.exit_code}"
                      + (" (timed out)" if installer.timed_out else ""))
        self.progress.start()
        probe: CommandRun | None = None
        if installer.ok:
            probe = await self._step(host_file, "version", self.job.version_command,
                                     shown=False)
        outcome = decide_outcome(
            requested_version=self.command.package.version,
            installer=installer,
            version_probe=probe,
            installer_timeout_s=self.job.installer_command.timeout_s,
            version_timeout_s=self.job.version_command.timeout_s,
            duration_s=0.0,
            tail="",
        )
        if outcome.status is InstallStatus.FAILED and self.job.restore_command is not None:
            restore = await self._step(host_file, "restore", self.job.restore_command)
            outcome = with_restore(outcome, restore, self.job.restore_command.timeout_s)
        await self.progress.close()
        return replace(outcome, log_tail=self.tail_text(), duration_s=round(elapsed(), 3))

    def _line(self, name: str, line: str, host_file: IO[str], *, shown: bool = True) -> None:
        prefix = "" if name == "installer" else f"[{name}] "
        host_file.write(f"{prefix}{line}\n")
        host_file.flush()
        log.info("%s: %s", name, line, extra=self.extra)
        if shown:
            self.tail.append(prefix + line)
            self.progress.offer(prefix + line)

    async def _step(self, host_file: IO[str], name: str, host_command: HostCommand, *,
                    shown: bool = True) -> CommandRun:
        """Run one configured command attached (backup, version, restore); ``shown`` output
        joins the tail and progress."""

        async def on_line(line: str) -> None:
            self._line(name, line, host_file, shown=shown)

        await self.job.enter(self.command.update_id, name)
        argv = render(host_command.template, self.values)
        _write_header(host_file, f"{name}: $ {shlex.join(argv)}")
        run = await self.job.run(argv, host_command.timeout_s, on_line)
        _write_header(host_file, f"{name} ended: exit code {run.exit_code}"
                      + (" (timed out)" if run.timed_out else ""))
        return run


def _command(request: Envelope) -> InstallRequested:
    command = request.data
    assert isinstance(command, InstallRequested)
    return command


def _extra(request: Envelope) -> dict[str, str | None]:
    command = _command(request)
    return {"site_id": command.site_id, "update_id": command.update_id,
            "correlation_id": request.correlationid}


def _write_header(file: IO[str], text: str) -> None:
    file.write(f"--- {text}\n")
    file.flush()

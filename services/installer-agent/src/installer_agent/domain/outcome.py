"""Deciding how an install ended, from what the installer and the version command did (A5)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from installer_agent.domain.installs import InstallStatus, Outcome, Stage
from lockstep_shared.versions import InvalidVersion, Version


@dataclass(frozen=True, slots=True)
class CommandRun:
    """What one command did: its exit code (negative = killed by that signal) and output."""

    exit_code: int | None
    timed_out: bool = False
    output: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0


def log_tail(lines: Iterable[str], count: int) -> str:
    """The last ``count`` lines, joined."""
    kept = list(lines)[-count:] if count > 0 else []
    return "\n".join(kept)


def reported_version(output: Iterable[str]) -> str | None:
    """The version a version command printed: its last non-blank line, stripped."""
    lines = [line.strip() for line in output if line.strip()]
    return lines[-1] if lines else None


def _ended(run: CommandRun, what: str, timeout_s: float) -> str:
    if run.timed_out:
        return f"the {what} did not finish within {timeout_s:g} s and was killed"
    if run.exit_code is None:
        return f"the {what} could not be started or its exit status was lost"
    if run.exit_code < 0:
        return f"the {what} was killed by signal {-run.exit_code}"
    return f"the {what} exited with code {run.exit_code}"


def decide_outcome(
    *,
    requested_version: str,
    installer: CommandRun,
    version_probe: CommandRun | None,
    installer_timeout_s: float,
    version_timeout_s: float,
    duration_s: float,
    tail: str,
) -> Outcome:
    """Succeeded only if the installer exited 0 and the version command then reported exactly
    the requested version; otherwise failed, saying why."""

    def failed(reason: str, stage: Stage = "version") -> Outcome:
        return Outcome(
            InstallStatus.FAILED,
            reason=reason,
            exit_code=installer.exit_code,
            log_tail=tail,
            duration_s=duration_s,
            stage=stage,
        )

    if not installer.ok:
        return failed(_ended(installer, "installer", installer_timeout_s), "installer")
    if version_probe is None:
        return failed("the installer finished but the installed version was not read")
    if not version_probe.ok:
        detail = reported_version(version_probe.output)
        return failed(
            "the installer finished but the version command failed: "
            + _ended(version_probe, "version command", version_timeout_s)
            + (f" ({detail})" if detail else "")
        )
    printed = reported_version(version_probe.output)
    if printed is None:
        return failed("the installer finished but the version command printed nothing")
    try:
        installed = Version.parse(printed)
    except InvalidVersion as exc:
        return failed(f"the installer finished but the version command printed {exc}")
    if installed != Version.parse(requested_version):
        return failed(
            f"the installer finished but the host reports version {printed}, "
            f"not the requested {requested_version}"
        )
    return Outcome(
        InstallStatus.SUCCEEDED,
        installed_version=printed,
        exit_code=0,
        log_tail=tail,
        duration_s=duration_s,
    )


def backup_failed(backup: CommandRun, timeout_s: float, *, tail: str, duration_s: float) -> Outcome:
    """The backup command failed (A3): nothing was installed."""
    return Outcome(
        InstallStatus.FAILED,
        reason="backup failed: " + _ended(backup, "backup command", timeout_s)
        + "; nothing was installed",
        exit_code=backup.exit_code,
        log_tail=tail,
        duration_s=duration_s,
        stage="backup",
    )


def with_restore(failed: Outcome, restore: CommandRun, timeout_s: float) -> Outcome:
    """A failed install after the restore command ran (A5): the reason says how that went; a
    failed restore moves the stage to ``restore`` (the host's state is unknown)."""
    if restore.ok:
        return replace(failed, reason=f"{failed.reason}; the restore command completed")
    note = "the restore command FAILED too: " + _ended(restore, "restore command", timeout_s)
    return replace(failed, reason=f"{failed.reason}; {note}", stage="restore")


_PERCENT = re.compile(r"(?<!\d)(\d{1,3})\s?%")


def progress_percent(line: str) -> int | None:
    """A percentage an installer printed on a line (the last one, 0 to 100), if any."""
    found = [int(m) for m in _PERCENT.findall(line)]
    found = [p for p in found if p <= 100]
    return found[-1] if found else None


class ProgressThrottle:
    """Turns a stream of output lines into at most one progress report per ``interval_s``:
    the newest line wins; ``flush`` gives the newest line not yet reported."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self._last_sent_at: float | None = None
        self._pending: str | None = None

    def offer(self, line: str, now: float) -> str | None:
        if self._last_sent_at is None or now - self._last_sent_at >= self.interval_s:
            self._last_sent_at = now
            self._pending = None
            return line
        self._pending = line
        return None

    def due(self, now: float) -> str | None:
        """The held-back line, once the interval has passed (call it on a timer)."""
        if self._pending is not None and self._last_sent_at is not None:
            if now - self._last_sent_at >= self.interval_s:
                self._last_sent_at = now
                return self.flush()
        return None

    def flush(self) -> str | None:
        line, self._pending = self._pending, None
        return line

"""One install of a package on this host: its states, and what to do with a command for it.

The installs table is the agent's memory (A6). A command is recorded as ``requested``; the
worker moves it to ``running`` (committed *before* the installer starts), then to one of the
outcomes. A command whose update is already known never runs the installer again: an outcome
is simply reported again. An install found ``running`` when the agent starts means the agent
died during it: the installer, run detached, may have outlived it, and the agent follows it to
its real outcome; what cannot be followed is reported ``interrupted`` and left for a human.

Persisted status values are never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Literal, get_args

from lockstep_shared.catalogue import InstallFailed, InstallSucceeded, PackageRef

INTERRUPTED_REASON = (
    "agent restarted during the install; the installer was not run again — check the host"
)


Stage = Literal["preflight", "backup", "installer", "version", "restore"]
"""Where a failed install failed. ``preflight``: refused, nothing on the host was touched;
``backup``: the backup command failed, nothing was installed; ``installer`` / ``version``: the
installer failed, or the host did not then report the requested version (the restore command,
if configured, ran and completed); ``restore``: that restore command failed too — the host's
state is unknown. An interrupted install carries the step that was running."""

STAGES: tuple[Stage, ...] = get_args(Stage)
PREFLIGHT_PREFIX = "pre-flight: "


class InstallStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (InstallStatus.SUCCEEDED, InstallStatus.FAILED, InstallStatus.INTERRUPTED)


class ConflictingRequest(ValueError):
    """A command reuses an update id already recorded for a different package."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an install ended, as recorded in its row and reported on the bus."""

    status: InstallStatus
    reason: str | None = None
    exit_code: int | None = None
    installed_version: str | None = None
    log_tail: str = ""
    duration_s: float | None = None
    stage: Stage | None = None  # set for every failure

    def message(self, site_id: str, update_id: str) -> InstallSucceeded | InstallFailed:
        if self.status is InstallStatus.SUCCEEDED:
            assert self.installed_version is not None
            return InstallSucceeded(
                site_id=site_id,
                update_id=update_id,
                installed_version=self.installed_version,
                log_tail=self.log_tail,
                duration_s=max(0.0, self.duration_s or 0.0),
            )
        if not self.status.finished:
            raise ValueError(f"an install that is {self.status} has no outcome yet")
        return InstallFailed(
            site_id=site_id,
            update_id=update_id,
            reason=self.reason or "the install failed",
            exit_code=self.exit_code,
            log_tail=self.log_tail,
            interrupted=self.status is InstallStatus.INTERRUPTED,
            stage=self.stage,
        )


@dataclass(frozen=True, slots=True)
class InstallRecord:
    update_id: str
    site_id: str
    product: str
    version: str
    package_sha256: str
    status: InstallStatus
    outcome: Outcome | None = None


class RequestDecision(Enum):
    RECORD = "record"  # new update: record it; the worker will install it
    IN_HAND = "in-hand"  # already requested or running: its outcome will follow
    REPORT_AGAIN = "report-again"  # already finished: publish the recorded outcome again


def on_request(existing: InstallRecord | None, package: PackageRef) -> RequestDecision:
    """What to do with an ``InstallRequested`` for an update, given what the table knows."""
    if existing is None:
        return RequestDecision.RECORD
    if existing.package_sha256 != package.sha256 or existing.version != package.version:
        raise ConflictingRequest(
            f"update {existing.update_id} was recorded for {existing.product} "
            f"{existing.version} (sha256 {existing.package_sha256[:12]}…); a command for "
            f"{package.product} {package.version} (sha256 {package.sha256[:12]}…) cannot reuse it"
        )
    if existing.status.finished:
        return RequestDecision.REPORT_AGAIN
    return RequestDecision.IN_HAND


def stage_of(value: str | None, default: Stage = "installer") -> Stage:
    """A stage read back from storage; ``default`` for rows written before stages existed."""
    for stage in STAGES:
        if stage == value:
            return stage
    return default


class AfterRestart(Enum):
    FOLLOW = "follow"  # re-attach to the installer (running, or finished with a status)
    INTERRUPTED = "interrupted"  # report it interrupted; run nothing again


def after_restart(stage: Stage, *, launched: bool, has_status: bool,
                  launcher_running: bool) -> AfterRestart:
    """An install found ``running`` when the agent starts. The installer runs detached, so it
    may have outlived the agent: when it was launched and still runs (or has left its exit
    status), and the agent was at the installer or the version check, the agent follows it to
    its real outcome. Otherwise — never launched, its launcher gone without a status, or a
    backup or restore step cut short — nothing may run twice: it is reported interrupted."""
    if stage in ("installer", "version") and launched and (has_status or launcher_running):
        return AfterRestart.FOLLOW
    return AfterRestart.INTERRUPTED


def interrupted(log_tail: str = "", stage: Stage = "installer") -> Outcome:
    """The outcome of an install found ``running`` when the agent starts; ``stage`` is the step
    it was in (recorded as each step starts)."""
    return Outcome(InstallStatus.INTERRUPTED, reason=INTERRUPTED_REASON, log_tail=log_tail,
                   stage=stage)


def refused(reason: str) -> Outcome:
    """A pre-flight check failed (A2): nothing was run on the host. The reason says what and
    what to do, after "pre-flight: "."""
    if not reason.startswith(PREFLIGHT_PREFIX):
        reason = PREFLIGHT_PREFIX + reason
    return Outcome(InstallStatus.FAILED, reason=reason, duration_s=0.0, stage="preflight")

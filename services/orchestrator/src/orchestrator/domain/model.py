"""The update (saga state), the fleet summary the rules look at, and the domain errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from lockstep_shared.catalogue import PackageRef
from orchestrator.domain.errors import Refused


class UpdateState(StrEnum):
    """Persisted as these exact strings: never renamed, never renumbered."""

    AWAITING_CODE = "awaiting_code"  # U13: release needs a confirmation code before phase 1
    OPEN = "open"  # U2: backups confirmed, nobody notified yet (can still be cancelled)
    NOTIFYING = "notifying"  # phase 1: START sent at least once
    SERVER_UPDATING = "server_updating"  # phase 2: the installer agent runs
    SERVER_UPDATED = "server_updated"  # phase 3: devices may be released (END)
    CONCLUDED = "concluded"  # U11: done, cannot be reopened
    FAILED = "failed"  # U12: red until support resolves it; no retry before that
    RESOLVED = "resolved"  # U12: support marked the failure resolved; a new update may open
    CANCELLED = "cancelled"  # U2: closed before any START

    @property
    def active(self) -> bool:
        """Active updates hold the site: at most one per site (U14)."""
        return self in _ACTIVE

    @property
    def phase(self) -> int | None:
        return _PHASES.get(self)


_ACTIVE = frozenset(
    {
        UpdateState.AWAITING_CODE,
        UpdateState.OPEN,
        UpdateState.NOTIFYING,
        UpdateState.SERVER_UPDATING,
        UpdateState.SERVER_UPDATED,
        UpdateState.FAILED,
    }
)
_PHASES = {
    UpdateState.OPEN: 1,
    UpdateState.NOTIFYING: 1,
    UpdateState.SERVER_UPDATING: 2,
    UpdateState.SERVER_UPDATED: 3,
}


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """Counts over the site's enabled devices, from one aggregate query (never device rows)."""

    enabled: int = 0
    notified: int = 0
    delivered: int = 0
    blocked: int = 0
    waiting: int = 0
    on_target: int = 0

    @property
    def all_waiting(self) -> bool:
        return self.waiting >= self.enabled

    @property
    def not_on_target(self) -> int:
        return max(0, self.enabled - self.on_target)


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str
    exit_code: int | None = None
    log_tail: str = ""
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """What the installer agent last told us during phase 2 (U8)."""

    last_heartbeat: datetime | None = None
    last_progress: str | None = None
    last_percent: int | None = None
    last_progress_at: datetime | None = None
    install_started_at: datetime | None = None

    def last_sign_of_life(self) -> datetime | None:
        times = [t for t in (self.last_heartbeat, self.last_progress_at,
                             self.install_started_at) if t is not None]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class Update:
    """One coordinated update of one product at one site (the saga's state)."""

    update_id: str
    site_id: str
    product: str
    from_version: str
    to_version: str
    package: PackageRef
    state: UpdateState
    opened_at: datetime
    opened_by: str
    notes_url: str | None = None
    devices_released: bool = False
    forced: bool = False
    authorized_by: tuple[str, ...] = ()
    notifying_since: datetime | None = None
    server_update_started_at: datetime | None = None
    server_updated_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    failure: Failure | None = None
    agent: AgentStatus = field(default_factory=AgentStatus)
    challenge: str | None = None  # U13: shown while awaiting_code, fresh at each opening
    code_attempts: int = 0  # U13: wrong responses to the current challenge
    force_requested_by: str | None = None  # U7: the first admin's request, awaiting approval
    force_requested_at: datetime | None = None
    devices_reactivated_at: datetime | None = None  # U12: ERROR UPDATE sent after the failure
    failed_at: datetime | None = None  # U12: the agent reported the failure then
    version: int = 0  # row version for optimistic concurrency; the repository bumps it

    @property
    def phase(self) -> int | None:
        return self.state.phase

    @property
    def active(self) -> bool:
        return self.state.active


def agent_not_responding(update: Update, now: datetime, silence_s: float) -> bool:
    """U8: silent for longer than the setting during phase 2 → "not responding — do not
    interrupt" (shown, never treated as a failure)."""
    if update.state is not UpdateState.SERVER_UPDATING:
        return False
    since = update.agent.last_sign_of_life() or update.server_update_started_at
    return since is not None and (now - since).total_seconds() > silence_s


class NotAllowed(Refused):
    """The command is not allowed in the update's current state."""

    code = "not_allowed"


class ConfirmationNeeded(NotAllowed):
    """Allowed only with an explicit confirmation (U11: devices not yet updated)."""

    code = "confirmation_needed"

    def __init__(self, message: str, not_updated: int, **reason: Any) -> None:
        super().__init__(message, **reason)
        self.not_updated = not_updated


class PlatformRequired(NotAllowed):
    """R8: the release needs a newer platform, which must be installed first (its own update)."""

    code = "platform_required"

    def __init__(self, message: str, *, product: str, version: str, platform_version: str,
                 installed_platform_version: str | None) -> None:
        super().__init__(message, reason="platform_required", platform_version=platform_version,
                         version=version, product=product)
        self.product = product
        self.version = version
        self.platform_version = platform_version
        self.installed_platform_version = installed_platform_version

    def fields(self) -> dict[str, Any]:
        return {"product": self.product, "version": self.version,
                "platform_version": self.platform_version,
                "installed_platform_version": self.installed_platform_version}


class InvalidCommand(Refused, ValueError):
    """The command itself is wrong, whatever the state."""

    code = "invalid_command"


class NotPermitted(Refused):
    """The rules of the update refuse this person: e.g. the admin who asked to force cannot
    approve his own request on a site with several admins (U7)."""

    code = "not_permitted"


class UpdateAlreadyActive(NotAllowed):
    """U14: the site has an active update already; raised when saving a second one (the
    database's unique index is the last line of this rule, whatever the replicas do)."""

    code = "update_already_active"


class TooManyAttempts(Refused):
    """U13: too many wrong confirmation codes for this challenge, until a new one."""

    code = "too_many_attempts"

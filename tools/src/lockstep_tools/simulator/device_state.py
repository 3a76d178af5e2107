"""What one simulated device decides: pure (no I/O, no clock, no randomness).

The driver (``device.py``) feeds the state machine what happened (notifications received,
results of its requests) and executes the commands it returns, one after another:

    START  -> Acknowledge, ReportBlocked, HandInData        (D2, D3, D4)
    END    -> Acknowledge, FetchDirective (again with backoff while 409), Download (answered
              404/409: the directive is stale, FetchDirective again), and once the package is
              verified the device "installs" it -> ReportVersion  (D5, D6, D7)
    ERROR  -> Acknowledge; the device unblocks itself
    start of the app -> FetchDirective: 204 nothing to do, 200 self-update (D10)
    periodic check (every exchange with the server, seed 000) -> FetchDirective: 200 installs,
              409/204 change nothing
    the operator restarts the app -> FetchDirective as after END (retried while 409)
    the operator sends unsent data -> HandInData with the update id the device knows (answered
              409 not_active_update: that id is forgotten, HandInData again with none)
    staging (the driver's background task, issue 14 §2) -> ``package_staged``; a directive that
              says ``staged`` for the package it holds is installed without downloading
    a request that fails (gateway unreachable, an answer it cannot read, any unexpected error)
              -> counted in ``errors`` / ``last_error``; a failed directive fetch or download
              asks for the directive again with backoff, up to MAX_DIRECTIVE_FAILURES times
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lockstep_tools.simulator.behaviour import WELL_BEHAVED, Behaviour
from lockstep_tools.simulator.device_messages import (
    Acknowledge,
    Acknowledged,
    BlockedReported,
    BlockRefused,
    Command,
    DataHandedIn,
    Directive,
    DirectiveReceived,
    Disabled,
    Download,
    DownloadFailed,
    DownloadStale,
    DownloadVerified,
    FetchDirective,
    HandInData,
    NothingToInstall,
    Notification,
    Outcome,
    Phase,
    ReportBlocked,
    ReportVersion,
    RequestFailed,
    Result,
    SyncNamedUnknownUpdate,
    SyncRefused,
    UpdateInPreparation,
    VersionReported,
)

DIRECTIVE_RETRY_CAP_S = 10.0
MAX_DIRECTIVE_FAILURES = 20

__all__ = [
    "DIRECTIVE_RETRY_CAP_S",
    "MAX_DIRECTIVE_FAILURES",
    "Acknowledge",
    "Acknowledged",
    "BlockRefused",
    "BlockedReported",
    "Command",
    "DataHandedIn",
    "DeviceState",
    "Directive",
    "DirectiveReceived",
    "Disabled",
    "Download",
    "DownloadFailed",
    "DownloadStale",
    "DownloadVerified",
    "FetchDirective",
    "HandInData",
    "NothingToInstall",
    "Notification",
    "Outcome",
    "Phase",
    "ReportBlocked",
    "ReportVersion",
    "RequestFailed",
    "Result",
    "SyncNamedUnknownUpdate",
    "SyncRefused",
    "UpdateInPreparation",
    "VersionReported",
    "directive_backoff",
]


_STOPPED_FOR_AN_UPDATE = (Phase.BLOCKED, Phase.WAITING, Phase.SYNC_REFUSED)


def directive_backoff(attempt: int) -> float:
    """Delay before asking for the directive again: 0.5, 1, 2, 4, 8, 10, 10, … seconds."""
    return min(0.5 * 2 ** max(attempt - 1, 0), DIRECTIVE_RETRY_CAP_S)


@dataclass(slots=True)
class DeviceState:
    serial: str
    app_version: str
    unsent_records: int
    behaviour: Behaviour = WELL_BEHAVED
    phase: Phase = Phase.UNREGISTERED
    site_version: str | None = None
    connected: bool = False
    update_id: str | None = None
    start_received: bool = False
    end_received: bool = False
    error_received: bool = False
    blocked: bool = False
    block_reported: bool = False
    synced: bool = False
    waiting_for_update: bool = False
    sync_refused_reason: str | None = None
    directive: Directive | None = None
    directive_attempts: int = 0
    outcome: Outcome | None = None
    reported_version: str | None = None
    download_resumes: int = 0
    staged: Directive | None = None  # the next release, downloaded in the background
    installed_from_staged: int = 0
    ignored_notifications: int = 0
    errors: int = 0
    last_error: str | None = None
    seen: set[str] = field(default_factory=set)
    acked: set[str] = field(default_factory=set)

    # ---- lifecycle ---------------------------------------------------------------------

    def registered(self, site_version: str | None) -> None:
        self.phase = Phase.WORKING
        self.site_version = site_version

    def started(self) -> list[Command]:
        """The app starts: ask whether something must be installed (D10)."""
        return [FetchDirective()]

    def back_online(self) -> None:
        """An offline device reaches the network again (its driver starts now)."""
        self.behaviour = replace(self.behaviour, offline=False)

    def periodic_check(self) -> list[Command]:
        """Every exchange with the server also asks for an update (seed 000): a device at work
        installs what the directive gives it (D10); a 409 or 204 changes nothing. A device
        stopped for an update waits for END on its push channel — unless its notifications are
        off: then these checks are how it learns that it may install."""
        if self.behaviour.never_ack or self.behaviour.offline:
            return []  # a broken app / no network: it asks nothing
        if self.phase == Phase.WORKING or (
            self.phase in _STOPPED_FOR_AN_UPDATE and self.behaviour.notifications_disabled
        ):
            return [FetchDirective()]
        return []

    def operator_checks_for_update(self) -> list[Command]:
        """The operator (re)starts the app: it asks for the directive as after END — installs on
        200, asks again with backoff while 409 (update in preparation), 204 nothing to do."""
        if self.phase in (Phase.UNREGISTERED, Phase.DISABLED, Phase.UPDATING, Phase.DOWNLOADING):
            return []
        self.phase = Phase.UPDATING
        self.directive_attempts = 0
        return [FetchDirective()]

    def operator_hands_in_data(self) -> list[Command]:
        """The operator uses "send unsent data": POST /sync with the update the device knows of
        (from START, END or a directive), else none (D4)."""
        if self.phase in (Phase.UNREGISTERED, Phase.DISABLED):
            return []
        return [HandInData(self.update_id, self.unsent_records)]

    @property
    def may_stage(self) -> bool:
        """Whether it asks to stage the site's next release in the background now: a running
        app at work or stopped for an update, not while it installs one."""
        if self.behaviour.never_ack or self.behaviour.offline:
            return False
        return self.phase in (Phase.WORKING, *_STOPPED_FOR_AN_UPDATE)

    def package_staged(self, package: Directive) -> None:
        """The background download verified: kept, not installed."""
        self.staged = package

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    # ---- push channel --------------------------------------------------------------------

    def receive(self, notifications: list[Notification]) -> list[Command]:
        commands: list[Command] = []
        for notification in notifications:
            if notification.id in self.seen:
                if notification.id not in self.acked and not self.behaviour.never_ack:
                    commands.append(Acknowledge(notification.id))  # an earlier ack failed
                continue
            self.seen.add(notification.id)
            if self.behaviour.never_ack:
                self._note_received(notification)
                self.ignored_notifications += 1
                continue
            commands.append(Acknowledge(notification.id))
            commands.extend(self._act_on(notification))
        return commands

    def _note_received(self, notification: Notification) -> None:
        if notification.kind == "start":
            if notification.update_id != self.update_id:
                self._new_update(notification.update_id)
            self.start_received = True
        elif notification.kind == "end":
            if notification.update_id is not None and notification.update_id != self.update_id:
                self._end_of_another_update(notification.update_id)
            self.end_received = True
        elif notification.kind == "error":
            self.error_received = True

    def _new_update(self, update_id: str | None) -> None:
        self.update_id = update_id
        self.start_received = self.end_received = self.error_received = False
        self.blocked = self.block_reported = self.synced = self.waiting_for_update = False
        self.sync_refused_reason = None
        self.directive = None
        self.directive_attempts = 0
        self.outcome = None

    def _end_of_another_update(self, update_id: str) -> None:
        """END of an update whose START never reached the device (blocked by codes, or
        offline): forget the previous update's outcome, keep the device's block."""
        self.update_id = update_id
        self.end_received = self.error_received = False
        self.directive = None
        self.directive_attempts = 0
        self.outcome = None

    def _act_on(self, notification: Notification) -> list[Command]:
        self._note_received(notification)
        if notification.kind == "start":
            self.blocked = True
            self.phase = Phase.BLOCKED
            if notification.update_id is None:
                return [HandInData(None, self.unsent_records)]
            return [
                ReportBlocked(notification.update_id),
                HandInData(notification.update_id, self.unsent_records),
            ]
        if notification.kind == "end":
            if self.phase in (Phase.UPDATING, Phase.DOWNLOADING):
                return []
            if self.outcome == Outcome.UPDATED:
                return []  # a periodic check installed this update's package already
            self.phase = Phase.UPDATING
            self.directive_attempts = 0
            return [FetchDirective()]
        if notification.kind == "error":
            self.blocked = self.waiting_for_update = False
            self.phase = Phase.WORKING
            if self.outcome is None:
                self.outcome = Outcome.ERRORED
        return []

    def manually_blocked(self) -> None:
        """Code 2 for ``block`` verified offline (D8): the device shows its blocked screen."""
        self.blocked = True
        if self.phase == Phase.WORKING:
            self.phase = Phase.BLOCKED

    def manually_unblocked(self) -> None:
        """Code 2 for ``unblock`` verified offline (D8): back to normal work."""
        self.blocked = self.waiting_for_update = False
        if self.phase in (Phase.BLOCKED, Phase.WAITING, Phase.SYNC_REFUSED):
            self.phase = Phase.WORKING

    # ---- results of the device's requests ----------------------------------------------

    def apply(self, result: Result) -> list[Command]:
        match result:
            case Acknowledged(notification_id):
                self.acked.add(notification_id)
            case BlockedReported():
                self.block_reported = True
            case BlockRefused(detail):
                self._error(f"blocked refused: {detail}")
            case DataHandedIn(waiting):
                self.synced = True
                self.unsent_records = 0
                self.waiting_for_update = waiting
                if waiting and self.phase == Phase.BLOCKED:
                    self.phase = Phase.WAITING
            case SyncNamedUnknownUpdate():
                self.update_id = None  # forgotten: hand in again naming no update
                return [HandInData(None, self.unsent_records)]
            case SyncRefused(detail):
                self.sync_refused_reason = detail
                if self.phase == Phase.BLOCKED:
                    self.phase = Phase.SYNC_REFUSED
            case DirectiveReceived(directive):
                self.directive = directive
                if self.update_id is None:
                    self.update_id = directive.update_id
                if directive.staged and self.staged is not None and (
                        self.staged.sha256 == directive.sha256):
                    self.installed_from_staged += 1  # verified when staged: install it
                    return self._install(directive)
                self.phase = Phase.DOWNLOADING
                return [Download(directive, interrupt_once=self.behaviour.interrupt_download)]
            case UpdateInPreparation():
                if self.phase == Phase.UPDATING:
                    self.directive_attempts += 1
                    return [FetchDirective(directive_backoff(self.directive_attempts))]
            case NothingToInstall():
                if self.phase == Phase.UPDATING:
                    in_update = self.blocked or self.end_received
                    if self.outcome is None and in_update:
                        self._back_to_work(Outcome.UP_TO_DATE)
                    else:
                        self._back_to_work(self.outcome)
            case DownloadVerified(directive, resumes):
                self.download_resumes += resumes
                return self._install(directive)
            case DownloadStale():
                self.directive = None
                self.phase = Phase.UPDATING
                self.directive_attempts += 1
                return [FetchDirective(directive_backoff(self.directive_attempts))]
            case DownloadFailed(reason):
                self._error(f"download failed: {reason}")
                self.phase = Phase.FAILED
                self.outcome = Outcome.DOWNLOAD_FAILED
            case VersionReported(version):
                self.reported_version = version
            case RequestFailed(command, detail):
                self._error(f"{type(command).__name__}: {detail}")
                retry_download = isinstance(command, Download) and self.phase == Phase.DOWNLOADING
                if retry_download:
                    self.phase = Phase.UPDATING  # ask for the directive again, then download
                if retry_download or (
                    isinstance(command, FetchDirective) and self.phase == Phase.UPDATING
                ):
                    self.directive_attempts += 1
                    if self.directive_attempts < MAX_DIRECTIVE_FAILURES:
                        return [FetchDirective(directive_backoff(self.directive_attempts))]
                    self.phase = Phase.FAILED
                    self.outcome = Outcome.DOWNLOAD_FAILED
            case Disabled(detail):
                self._error(f"disabled: {detail}")
                self.phase = Phase.DISABLED
                self.connected = False
        return []

    def _install(self, directive: Directive) -> list[Command]:
        if self.behaviour.fail_install:
            self.phase = Phase.FAILED
            self.outcome = Outcome.INSTALL_FAILED
            return []
        self.app_version = directive.version
        self._back_to_work(Outcome.UPDATED)
        return [ReportVersion(directive.version)]

    def _back_to_work(self, outcome: Outcome | None) -> None:
        self.phase = Phase.WORKING
        self.blocked = self.waiting_for_update = False
        self.outcome = outcome

    def _error(self, detail: str) -> None:
        self.errors += 1
        self.last_error = detail

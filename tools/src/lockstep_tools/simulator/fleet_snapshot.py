"""What a fleet looks like at one moment: counts and one view per device (read-only)."""

from __future__ import annotations

from dataclasses import dataclass

from lockstep_tools.simulator.device_state import DeviceState, Outcome, Phase


@dataclass(frozen=True, slots=True)
class DeviceView:
    serial: str
    behaviour: str
    phase: str
    app_version: str
    update_id: str | None
    connected: bool
    start_received: bool
    blocked: bool
    block_reported: bool
    synced: bool
    waiting_for_update: bool
    sync_refused_reason: str | None
    end_received: bool
    error_received: bool
    outcome: str | None
    reported_version: str | None
    download_resumes: int
    errors: int
    last_error: str | None
    staged_version: str | None = None
    installed_from_staged: int = 0


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    total: int
    registered: int
    connected: int
    start_received: int
    blocked: int
    block_reported: int
    synced: int
    waiting: int
    sync_refused: int
    end_received: int
    error_received: int
    downloading: int
    installed: int
    up_to_date: int
    failed: int
    finished: int
    expected_to_finish: int
    disabled: int
    errors: int
    devices: tuple[DeviceView, ...]

    def staged(self, version: str) -> int:
        """How many devices hold ``version`` staged (downloaded in the background)."""
        return sum(1 for d in self.devices if d.staged_version == version)

    def on_version(self, version: str) -> int:
        """How many devices run ``version`` now."""
        return sum(1 for d in self.devices if d.app_version == version)

    def device(self, serial: str) -> DeviceView:
        for view in self.devices:
            if view.serial == serial:
                return view
        raise KeyError(f"no simulated device with serial {serial!r}")

    @property
    def all_finished(self) -> bool:
        """Every device that can end an update on its own has ended one."""
        return self.finished >= self.expected_to_finish

    def summary(self) -> str:
        return (
            f"registered={self.registered}/{self.total} connected={self.connected} "
            f"start={self.start_received} blocked={self.blocked} synced={self.synced} "
            f"waiting={self.waiting} refused={self.sync_refused} end={self.end_received} "
            f"downloading={self.downloading} installed={self.installed} "
            f"failed={self.failed} error_notified={self.error_received} "
            f"finished={self.finished}/{self.expected_to_finish} errors={self.errors}"
        )


def snapshot_of(states: list[DeviceState]) -> FleetSnapshot:
    """Counts over the fleet and a view of every device."""
    views = tuple(view_of(state) for state in states)
    return FleetSnapshot(
        total=len(views),
        registered=sum(1 for s in states if s.phase != Phase.UNREGISTERED),
        connected=sum(1 for v in views if v.connected),
        start_received=sum(1 for v in views if v.start_received),
        blocked=sum(1 for v in views if v.blocked),
        block_reported=sum(1 for v in views if v.block_reported),
        synced=sum(1 for v in views if v.synced),
        waiting=sum(1 for v in views if v.waiting_for_update),
        sync_refused=sum(1 for v in views if v.sync_refused_reason is not None),
        end_received=sum(1 for v in views if v.end_received),
        error_received=sum(1 for v in views if v.error_received),
        downloading=sum(1 for v in views if v.phase == Phase.DOWNLOADING),
        installed=sum(1 for v in views if v.outcome == Outcome.UPDATED),
        up_to_date=sum(1 for v in views if v.outcome == Outcome.UP_TO_DATE),
        failed=sum(
            1 for v in views if v.outcome in (Outcome.INSTALL_FAILED, Outcome.DOWNLOAD_FAILED)
        ),
        finished=sum(1 for s in states if s.outcome is not None and s.behaviour.expected_to_finish),
        expected_to_finish=sum(
            1 for s in states if s.behaviour.expected_to_finish and s.phase not in _OUT_OF_SERVICE
        ),
        disabled=sum(1 for v in views if v.phase == Phase.DISABLED),
        errors=sum(v.errors for v in views),
        devices=views,
    )


_OUT_OF_SERVICE = (Phase.UNREGISTERED, Phase.DISABLED)


def view_of(state: DeviceState) -> DeviceView:
    return DeviceView(
        serial=state.serial,
        behaviour=state.behaviour.describe(),
        phase=state.phase.value,
        app_version=state.app_version,
        update_id=state.update_id,
        connected=state.connected,
        start_received=state.start_received,
        blocked=state.blocked,
        block_reported=state.block_reported,
        synced=state.synced,
        waiting_for_update=state.waiting_for_update,
        sync_refused_reason=state.sync_refused_reason,
        end_received=state.end_received,
        error_received=state.error_received,
        outcome=state.outcome.value if state.outcome else None,
        reported_version=state.reported_version,
        download_resumes=state.download_resumes,
        errors=state.errors,
        last_error=state.last_error,
        staged_version=state.staged.version if state.staged else None,
        installed_from_staged=state.installed_from_staged,
    )

"""U10: device management rules (disable needs a double confirmation), and the device rows the
grid (U3, U9) and device management (U10) read: ``DeviceLine``, ``ManagedDevice`` and
``GridFilter``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lockstep_shared.catalogue import DeviceDisabled, DeviceEnabled
from orchestrator.domain.model import InvalidCommand

# The grid's notes are codes the console translates (``grid.note.<code>`` in its catalogues)
NOTE_BLOCKED_BY_CODE = "blocked_by_code"
NOTE_UNBLOCKED_BY_CODE = "unblocked_by_code"
NOTE_UNBLOCKED_AFTER_ERROR = "unblocked_after_error"
NOTE_UPDATED = "updated"  # reported the update's new version: working again
NOTE_RESUMED_NOTHING_TO_INSTALL = "resumed_nothing_to_install"  # END of the platform's update
NOTE_DDI_STAGED = "ddi_staged"  # a DDI agent's waiting: the package is staged on the device
NOTE_DDI_ADMIN = "ddi_admin"  # a DDI agent's waiting: blocked by the site admin
NOTES = (NOTE_BLOCKED_BY_CODE, NOTE_UNBLOCKED_BY_CODE, NOTE_UNBLOCKED_AFTER_ERROR, NOTE_UPDATED,
         NOTE_RESUMED_NOTHING_TO_INSTALL, NOTE_DDI_STAGED, NOTE_DDI_ADMIN)


def disable_device(site_id: str, serial: str, actor: str, *, confirm: bool,
                   confirm_again: bool) -> DeviceDisabled:
    """The device leaves the grid and the gateway refuses it everywhere, so the admin
    confirms twice."""
    if not (confirm and confirm_again):
        raise InvalidCommand(
            f"disabling device {serial} removes it from the grid and stops it working until it "
            "is enabled again: confirm twice (confirm: true, confirm_again: true)",
            reason="confirm_disable_twice", serial=serial)
    return DeviceDisabled(site_id=site_id, serial=serial, disabled_by=actor)


def enable_device(site_id: str, serial: str, actor: str) -> DeviceEnabled:
    return DeviceEnabled(site_id=site_id, serial=serial, enabled_by=actor)


GridFilter = Literal["all", "updated", "not_updated"]


@dataclass(frozen=True, slots=True)
class DeviceLine:
    """One row of the grid (U3, U9)."""

    serial: str
    model: str
    operator_code: str | None
    operator_name: str | None
    operator_phone: str | None
    last_sync: datetime | None
    notifications_enabled: bool
    notification_sent: bool
    notification_kind: str | None
    notification_outcome: str | None
    notification_note: str | None
    blocked: bool
    waiting_for_update: bool
    app_version: str
    on_target_version: bool | None
    notes: str | None
    agent: str | None
    ddi_waiting: str | None
    last_contact: datetime | None
    staged_version: str | None = None  # issue 14: the next release, staged in the background

    @property
    def package_staged(self) -> bool:
        """It holds a newer release than it runs, downloaded and verified: after END UPDATE it
        only installs it."""
        return self.staged_version is not None and self.staged_version != self.app_version


@dataclass(frozen=True, slots=True)
class ManagedDevice:
    """One device as device management shows it (U10), disabled ones included."""

    serial: str
    model: str
    operator_code: str | None
    operator_name: str | None
    operator_phone: str | None
    app_version: str
    enabled: bool
    notifications_enabled: bool
    blocked: bool
    last_sync: datetime | None
    registered_at: datetime | None
    last_contact: datetime | None

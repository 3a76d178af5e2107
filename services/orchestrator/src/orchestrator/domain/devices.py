"""U10: device management rules (disable needs a double confirmation)."""

from __future__ import annotations

from lockstep_shared.catalogue import DeviceDisabled, DeviceEnabled
from orchestrator.domain.model import InvalidCommand

# The grid's notes are codes the console translates (``grid.note.<code>`` in its catalogues)
NOTE_BLOCKED_BY_CODE = "blocked_by_code"
NOTE_UNBLOCKED_BY_CODE = "unblocked_by_code"
NOTE_UNBLOCKED_AFTER_ERROR = "unblocked_after_error"
NOTE_UPDATED = "updated"  # reported the update's new version: working again
NOTE_DDI_STAGED = "ddi_staged"  # a DDI agent's waiting: the package is staged on the device
NOTE_DDI_ADMIN = "ddi_admin"  # a DDI agent's waiting: blocked by the site admin
NOTES = (NOTE_BLOCKED_BY_CODE, NOTE_UNBLOCKED_BY_CODE, NOTE_UNBLOCKED_AFTER_ERROR, NOTE_UPDATED,
         NOTE_DDI_STAGED, NOTE_DDI_ADMIN)


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

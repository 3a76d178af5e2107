"""One device's part in the barrier of its site's update (U6), as the grid shows it.

*Waiting for update* means blocked for the update (after START, or with the offline codes)
**and** data handed in after blocking. The gateway decides it at each hand-in and tells us with
its events; those events may arrive in any order (several consumers, redeliveries), so each
one names the block it belongs to — the time that block began (``DeviceBlocked.blocked_at``,
repeated on a hand-in made in it) — and an unblock its own time. Older news about the
device's block than what the row already reflects changes nothing; a newer block starts
without a hand-in.

Pure: the adapter loads the row, asks these functions, and saves what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DeviceBarrier:
    """The flags of one device for the update its row belongs to (``update_id``)."""

    update_id: str | None
    blocked: bool = False
    waiting: bool = False
    changed_at: datetime | None = None  # the block (or unblock) the flags reflect began then

    @property
    def ready(self) -> bool:
        """Counts for the plain Start of the server update: blocked, then handed in."""
        return self.blocked and self.waiting

    def _news(self, at: datetime) -> bool:
        """News about a block that began at ``at``: not older than what the flags reflect
        (an unblock at the same instant wins)."""
        return self.changed_at is None or at > self.changed_at or (
            at == self.changed_at and self.blocked)


def on_blocked(barrier: DeviceBarrier, update_id: str, blocked_at: datetime
               ) -> DeviceBarrier | None:
    """The device blocked for ``update_id`` at ``blocked_at`` (None: changes nothing). The
    same block reported again keeps its hand-in; a newer block waits for a new one."""
    if barrier.update_id != update_id or not barrier._news(blocked_at):
        return None
    if barrier.changed_at == blocked_at:
        return None  # the block the flags already reflect
    return replace(barrier, blocked=True, waiting=False, changed_at=blocked_at)


def on_handed_in(barrier: DeviceBarrier, update_id: str | None, blocked_at: datetime | None,
                 *, in_phase_1: bool) -> DeviceBarrier | None:
    """A hand-in the gateway counted as waiting for ``update_id``, made in the block that
    began at ``blocked_at``; it proves that block too (its ``DeviceBlocked`` may come later).
    Without an update or a block (normal work, or after phase 1) it changes no flag."""
    if (update_id is None or blocked_at is None or not in_phase_1
            or barrier.update_id != update_id or not barrier._news(blocked_at)):
        return None
    new = replace(barrier, blocked=True, waiting=True, changed_at=blocked_at)
    return None if new == barrier else new


def on_unblocked(barrier: DeviceBarrier, unblocked_at: datetime) -> DeviceBarrier | None:
    """The device resumed work at ``unblocked_at`` (ERROR UPDATE, or the offline codes): not
    blocked, and what it handed in before no longer counts."""
    if not barrier._news(unblocked_at):
        return None
    return replace(barrier, blocked=False, waiting=False, changed_at=unblocked_at)

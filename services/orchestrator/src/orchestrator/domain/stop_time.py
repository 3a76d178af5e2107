"""The stop time of an update (issue 14 §2): from the first device blocked for it to the last
enabled device back at work on the new version. Pure: the moments come from the devices'
events, ``complete`` from the fleet (every enabled device on the target version)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StopTime:
    first_blocked_at: datetime | None = None
    last_back_at: datetime | None = None
    complete: bool = False  # every enabled device was back on the new version

    @property
    def seconds(self) -> float | None:
        """From the first block to the last device back so far (None before either)."""
        if self.first_blocked_at is None or self.last_back_at is None:
            return None
        return round(max(0.0, (self.last_back_at - self.first_blocked_at).total_seconds()), 3)


def device_blocked(current: StopTime, at: datetime) -> StopTime | None:
    """A device blocked for the update: the stop began at the earliest block (events arrive in
    any order); None: nothing changes. A stop already measured is not reopened."""
    if current.complete or (current.first_blocked_at is not None
                            and current.first_blocked_at <= at):
        return None
    return replace(current, first_blocked_at=at)


def device_back(current: StopTime, at: datetime, *, everyone_back: bool) -> StopTime | None:
    """A device reported the new version after END UPDATE: the stop lasts at least until then;
    it is complete once every enabled device is back. None: nothing changes (already
    complete, or nothing was blocked: no stop to measure)."""
    if current.complete or current.first_blocked_at is None:
        return None
    last = at if current.last_back_at is None else max(current.last_back_at, at)
    new = replace(current, last_back_at=last, complete=everyone_back)
    return None if new == current else new

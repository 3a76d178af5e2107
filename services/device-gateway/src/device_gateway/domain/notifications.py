"""Push notifications (D2): START, END or ERROR of an update, one per device, and their
delivery outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DEVICE_NOT_CONNECTED = "device not connected"
NOT_ACKNOWLEDGED = "not acknowledged in time"

# END UPDATE sends the device for its directive: it is handed over only once the gateway has
# recorded that its update released the devices (the site's update is that update, past
# ``updates.BEFORE_RELEASE``), so the directive asked for after END never answers "in
# preparation" — whichever of the two events a replica commits first.
HELD_UNTIL_RELEASED = "end"


def not_delivered_reason(sent_at: datetime | None) -> str:
    """A notification past its deadline: never handed to an open long-poll, or handed but
    never acknowledged."""
    return DEVICE_NOT_CONNECTED if sent_at is None else NOT_ACKNOWLEDGED


@dataclass(frozen=True, slots=True)
class Notification:
    """One device's unacknowledged notification; ``seq`` is its id in the device API."""

    seq: int
    serial: str
    kind: str  # start | end | error
    update_id: str
    created_at: datetime
    sent_at: datetime | None  # first handed to a long-poll


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A notification at its first acknowledgement, with the request that asked for it."""

    update_id: str
    kind: str
    correlation_id: str
    cause_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Overdue:
    """A notification claimed past its deadline (reported once), with its request."""

    site_id: str
    serial: str
    update_id: str
    kind: str
    sent_at: datetime | None
    correlation_id: str
    cause_id: str

"""The subscription decision for a site's licence (R4). Pure: the clock is passed in.

The record itself is the vendor feed's (``lockstep_shared.contracts.vendor_feed``); whatever it
says, TUF has vouched for it. This module decides what it means now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lockstep_shared.contracts.vendor_feed import EntitlementRecord

NO_SUBSCRIPTION = "no update subscription for this licence"
SUSPENDED = "the update subscription for this licence is not active"


@dataclass(frozen=True, slots=True)
class Entitlement:
    """The decision for one check: may the site be offered releases, and if not why."""

    active: bool
    valid_until: datetime | None
    reason: str | None


def decide_entitlement(record: EntitlementRecord | None, now: datetime) -> Entitlement:
    """Missing record → inactive; inactive → inactive; ``valid_until`` passed → inactive
    (expired); otherwise active until ``valid_until`` (None: no end)."""
    if record is None:
        return Entitlement(active=False, valid_until=None, reason=NO_SUBSCRIPTION)
    if not record.active:
        return Entitlement(active=False, valid_until=record.valid_until, reason=SUSPENDED)
    if record.valid_until is not None and record.valid_until <= now:
        expired_on = record.valid_until.astimezone(UTC).date().isoformat()
        return Entitlement(
            active=False,
            valid_until=record.valid_until,
            reason=f"subscription expired on {expired_on}",
        )
    return Entitlement(active=True, valid_until=record.valid_until, reason=None)

"""The vendor's subscription answer for a site's licence (R4). Pure: the clock is passed in.

The vendor publishes one TUF target per licence, ``entitlements/<sha256(license key)>.json``
holding ``{"active": bool, "valid_until": iso datetime | null}`` (the feed is public, so the
licence key itself never appears in it). The watcher reads the site's target at every check;
whatever it says, TUF has vouched for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

ENTITLEMENTS_DIR = "entitlements"

NO_SUBSCRIPTION = "no update subscription for this licence"
SUSPENDED = "the update subscription for this licence is not active"


class InvalidEntitlement(ValueError):
    """The entitlement target is not a valid entitlement record."""


class EntitlementRecord(BaseModel):
    """What the vendor signs for one licence."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    active: bool
    valid_until: AwareDatetime | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


@dataclass(frozen=True, slots=True)
class Entitlement:
    """The decision for one check: may the site be offered releases, and if not why."""

    active: bool
    valid_until: datetime | None
    reason: str | None


def entitlement_target(license_key: str) -> str:
    """The TUF target path of a licence's entitlement record."""
    digest = hashlib.sha256(license_key.encode()).hexdigest()
    return f"{ENTITLEMENTS_DIR}/{digest}.json"


def end_of_day(day: date) -> datetime:
    """``--until 2026-12-31`` means valid through that whole day (UTC)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def parse_entitlement(data: bytes) -> EntitlementRecord:
    try:
        return EntitlementRecord.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise InvalidEntitlement(
            f"the vendor's subscription record for this licence is invalid: {problems}"
        ) from exc


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

"""Who may register a serial (D1, S6, issue 10 §3; ``docs/device-protocol.md`` §4.1). Pure: no
I/O, no clock (``now`` is passed in).

The site-wide enrolment code admits a *new* serial. A serial the site already knows is the
device holding its current secret, so registering it again needs one of:

- ``Lockstep-Secret-Proof``: ``HMAC-SHA256(current secret, "register|<site>|<serial>")``;
- the ``Idempotency-Key`` that created the current credentials (a retry after a lost answer:
  the device never received the secret), within :data:`IDEMPOTENCY_TTL` of that registration;
- the site admin's approval from the grid (the device lost its secret: reinstalled, reset),
  valid for one registration within :data:`APPROVAL_TTL`.

Otherwise ``403 reregistration_refused``: the enrolment code alone does not take a device over.
Wrong enrolment codes are counted per client and per site (:data:`ENROLMENT_LIMITS`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lockstep_shared.contracts.device_registration import proves_secret
from lockstep_shared.throttle import Limit

ENROLMENT_WINDOW = timedelta(minutes=5)
# A client (one address) gets 5 wrong codes in 5 minutes, like a login; a site 20 from all
# clients together (its devices enrol from many addresses; a guesser rotating addresses is
# still held to the site's).
ENROLMENT_LIMITS: Mapping[str, Limit] = {
    "client": Limit(allowed=5, window=ENROLMENT_WINDOW),
    "site": Limit(allowed=20, window=ENROLMENT_WINDOW),
}
APPROVAL_TTL = timedelta(hours=1)
IDEMPOTENCY_TTL = timedelta(hours=24)

REFUSED = ("serial {serial} is already registered at site {site_id}, and this request proved "
           "nothing: send Lockstep-Secret-Proof made with the device's current secret, or ask "
           "the site admin to approve the re-registration of serial {serial} from the device "
           "grid, then register again")


class Ground(StrEnum):
    """Why a registration of this serial is admitted (persisted in ``DeviceRegistered``)."""

    NEW = "new"  # the site did not know the serial
    SECRET_PROOF = "secret_proof"
    IDEMPOTENCY_KEY = "idempotency_key"
    ADMIN_APPROVAL = "admin_approval"


@dataclass(frozen=True, slots=True)
class KnownDevice:
    """A registered serial: what a re-registration must match."""

    secret: str
    enabled: bool
    token_sha256: str
    registered_at: datetime
    idempotency_key_sha256: str | None = None
    approved_at: datetime | None = None


def key_hash(idempotency_key: str) -> str:
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def admission(known: KnownDevice | None, site_id: str, serial: str, *, proof: str | None,
              idempotency_key: str | None, now: datetime) -> Ground | None:
    """The ground on which this registration is admitted, or None (reregistration_refused).
    The enrolment code was checked before; a disabled device is refused before."""
    if known is None:
        return Ground.NEW
    if proof and proves_secret(known.secret, site_id, serial, proof):
        return Ground.SECRET_PROOF
    if (idempotency_key and known.idempotency_key_sha256
            and now - known.registered_at < IDEMPOTENCY_TTL
            and hmac.compare_digest(known.idempotency_key_sha256, key_hash(idempotency_key))):
        return Ground.IDEMPOTENCY_KEY
    if known.approved_at is not None and timedelta(0) <= now - known.approved_at < APPROVAL_TTL:
        return Ground.ADMIN_APPROVAL
    return None


def refusal(site_id: str, serial: str) -> str:
    return REFUSED.format(site_id=site_id, serial=serial)


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The device a token hash belongs to, and whether it may act (S2, D9)."""

    site_id: str
    serial: str
    enabled: bool

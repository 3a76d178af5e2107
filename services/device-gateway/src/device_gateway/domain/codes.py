"""The rules of a three-code exchange at the gateway (D8, U5): expiry, attempts, single use.
Pure: no I/O, no clock (``now`` is passed in). The formulas themselves are the device's and the
gateway's shared contract, ``lockstep_shared.contracts.offline_codes``.

An exchange is single use, expires after :data:`EXCHANGE_TTL` and allows :data:`MAX_ATTEMPTS`
wrong code 3 entries; a device may have at most :data:`MAX_EXCHANGES_PER_TTL` exchanges issued
within one :data:`EXCHANGE_TTL` (S6). A code 1 is used once per device (per device secret):
code 3 depends only on the secret, the action and code 1, so an exchange opened again with a
recorded code 1 would accept the recorded code 3 — refusing the code 1 binds code 3 to its
exchange.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from device_gateway.domain.updates import ENDED, Block, Phase
from lockstep_shared.contracts.offline_codes import (
    ACTIONS,
    DIGITS,
    EXCHANGE_TTL_S,
    Action,
    code1_from_nonce,
    code2,
    code3,
    code_problem,
    normalize,
)

__all__ = ["ACTIONS", "DIGITS", "EXCHANGE_TTL", "MAX_ATTEMPTS", "MAX_EXCHANGES_PER_TTL", "Action",
           "Exchange", "ExchangeDevice", "Outcome", "Verdict", "code1_from_nonce", "code2",
           "code3", "code_problem", "expiry", "issue_refusal", "judge", "normalize",
           "reuse_refusal"]

EXCHANGE_TTL = timedelta(seconds=EXCHANGE_TTL_S)
MAX_ATTEMPTS = 5
MAX_EXCHANGES_PER_TTL = 5


# --- the exchange's rules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    action: Action
    code1: str
    code2: str
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExchangeDevice:
    """The device of an exchange: its secret (the codes' key), whether it may act, and its
    site's update (a block needs an active one; the block is recorded for it)."""

    secret: str
    enabled: bool
    update_id: str | None
    update_phase: Phase | None
    block: Block | None = None  # the update it is blocked for, if any

    @property
    def update_active(self) -> bool:
        return self.update_phase is not None and self.update_phase not in ENDED


class Outcome(StrEnum):
    VERIFIED = "verified"  # 200: the device's new state is recorded
    WRONG = "wrong"  # 422 with attempts_left
    GONE = "gone"  # 410: expired or already used
    TOO_MANY = "too_many"  # 429: no attempts left


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    detail: str
    attempts_left: int

    @property
    def counts_attempt(self) -> bool:
        """A wrong code uses up an attempt; a verified one uses up the exchange."""
        return self.outcome in (Outcome.WRONG, Outcome.VERIFIED)


def expiry(now: datetime) -> datetime:
    return now + EXCHANGE_TTL


def issue_refusal(recent_exchanges: int) -> str | None:
    """Why no new exchange may be issued for the device now (None = it may)."""
    if recent_exchanges >= MAX_EXCHANGES_PER_TTL:
        minutes = int(EXCHANGE_TTL.total_seconds() // 60)
        return (f"{recent_exchanges} code exchanges for this device in the last {minutes} "
                "minutes: wait before starting another one")
    return None


def reuse_refusal(code1_used_before: bool) -> str | None:
    """Why this code 1 may not open an exchange (None = it may)."""
    if code1_used_before:
        return ("this code 1 was already used in an earlier code exchange of this device: ask "
                "the operator to start the manual block or unblock again for a new code 1")
    return None


def judge(exchange: Exchange, typed_code3: str, secret: str, now: datetime) -> Verdict:
    """The answer to a code 3 typed by the admin."""
    left = max(0, MAX_ATTEMPTS - exchange.attempts)
    if exchange.used_at is not None:
        return Verdict(Outcome.GONE, "this code exchange was already used: start a new one "
                       "with a fresh code 1 from the device", left)
    if now >= exchange.expires_at:
        return Verdict(Outcome.GONE, "this code exchange expired (codes are valid for "
                       f"{int(EXCHANGE_TTL.total_seconds() // 60)} minutes): start a new one "
                       "with a fresh code 1 from the device", left)
    if left == 0:
        return Verdict(Outcome.TOO_MANY, f"{MAX_ATTEMPTS} wrong codes for this exchange: start "
                       "a new one with a fresh code 1 from the device", 0)
    expected = code3(secret, exchange.action, exchange.code1, exchange.code2)
    if hmac.compare_digest(expected, normalize(typed_code3)):
        return Verdict(Outcome.VERIFIED, f"device {exchange.action}ed", left)
    return Verdict(Outcome.WRONG, f"code 3 is not the one the device shows after the "
                   f"{exchange.action}: check it and type it again", left - 1)

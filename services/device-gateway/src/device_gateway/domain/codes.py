"""The three-code offline exchange for manual block and unblock (D8, U5). Pure: no I/O, no
clock (``now`` is passed in); the device simulator imports the formulas for the device side.

1. The device shows **code 1**: 6 digits it drew itself (its nonce): :func:`code1_from_nonce`.
2. The admin enters code 1 with the action; the gateway, which holds the device secret, answers
   **code 2** = ``HMAC-SHA256(secret, "<action>|<code1>|2")`` reduced to 6 digits.
3. The device checks code 2 offline with its own secret, blocks or unblocks itself, and shows
   **code 3** = ``HMAC-SHA256(secret, "<action>|<code1>|<code2>|3")`` reduced to 6 digits.
4. The admin enters code 3; the gateway verifies it and records the device's new state.

"Reduced to 6 digits" = the first 8 bytes of the MAC as a big-endian integer, modulo 10**6,
zero-padded. The key is the device secret exactly as the registration answer gave it, UTF-8.
An exchange is single use, expires after :data:`EXCHANGE_TTL` and allows :data:`MAX_ATTEMPTS`
wrong code 3 entries; a device may have at most :data:`MAX_EXCHANGES_PER_TTL` exchanges issued
within one :data:`EXCHANGE_TTL` (a fresh exchange with the same code 1 expects the same code 3,
so this bounds guessing across exchanges too: S6).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

Action = Literal["block", "unblock"]
ACTIONS: tuple[Action, ...] = ("block", "unblock")
DIGITS = 6
EXCHANGE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
MAX_EXCHANGES_PER_TTL = 5

_SEPARATORS = re.compile(r"[\s-]")


def _digits(secret: str, message: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return f"{int.from_bytes(mac[:8], 'big') % 10**DIGITS:0{DIGITS}d}"


def code1_from_nonce(nonce: int) -> str:
    """The device's code 1 from a random number it drew."""
    return f"{nonce % 10**DIGITS:0{DIGITS}d}"


def code2(secret: str, action: Action, code1: str) -> str:
    """What the admin reads to the operator (the gateway computes it)."""
    return _digits(secret, f"{action}|{code1}|2")


def code3(secret: str, action: Action, code1: str, code2_: str) -> str:
    """What the device shows once it blocked or unblocked itself (the gateway verifies it)."""
    return _digits(secret, f"{action}|{code1}|{code2_}|3")


def normalize(code: str) -> str:
    """A code as typed: spaces and dashes are ignored."""
    return _SEPARATORS.sub("", code)


def code_problem(code: str, name: str) -> str | None:
    """Why a typed code cannot be one (None = it can)."""
    clean = normalize(code)
    if len(clean) != DIGITS or not clean.isdigit():
        return f"{name} must be {DIGITS} digits as the device shows it, got {code!r}"
    return None


# --- the exchange's rules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    action: Action
    code1: str
    code2: str
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None


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

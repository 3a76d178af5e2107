"""Offline block / unblock by challenge-response codes, the device's side (D8, U5).

The formulas are the contract shared with the gateway
(``lockstep_shared.contracts.offline_codes``): code 1 is 6 digits the device draws, code 2 =
HMAC of the device secret, the action and code 1 (the admin gets it from the gateway), code 3 =
HMAC over code 1 and code 2 (the device shows it once it has blocked or unblocked itself; the
gateway verifies it). On the device a challenge is single use, expires
after ``CHALLENGE_TTL_S`` and accepts ``MAX_ATTEMPTS`` wrong code 2 entries. Pure: the clock and
the random number are passed in.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from lockstep_shared.contracts.offline_codes import (
    EXCHANGE_TTL_S,
    Action,
    code1_from_nonce,
    code2,
    code3,
    normalize,
)

CHALLENGE_TTL_S = float(EXCHANGE_TTL_S)
MAX_ATTEMPTS = 3

__all__ = ["CHALLENGE_TTL_S", "MAX_ATTEMPTS", "Action", "Challenge", "CodeRefused", "code2_for"]


class CodeRefused(Exception):
    """Code 2 was wrong, expired, already used or tried too often; the message says which."""


def code2_for(secret: str, code1: str, action: Action) -> str:
    """What the gateway gives the admin (here so tests and the demo can play the admin)."""
    return code2(secret, action, code1)


@dataclass(slots=True)
class Challenge:
    """One manual block or unblock in progress on a device."""

    code1: str
    action: Action
    issued_at: float
    attempts: int = 0
    used: bool = False

    @classmethod
    def issue(cls, random_number: int, action: Action, now: float) -> Challenge:
        if action not in ("block", "unblock"):
            raise ValueError(f"action must be 'block' or 'unblock', got {action!r}")
        return cls(code1=code1_from_nonce(random_number), action=action, issued_at=now)

    def answer(self, secret: str, typed_code2: str, now: float) -> str:
        """Verify code 2 offline; on success the device changes state and shows code 3."""
        if self.used:
            raise CodeRefused("this code 1 was already used: start a new manual block/unblock")
        if now - self.issued_at > CHALLENGE_TTL_S:
            raise CodeRefused("code 1 expired: start a new manual block/unblock")
        if self.attempts >= MAX_ATTEMPTS:
            raise CodeRefused(f"{MAX_ATTEMPTS} wrong codes: start a new manual block/unblock")
        expected = code2(secret, self.action, self.code1)
        typed = normalize(typed_code2)
        if not hmac.compare_digest(expected, typed):
            self.attempts += 1
            left = MAX_ATTEMPTS - self.attempts
            raise CodeRefused(f"wrong code 2 for {self.action}: {left} attempt(s) left")
        self.used = True
        return code3(secret, self.action, self.code1, typed)

"""Offline block / unblock by challenge-response codes, the device's side (D8, U5).

No gateway contract fixes the code format yet; this is the scheme the simulator proposes
(the server side must compute the same):

- code 1: 8 digits the device shows, from a random number it draws (passed in here);
- code 2 = ``digits8(HMAC-SHA256(device_secret, "lockstep-d8|<code1>|<action>|2"))``, what the
  admin's console gives for ``action`` in ``block`` / ``unblock``;
- code 3 = ``digits8(HMAC-SHA256(device_secret, "lockstep-d8|<code1>|<action>|3"))``, what the
  device shows once it has blocked or unblocked itself; the server verifies it.

``digits8`` is RFC 4226 dynamic truncation modulo 10**8. A challenge is single use, expires
after ``CHALLENGE_TTL_S`` and allows ``MAX_ATTEMPTS`` wrong code 2 entries. Pure: the clock and
the random number are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Action = Literal["block", "unblock"]
CHALLENGE_TTL_S = 600.0
MAX_ATTEMPTS = 3


class CodeRefused(Exception):
    """Code 2 was wrong, expired, already used or tried too often; the message says which."""


def digits8(key: str, message: str) -> str:
    mac = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return f"{number % 10**8:08d}"


def code2_for(secret: str, code1: str, action: Action) -> str:
    """What the server computes for the admin (here so tests and the demo can play the admin)."""
    return digits8(secret, f"lockstep-d8|{code1}|{action}|2")


def code3_for(secret: str, code1: str, action: Action) -> str:
    return digits8(secret, f"lockstep-d8|{code1}|{action}|3")


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
        return cls(code1=f"{random_number % 10**8:08d}", action=action, issued_at=now)

    def answer(self, secret: str, code2: str, now: float) -> str:
        """Verify code 2 offline; on success the device changes state and shows code 3."""
        if self.used:
            raise CodeRefused("this code 1 was already used: start a new manual block/unblock")
        if now - self.issued_at > CHALLENGE_TTL_S:
            raise CodeRefused("code 1 expired: start a new manual block/unblock")
        if self.attempts >= MAX_ATTEMPTS:
            raise CodeRefused(f"{MAX_ATTEMPTS} wrong codes: start a new manual block/unblock")
        expected = code2_for(secret, self.code1, self.action)
        if not hmac.compare_digest(expected, code2.strip()):
            self.attempts += 1
            left = MAX_ATTEMPTS - self.attempts
            raise CodeRefused(f"wrong code 2 for {self.action}: {left} attempt(s) left")
        self.used = True
        return code3_for(secret, self.code1, self.action)

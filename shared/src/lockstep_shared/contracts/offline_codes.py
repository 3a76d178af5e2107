"""The three-code offline exchange for manual block and unblock (D8): the formulas the device
and the gateway share. Pure: standard library only.

1. The device shows **code 1**: 6 digits it drew itself (its nonce): :func:`code1_from_nonce`.
2. The admin enters code 1 with the action; the gateway, which holds the device secret, answers
   **code 2** = ``HMAC-SHA256(secret, "<action>|<code1>|2")`` reduced to 6 digits.
3. The device checks code 2 offline with its own secret, blocks or unblocks itself, and shows
   **code 3** = ``HMAC-SHA256(secret, "<action>|<code1>|<code2>|3")`` reduced to 6 digits.
4. The admin enters code 3; the gateway verifies it and records the device's new state.

"Reduced to 6 digits" = the first 8 bytes of the MAC as a big-endian integer, modulo 10**6,
zero-padded. The key is the device secret exactly as the registration answer gave it, UTF-8.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

Action = Literal["block", "unblock"]
ACTIONS: tuple[Action, ...] = ("block", "unblock")
DIGITS = 6
EXCHANGE_TTL_S = 600  # codes of one exchange are valid 10 minutes, on the device and the server

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
    if len(clean) != DIGITS or not (clean.isascii() and clean.isdigit()):  # not "１２３", "²"
        return f"{name} must be {DIGITS} digits as the device shows it, got {code!r}"
    return None

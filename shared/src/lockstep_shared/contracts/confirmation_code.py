"""U13: confirmation codes of releases that need one. The site shows a fresh 3x5-digit
challenge; the vendor computes the response from the site's licence key, the challenge and
the release; a valid response unlocks that release for that site for good.

The orchestrator checks responses, the vendor tool (``lockstep-vendor confirmation-response``)
computes them: both import this module. Pure, standard library only.
"""

from __future__ import annotations

import hashlib
import hmac

DIGITS = 15
MAX_ATTEMPTS = 5


def format_code(number: int) -> str:
    """``ddddd-ddddd-ddddd`` (15 digits, zero-padded)."""
    text = f"{number % 10**DIGITS:0{DIGITS}d}"
    return f"{text[:5]}-{text[5:10]}-{text[10:]}"


def normalize(code: str) -> str:
    """Accept a code with or without dashes and spaces; raise ``ValueError`` otherwise."""
    digits = "".join(c for c in code if c not in "- \t")
    if len(digits) != DIGITS or not digits.isdigit():
        raise ValueError(f"a code has {DIGITS} digits, as ddddd-ddddd-ddddd")
    return format_code(int(digits))


def confirmation_response(license_key: str, challenge: str, product: str, version: str) -> str:
    """The vendor's response: HMAC-SHA256 keyed by the licence key over
    ``"{challenge}|{product}|{version}"`` (challenge as ddddd-ddddd-ddddd), first 8 bytes
    big-endian modulo 10**15, formatted as 15 digits."""
    message = f"{normalize(challenge)}|{product}|{version}".encode()
    digest = hmac.new(license_key.encode(), message, hashlib.sha256).digest()
    return format_code(int.from_bytes(digest[:8], "big") % 10**DIGITS)


def response_is_valid(license_key: str, challenge: str, product: str, version: str,
                      response: str) -> bool:
    try:
        given = normalize(response)
    except ValueError:
        return False
    expected = confirmation_response(license_key, challenge, product, version)
    return hmac.compare_digest(given, expected)

"""The vendor's side of confirmation-code releases (U13): the response a site's admin enters.

One algorithm for both sides: the orchestrator checks responses with the very function used
here (``lockstep_shared.contracts.confirmation_code``), so the two can never drift apart.
"""

from __future__ import annotations

from lockstep_shared.contracts.confirmation_code import confirmation_response as _response
from lockstep_shared.contracts.confirmation_code import normalize
from lockstep_shared.versions import Version


def confirmation_response(license_key: str, challenge: str, product: str, version: str) -> str:
    """``ddddd-ddddd-ddddd`` for the site's licence key, the challenge the site shows (with or
    without dashes/spaces) and the release; ``ValueError`` says what is wrong with the input."""
    if not license_key:
        raise ValueError("the licence key must not be empty")
    if not product:
        raise ValueError("the product must not be empty")
    Version.parse(version)
    try:
        normalize(challenge)
    except ValueError as exc:
        raise ValueError(f"challenge {challenge!r}: {exc}") from None
    return _response(license_key, challenge, product, version)

"""A site as the gateway knows it from ``SiteConfigured`` (D1, D10): how its devices enrol and
the versions of its products. Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Site:
    enrolment_code_sha256: str  # only a hash of the enrolment code is kept
    products: tuple[tuple[str, str], ...]  # (product, version), as configured

    def admits(self, enrolment_code: str) -> bool:
        """Whether a device presenting this enrolment code may register (compared in
        constant time)."""
        presented = hashlib.sha256(enrolment_code.encode()).hexdigest()
        return hmac.compare_digest(self.enrolment_code_sha256, presented)

    @property
    def first_version(self) -> str | None:
        return self.products[0][1] if self.products else None

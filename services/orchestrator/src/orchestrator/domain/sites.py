"""A site (X9) as the orchestrator keeps it, and its update subscription (R4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True, slots=True)
class Site:
    """A customer site: its licence, the hash of its enrolment code (only the hash travels:
    devices prove they know the code), how often releases are checked (R3), and the version
    installed of each product; the time zone its console shows dates and times in (IANA)."""

    site_id: str
    name: str
    license_key: str
    enrolment_code_sha256: str
    check_interval_s: int
    products: dict[str, str]
    time_zone: str = "UTC"


def valid_time_zone(name: str) -> bool:
    """An IANA time zone name this server knows (e.g. Europe/Rome, UTC)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class Entitlement:
    """R4: the vendor's subscription answer. No answer yet counts as active (the watcher
    publishes one at every check; a site is not locked out before its first check)."""

    active: bool = True
    valid_until: datetime | None = None
    reason: str | None = None
    checked_at: datetime | None = None


def enrolment_uri(gateway_url: str, site_id: str, enrolment_code: str) -> str:
    """What the handhelds' enrolment QR code holds (docs/device-protocol.md, Enrolment sheet):
    ``lockstep-enrol:?gateway=<url>&site=<id>&code=<code>``, each value percent-encoded."""
    query = urlencode({"gateway": gateway_url, "site": site_id, "code": enrolment_code},
                      quote_via=quote)
    return f"lockstep-enrol:?{query}"

"""Staging: a device downloads the site's next release in the background, during normal work,
verifies it and keeps it without installing it; after END UPDATE it only installs it.

Pure: no I/O, no clock. The site's Wi-Fi is shared, so at most ``limit`` devices of a site
download at once: each holds a *slot* (a lease with an end) while it downloads; a device asking
when every slot is taken is told to come back later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from device_gateway.domain.updates import Package
from lockstep_shared.versions import Version


def staging_offer(offer: Package | None, *, site_version: str | None, app_version: str,
                  staged_sha256: str | None) -> Package | None:
    """The package this device may stage now: the site's next release of the device product,
    once the site downloaded and verified it — unless it is not above the site's version
    (installed or concluded meanwhile), the device already runs it, or already staged it."""
    if offer is None or staged_sha256 == offer.sha256:
        return None
    if _same(app_version, offer.version) or not _above(offer.version, site_version):
        return None
    return offer


@dataclass(frozen=True, slots=True)
class Slots:
    """A site's staging slots as one device sees them: whether it holds a live one, and how
    many live ones the other devices hold."""

    held: bool
    others: int
    next_free_at: datetime | None  # when the first of the others' slots ends


def may_download(slots: Slots, limit: int) -> bool:
    """A device keeps its own slot (renewed); another one gets a slot while fewer than
    ``limit`` devices of the site hold one."""
    return slots.held or slots.others < limit


def retry_after_s(slots: Slots, now: datetime, *, floor_s: int, cap_s: int) -> int:
    """How long a refused device waits before asking again: until the first slot ends,
    within [floor_s, cap_s] (a device that finishes frees its slot earlier)."""
    if slots.next_free_at is None:
        return floor_s
    wait = int((slots.next_free_at - now).total_seconds()) + 1
    return max(floor_s, min(cap_s, wait))


def _same(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except ValueError:
        return a == b


def _above(version: str, site_version: str | None) -> bool:
    if site_version is None:
        return True
    try:
        return Version.parse(site_version) < Version.parse(version)
    except ValueError:
        return version != site_version

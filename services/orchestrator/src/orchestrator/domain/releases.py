"""What the site knows about the next release of each product (R7 events folded into a state)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeAlias

from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    PackageRef,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
)


class ReleaseStatus(StrEnum):
    """Persisted as these exact strings."""

    UP_TO_DATE = "up_to_date"
    CHECK_FAILED = "check_failed"
    AVAILABLE = "available"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"


@dataclass(frozen=True, slots=True)
class Release:
    site_id: str
    product: str
    status: ReleaseStatus
    version: str | None = None
    received_bytes: int = 0
    total_bytes: int = 0
    notes_url: str | None = None
    requires_confirmation_code: bool = False
    code_unlocked: bool = False
    reason: str | None = None
    package: PackageRef | None = None
    min_platform_version: str | None = None  # R8: the platform this release needs, if any


ReleaseEvent: TypeAlias = (
    ReleaseUpToDate
    | ReleaseCheckFailed
    | ReleaseAvailable
    | ReleaseDownloadProgressed
    | ReleaseDownloaded
    | ConfirmationCodeRequired
)

_IN_FLIGHT = (ReleaseStatus.AVAILABLE, ReleaseStatus.DOWNLOADING, ReleaseStatus.DOWNLOADED)


def apply_release_event(current: Release | None, event: ReleaseEvent, product: str) -> Release:
    """The release state after ``event`` (for ``product``: a check failure may name none).

    Late or repeated events never move a release backwards: progress after "downloaded" of
    the same version is ignored, and a check that failed for want of the feed keeps an
    available/downloaded release (work goes on; the reason is kept). A refusal (a tampered
    package, a rolled back or frozen feed) does not: the release shows as a failed check
    with the reason until a check succeeds again."""
    base = current or Release(site_id=event.site_id, product=product,
                              status=ReleaseStatus.UP_TO_DATE)
    same_version_downloaded = (
        base.status is ReleaseStatus.DOWNLOADED
        and base.version == getattr(event, "version", None)
    )
    match event:
        case ReleaseUpToDate():
            return Release(site_id=base.site_id, product=product,
                           status=ReleaseStatus.UP_TO_DATE, version=event.installed_version)
        case ReleaseCheckFailed():
            if base.status in _IN_FLIGHT and not event.refused:
                return replace(base, reason=event.reason)
            return replace(base, status=ReleaseStatus.CHECK_FAILED, reason=event.reason)
        case ReleaseAvailable():
            if same_version_downloaded:
                return base
            unlocked = base.code_unlocked and base.version == event.version
            return Release(site_id=base.site_id, product=product,
                           status=ReleaseStatus.AVAILABLE, version=event.version,
                           total_bytes=event.size, notes_url=event.notes_url,
                           requires_confirmation_code=event.requires_confirmation_code,
                           code_unlocked=unlocked,
                           min_platform_version=event.min_platform_version)
        case ReleaseDownloadProgressed():
            if same_version_downloaded:
                return base
            keep = base.version == event.version
            return replace(
                base, status=ReleaseStatus.DOWNLOADING, version=event.version,
                received_bytes=event.received_bytes, total_bytes=event.total_bytes, reason=None,
                notes_url=base.notes_url if keep else None,
                requires_confirmation_code=base.requires_confirmation_code if keep else False,
                code_unlocked=base.code_unlocked if keep else False,
                min_platform_version=base.min_platform_version if keep else None,
            )
        case ReleaseDownloaded():
            keep = base.version == event.version
            needs_code = event.requires_confirmation_code or (
                keep and base.requires_confirmation_code
            )
            return Release(site_id=base.site_id, product=product,
                           status=ReleaseStatus.DOWNLOADED, version=event.version,
                           received_bytes=event.package.size, total_bytes=event.package.size,
                           notes_url=event.notes_url,
                           requires_confirmation_code=needs_code,
                           code_unlocked=keep and base.code_unlocked,
                           package=event.package,
                           min_platform_version=event.min_platform_version)
        case ConfirmationCodeRequired():
            if base.version not in (None, event.version):
                return base
            return replace(base, version=event.version, requires_confirmation_code=True)
    return base

"""What the watcher knows about a site (R3-R8): its configuration, its next check, and per
installed product what is known of the next release. Plain frozen values: the repository
returns them, the service layer and the API read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """A site as the orchestrator configured it (``SiteConfigured``)."""

    site_id: str
    name: str
    license_key: str
    check_interval_s: int


@dataclass(frozen=True, slots=True)
class DueCheck:
    """A site whose check is due. ``version`` is the row's version when it was read: the check
    is claimed only if nobody wrote the site since. ``correlation_id``/``causation_id`` are
    those of the "check now" request that made it due, None when the schedule did."""

    site_id: str
    version: int
    check_interval_s: int
    correlation_id: str | None
    causation_id: str | None
    license_key: str


@dataclass(frozen=True, slots=True)
class KnownRelease:
    """The next release of one product and how far its package got."""

    version: str
    notes_url: str | None
    package: str | None
    sha256: str | None
    size: int | None
    received_bytes: int | None
    requires_confirmation_code: bool
    min_platform_version: str | None
    platform_required: str | None


@dataclass(frozen=True, slots=True)
class ProductState:
    """One installed product: ``status`` is unchecked, up-to-date, downloading, downloaded,
    failed or no-subscription; ``reason`` says why when it failed or nothing is offered."""

    product: str
    installed_version: str
    status: str
    reason: str | None
    checked_at: datetime | None
    next_release: KnownRelease | None


@dataclass(frozen=True, slots=True)
class EntitlementState:
    """The vendor's subscription answer at the site's last check (R4)."""

    active: bool | None
    valid_until: datetime | None
    reason: str | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class SiteState:
    """Everything the watcher knows about one site (``GET /watcher/v1/sites/{id}/releases``)."""

    site_id: str
    name: str
    check_interval_s: int
    next_check_at: datetime | None
    last_checked_at: datetime | None
    last_failure: str | None
    entitlement: EntitlementState | None
    products: tuple[ProductState, ...]

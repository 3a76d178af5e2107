"""The vendor's view across sites (issue 14 §3): every site with its products' versions,
subscription, banner and last check; how far a release has gone through the fleet; failed
updates waiting for support first. Pure: the rows are read by the service layer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lockstep_shared.versions import Version
from orchestrator.domain.banner import banner
from orchestrator.domain.model import Update, UpdateState
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.sites import Entitlement, Site


@dataclass(frozen=True, slots=True)
class ProductLine:
    product: str
    version: str  # installed
    next_version: str | None  # the next release the watcher reported, if any
    next_status: str | None


@dataclass(frozen=True, slots=True)
class SiteLine:
    """One site as vendor support sees it."""

    site_id: str
    name: str
    products: tuple[ProductLine, ...]
    subscription_active: bool
    subscription_valid_until: datetime | None
    subscription_reason: str | None
    banner: str  # the banner's state
    last_check: datetime | None
    update_id: str | None  # the active update, if any
    update_state: str | None
    update_product: str | None
    update_to_version: str | None
    failed_since: datetime | None  # a failed update waiting for support since then
    time_zone: str = "UTC"  # the site's: its times are shown in its own zone

    @property
    def waiting_for_support(self) -> bool:
        return self.failed_since is not None

    def version_of(self, product: str) -> str | None:
        return next((p.version for p in self.products if p.product == product), None)


def site_line(site: Site, releases: Sequence[Release], entitlement: Entitlement,
              active: Update | None, last_release_answer: datetime | None) -> SiteLine:
    """A site's line: its banner as its own users see it, and its last check (the newest
    answer of the watcher about it: its subscription or its releases)."""
    by_product = {r.product: r for r in releases}
    shown = banner(releases, site.products, active, entitlement.active)
    failed = active is not None and active.state is UpdateState.FAILED
    return SiteLine(
        site_id=site.site_id, name=site.name,
        products=tuple(ProductLine(p, v, _next(by_product.get(p)), _status(by_product.get(p)))
                       for p, v in sorted(site.products.items())),
        subscription_active=entitlement.active,
        subscription_valid_until=entitlement.valid_until,
        subscription_reason=entitlement.reason, banner=shown.state.value,
        last_check=_latest(entitlement.checked_at, last_release_answer),
        update_id=active.update_id if active else None,
        update_state=active.state.value if active else None,
        update_product=active.product if active else None,
        update_to_version=active.to_version if active else None,
        failed_since=(active.failed_at or active.opened_at) if failed and active else None,
        time_zone=site.time_zone,
    )


def support_first(lines: Iterable[SiteLine]) -> list[SiteLine]:
    """Failed updates waiting for support first (the oldest failure first), then by site."""
    return sorted(lines, key=lambda line: (
        not line.waiting_for_support,
        line.failed_since.timestamp() if line.failed_since else 0.0, line.site_id))


# --- filters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteFilter:
    """Every given criterion must hold (None: any)."""

    product: str | None = None
    version: str | None = None  # installed version of ``product`` (or of any product)
    banner: str | None = None
    subscription: bool | None = None  # active?
    failed_only: bool = False
    text: str | None = None  # in the site's id or name, case-insensitive

    def admits(self, line: SiteLine) -> bool:
        products = [p for p in line.products if self.product in (None, p.product)]
        return (
            bool(products)
            and (self.version is None or any(p.version == self.version for p in products))
            and (self.banner is None or line.banner == self.banner)
            and (self.subscription is None or line.subscription_active == self.subscription)
            and (not self.failed_only or line.waiting_for_support)
            and (self.text is None or self.text.lower() in f"{line.site_id} {line.name}".lower())
        )


# --- one release across the fleet -----------------------------------------------------------


class Adoption(StrEnum):
    """Where a site stands with one release of a product."""

    ON_IT = "on_it"  # runs it
    PAST_IT = "past_it"  # runs a newer version
    UPDATING = "updating"  # its update to it is under way
    FAILED = "failed"  # its update to it failed: waiting for support
    OFFERED = "offered"  # the site found it (downloading or downloaded), no update yet
    NOT_YET_OFFERED = "not_yet_offered"  # below it, and nothing of it at the site yet


def adoption(line: SiteLine, product: str, version: str) -> Adoption | None:
    """None: the site does not have the product."""
    installed = line.version_of(product)
    if installed is None:
        return None
    if _same(installed, version):
        return Adoption.ON_IT
    if _newer(installed, version):
        return Adoption.PAST_IT
    if line.update_product == product and line.update_to_version is not None and _same(
            line.update_to_version, version):
        return Adoption.FAILED if line.waiting_for_support else Adoption.UPDATING
    offered = next((p for p in line.products if p.product == product), None)
    if offered is not None and offered.next_version is not None and _same(
            offered.next_version, version) and offered.next_status in _FOUND:
        return Adoption.OFFERED
    return Adoption.NOT_YET_OFFERED


def adoption_counts(lines: Iterable[SiteLine], product: str, version: str
                    ) -> tuple[dict[str, int], dict[str, list[str]]]:
    """How many sites stand where with the release, and which ones."""
    sites: dict[str, list[str]] = {a.value: [] for a in Adoption}
    for line in lines:
        where = adoption(line, product, version)
        if where is not None:
            sites[where.value].append(line.site_id)
    return {k: len(v) for k, v in sites.items()}, sites


_FOUND = frozenset({ReleaseStatus.AVAILABLE.value, ReleaseStatus.DOWNLOADING.value,
                    ReleaseStatus.DOWNLOADED.value})


# --- CSV ------------------------------------------------------------------------------------

CSV_HEADER = ("site_id", "name", "products", "subscription", "valid_until", "banner",
              "last_check", "update_id", "update_state", "waiting_for_support_since")


def csv_row(line: SiteLine) -> tuple[str, ...]:
    """One line of the export: products as ``product=version(→next)`` joined by ``;``."""
    products = ";".join(
        f"{p.product}={p.version}" + (f"->{p.next_version}" if p.next_version
                                      and p.next_version != p.version else "")
        for p in line.products)
    return (line.site_id, line.name, products,
            "active" if line.subscription_active else "inactive",
            _iso(line.subscription_valid_until), line.banner, _iso(line.last_check),
            line.update_id or "", line.update_state or "", _iso(line.failed_since))


# --- helpers ----------------------------------------------------------------------------------


def _next(release: Release | None) -> str | None:
    return release.version if release is not None else None


def _status(release: Release | None) -> str | None:
    return release.status.value if release is not None else None


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


def _same(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except ValueError:
        return a == b


def _newer(a: str, b: str) -> bool:
    try:
        return Version.parse(b) < Version.parse(a)
    except ValueError:
        return False


def group_releases(releases: Iterable[Release]) -> Mapping[str, list[Release]]:
    by_site: dict[str, list[Release]] = {}
    for release in releases:
        by_site.setdefault(release.site_id, []).append(release)
    return by_site

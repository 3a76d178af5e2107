"""Which release a site is offered next (R5, R8). Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lockstep_shared.contracts.vendor_feed import Catalogue, CatalogueRelease
from lockstep_shared.versions import Version, next_release

PLATFORM_PRODUCT = "platform"
"""The product name under which a site's platform version is installed and released (R8)."""


@dataclass(frozen=True, slots=True)
class UpToDate:
    product: str
    installed_version: str


@dataclass(frozen=True, slots=True)
class NextRelease:
    product: str
    installed_version: str
    release: CatalogueRelease
    platform_required: str | None = None
    """The platform version to install first (R8), or None when the site's platform is new
    enough (or the release asks for none)."""


ProductOutcome = UpToDate | NextRelease


def choose_next(installed_version: str, releases: tuple[CatalogueRelease, ...]) -> (
    CatalogueRelease | None
):
    """The lowest released version above the installed one: one step at a time (R5)."""
    by_version = {release.parsed_version: release for release in releases}
    chosen = next_release(Version.parse(installed_version), list(by_version))
    return by_version[chosen] if chosen is not None else None


def platform_required(
    release: CatalogueRelease, installed: Mapping[str, str]
) -> str | None:
    """The minimum platform version when the site's installed platform is older (R8)."""
    if release.min_platform_version is None:
        return None
    platform = installed.get(PLATFORM_PRODUCT)
    if platform is not None and Version.parse(platform) >= Version.parse(
        release.min_platform_version
    ):
        return None
    return release.min_platform_version


def plan_check(installed: Mapping[str, str], catalogue: Catalogue) -> list[ProductOutcome]:
    """For every product a site has installed: up to date, or the next release to fetch."""
    outcomes: list[ProductOutcome] = []
    for product in sorted(installed):
        version = installed[product]
        release = choose_next(version, catalogue.releases_of(product))
        if release is None:
            outcomes.append(UpToDate(product, version))
        else:
            outcomes.append(
                NextRelease(product, version, release, platform_required(release, installed))
            )
    return outcomes


def site_version_releases(
    installed: Mapping[str, str], catalogue: Catalogue
) -> list[tuple[str, CatalogueRelease]]:
    """Per installed product, the catalogue's release of exactly the installed version, if the
    vendor lists it: the package late devices install to match the site (D10)."""
    found: list[tuple[str, CatalogueRelease]] = []
    for product in sorted(installed):
        version = Version.parse(installed[product])
        for release in catalogue.releases_of(product):
            if release.parsed_version == version:
                found.append((product, release))
                break
    return found

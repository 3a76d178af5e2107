"""The vendor's view across sites (issue 14 §3): where a site stands with a release, the
filters, failed updates first, the CSV line."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.domain.sites import Entitlement, Site
from orchestrator.domain.vendor_view import (
    Adoption,
    ProductLine,
    SiteFilter,
    SiteLine,
    adoption,
    adoption_counts,
    csv_row,
    site_line,
    support_first,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NEW = "03.01.00_031"


def line(site_id: str = "shop-1", version: str = "03.01.00_030", *,
         next_version: str | None = None, next_status: str | None = None,
         update_to: str | None = None, failed_since: datetime | None = None,
         active: bool = True, banner: str = "none", name: str = "Shop") -> SiteLine:
    return SiteLine(
        site_id=site_id, name=name,
        products=(ProductLine("shop", version, next_version, next_status),),
        subscription_active=active, subscription_valid_until=None, subscription_reason=None,
        banner=banner, last_check=T0, update_id="u1" if update_to else None,
        update_state=("failed" if failed_since else "notifying") if update_to else None,
        update_product="shop" if update_to else None, update_to_version=update_to,
        failed_since=failed_since)


def test_where_a_site_stands_with_a_release() -> None:
    assert adoption(line(version=NEW), "shop", NEW) is Adoption.ON_IT
    assert adoption(line(version="03.01.00_032"), "shop", NEW) is Adoption.PAST_IT
    assert adoption(line(update_to=NEW), "shop", NEW) is Adoption.UPDATING
    assert adoption(line(update_to=NEW, failed_since=T0), "shop", NEW) is Adoption.FAILED
    assert adoption(line(next_version=NEW, next_status="downloaded"), "shop",
                    NEW) is Adoption.OFFERED
    assert adoption(line(next_version=NEW, next_status="downloading"), "shop",
                    NEW) is Adoption.OFFERED
    assert adoption(line(), "shop", NEW) is Adoption.NOT_YET_OFFERED
    assert adoption(line(next_version="03.01.00_032", next_status="downloaded"), "shop",
                    NEW) is Adoption.NOT_YET_OFFERED  # another release found, not this one
    assert adoption(line(), "other", NEW) is None  # the site does not have the product


def test_counts_name_the_sites() -> None:
    counts, sites = adoption_counts([line("a", NEW), line("b"), line("c", NEW)], "shop", NEW)
    assert counts["on_it"] == 2 and counts["not_yet_offered"] == 1
    assert sites["on_it"] == ["a", "c"]


def test_failed_updates_waiting_for_support_come_first_the_oldest_first() -> None:
    lines = [line("a"), line("z", update_to=NEW, failed_since=T0 + timedelta(hours=1)),
             line("b"), line("y", update_to=NEW, failed_since=T0)]
    assert [x.site_id for x in support_first(lines)] == ["y", "z", "a", "b"]


def test_filters_hold_together() -> None:
    green = line("a", banner="green", name="Bakery")
    assert SiteFilter(banner="green").admits(green)
    assert not SiteFilter(banner="red").admits(green)
    assert SiteFilter(product="shop", version="03.01.00_030").admits(green)
    assert not SiteFilter(product="shop", version=NEW).admits(green)
    assert not SiteFilter(product="other").admits(green)
    assert SiteFilter(subscription=False).admits(replace(green, subscription_active=False))
    assert not SiteFilter(failed_only=True).admits(green)
    assert SiteFilter(text="BAKE").admits(green) and not SiteFilter(text="zz").admits(green)


def test_the_csv_line() -> None:
    row = csv_row(line("a", next_version=NEW, next_status="downloaded", banner="green"))
    assert row[:6] == ("a", "Shop", f"shop=03.01.00_030->{NEW}", "active", "", "green")
    assert row[6] == T0.isoformat() and row[-1] == ""


def test_a_sites_line_carries_its_own_time_zone() -> None:
    """Issue 13 §4: vendor support reads each site's times in that site's zone, not in the
    zone of whichever site the console has chosen."""
    rome = Site("shop-1", "Shop", "LIC-1", "0" * 64, 3600, {"shop": "03.01.00_030"},
                time_zone="Europe/Rome")
    shown = site_line(rome, [], Entitlement(checked_at=T0), None, None)
    assert shown.time_zone == "Europe/Rome" and shown.last_check == T0
    assert site_line(replace(rome, time_zone="UTC"), [], Entitlement(), None,
                     None).time_zone == "UTC"

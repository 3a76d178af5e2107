"""The site's subscription (R4) through the real feed over HTTP, verified by TUF, on
PostgreSQL: read at every check, EntitlementChecked every time, nothing offered when inactive
(no subscription published, suspended, expired), offers again once the vendor renews it."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    EntitlementChecked,
    ProductVersion,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseCheckRequested,
    ReleaseDownloaded,
    ReleaseUpToDate,
    SiteConfigured,
)
from lockstep_shared.contracts.vendor_feed import entitlement_target

from .test_watcher_feed import api as view_client  # the routes, called with the internal token

pytestmark = pytest.mark.integration

OFFERS = (ReleaseAvailable, ReleaseDownloaded, ReleaseUpToDate, ConfirmationCodeRequired)
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
NEXT_YEAR = datetime.now(UTC).date() + timedelta(days=365)


def configured(site: str, license_key: str, interval_s: int = 14400) -> SiteConfigured:
    return SiteConfigured(
        site_id=site, name=site, license_key=license_key, enrolment_code_sha256="0" * 64,
        check_interval_s=interval_s,
        products=(ProductVersion(product="shop", version="1.0"),
                  ProductVersion(product="warehouse", version="7.0")),
    )


def offers(w, site: str) -> list:
    return [e for kind in OFFERS for e in w.observed.of(kind, site_id=site)]


async def test_only_an_active_subscription_gets_releases(feed, start_watcher) -> None:
    feed.repo.publish(product="shop", version="2.0", package=feed.package_file("s2", 5000),
                      requires_confirmation_code=True)
    feed.repo.publish(product="warehouse", version="7.0", package=feed.package_file("w7", 100))
    feed.repo.entitle("LIC-ACTIVE", until=NEXT_YEAR)
    feed.repo.entitle("LIC-SUSPENDED", active=False)
    feed.repo.entitle("LIC-EXPIRED", until=YESTERDAY)
    # "LIC-NONE" has no entitlement target at all.
    w = await start_watcher()

    for site, key, interval in [("active", "LIC-ACTIVE", 3600), ("suspended", "LIC-SUSPENDED", 60),
                                ("expired", "LIC-EXPIRED", 120), ("none", "LIC-NONE", 180)]:
        await w.send(configured(site, key, interval))

    await w.observed.wait_for(ReleaseDownloaded, site_id="active", product="shop")
    checked = {
        site: (await w.observed.wait_for(EntitlementChecked, site_id=site)).data
        for site in ("active", "suspended", "expired", "none")
    }
    assert checked["active"].active and checked["active"].reason is None
    assert checked["active"].valid_until.date() == NEXT_YEAR
    assert not checked["suspended"].active
    assert "not active" in checked["suspended"].reason
    assert not checked["expired"].active
    assert checked["expired"].reason == f"subscription expired on {YESTERDAY.isoformat()}"
    assert not checked["none"].active
    assert checked["none"].reason == "no update subscription for this licence"
    assert checked["none"].valid_until is None
    await w.observed.wait_for(ReleaseUpToDate, site_id="active", product="warehouse")
    await w.observed.wait_for(ConfirmationCodeRequired, site_id="active")
    await asyncio.sleep(0.3)  # anything else those checks might have sent
    for site in ("suspended", "expired", "none"):
        assert offers(w, site) == [], site
        assert not w.observed.of(ReleaseCheckFailed, site_id=site)

    async with view_client(w) as client:
        expired = (await client.get("/watcher/v1/sites/expired/releases")).json()
        active = (await client.get("/watcher/v1/sites/active/releases")).json()
    assert expired["entitlement"]["active"] is False
    assert expired["entitlement"]["reason"].startswith("subscription expired on")
    assert {p["status"] for p in expired["products"]} == {"no-subscription"}
    assert all(p["next_release"] is None for p in expired["products"])
    assert expired["last_failure"] is None
    assert active["entitlement"]["active"] is True
    shop = next(p for p in active["products"] if p["product"] == "shop")
    assert shop["status"] == "downloaded"
    # Each site is checked again after its own interval (R3).
    for view, interval in ((expired, 120), (active, 3600)):
        gap = datetime.fromisoformat(view["next_check_at"]) - datetime.fromisoformat(
            view["last_checked_at"]
        )
        assert abs(gap.total_seconds() - interval) < 5


async def test_the_subscription_is_read_again_at_every_check(feed, start_watcher) -> None:
    feed.repo.publish(product="shop", version="2.0", package=feed.package_file("s2", 5000))
    feed.repo.entitle("LIC-1", until=YESTERDAY)
    w = await start_watcher()
    await w.send(configured("milano", "LIC-1"))
    first = await w.observed.wait_for(EntitlementChecked, site_id="milano")
    assert not first.data.active

    feed.repo.entitle("LIC-1", until=NEXT_YEAR)  # the customer renewed
    renewed = await w.send(ReleaseCheckRequested(site_id="milano", requested_by="admin"))

    now_active = await w.observed.wait_for(
        EntitlementChecked, lambda e: e.causationid == renewed.id, site_id="milano"
    )
    assert now_active.data.active
    await w.observed.wait_for(ReleaseDownloaded, site_id="milano", product="shop")

    feed.repo.entitle("LIC-1", active=False)  # the vendor suspends it
    suspended = await w.send(ReleaseCheckRequested(site_id="milano", requested_by="admin"))

    off = await w.observed.wait_for(
        EntitlementChecked, lambda e: e.causationid == suspended.id, site_id="milano"
    )
    assert not off.data.active
    await asyncio.sleep(0.3)
    assert [e for e in offers(w, "milano") if e.causationid == suspended.id] == []
    async with view_client(w) as client:
        view = (await client.get("/watcher/v1/sites/milano/releases")).json()
    assert {p["status"] for p in view["products"]} == {"no-subscription"}


async def test_a_tampered_subscription_record_is_refused(feed, start_watcher) -> None:
    """A mirror cannot grant a subscription: the record is a TUF target like any other."""
    feed.repo.publish(product="shop", version="2.0", package=feed.package_file("s2", 5000))
    feed.repo.entitle("LIC-1", active=False)
    served = feed.repo.target_file(entitlement_target("LIC-1"))
    assert served.read_bytes() == b'{"active":false,"valid_until":null}'
    served.write_bytes(b'{"active":true ,"valid_until":null}')  # same length, forged
    w = await start_watcher()

    await w.send(configured("milano", "LIC-1"))

    failed = await w.observed.wait_for(ReleaseCheckFailed, site_id="milano")
    assert "subscription" in failed.data.reason
    assert "does not match its signed length or hash" in failed.data.reason
    await asyncio.sleep(0.3)
    assert not w.observed.of(EntitlementChecked, site_id="milano")
    assert offers(w, "milano") == []


def test_until_a_date_is_stored_as_the_end_of_that_day(feed) -> None:
    record = feed.repo.entitle("LIC-1", until=date(2027, 3, 31))
    assert record.valid_until == datetime(2027, 3, 31, 23, 59, 59, tzinfo=UTC)
    assert feed.repo.entitlement("LIC-1") == record
    assert feed.repo.entitlement("LIC-2") is None

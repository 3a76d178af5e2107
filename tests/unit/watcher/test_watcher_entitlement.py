"""The subscription decision (R4) and which packages late devices need (D10): pure rules."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from lockstep_shared.contracts.vendor_feed import (
    Catalogue,
    CatalogueRelease,
    EntitlementRecord,
    InvalidEntitlement,
    ProductReleases,
    end_of_day,
    entitlement_target,
    parse_entitlement,
)
from release_watcher.domain.entitlement import NO_SUBSCRIPTION, decide_entitlement
from release_watcher.domain.releases import site_version_releases

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_no_record_means_no_subscription() -> None:
    decision = decide_entitlement(None, NOW)
    assert not decision.active
    assert decision.reason == NO_SUBSCRIPTION == "no update subscription for this licence"
    assert decision.valid_until is None


def test_an_active_record_until_a_later_time_is_active() -> None:
    until = NOW + timedelta(days=30)
    decision = decide_entitlement(EntitlementRecord(active=True, valid_until=until), NOW)
    assert decision.active and decision.reason is None and decision.valid_until == until


def test_an_active_record_without_end_is_active() -> None:
    assert decide_entitlement(EntitlementRecord(active=True), NOW).active


def test_a_subscription_whose_end_has_passed_is_expired() -> None:
    until = datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC)
    decision = decide_entitlement(EntitlementRecord(active=True, valid_until=until), NOW)
    assert not decision.active
    assert decision.reason == "subscription expired on 2026-10-31"
    assert decision.valid_until == until


def test_the_end_itself_is_already_expired() -> None:
    assert not decide_entitlement(EntitlementRecord(active=True, valid_until=NOW), NOW).active
    later = NOW + timedelta(seconds=1)
    assert decide_entitlement(EntitlementRecord(active=True, valid_until=later), NOW).active


def test_the_expiry_date_is_told_in_utc() -> None:
    until = datetime(2026, 11, 1, 0, 30, tzinfo=UTC).astimezone(
        datetime.now().astimezone().tzinfo
    )
    decision = decide_entitlement(EntitlementRecord(active=True, valid_until=until), NOW)
    assert decision.reason == "subscription expired on 2026-11-01"


def test_a_suspended_record_is_inactive_whatever_its_end() -> None:
    record = EntitlementRecord(active=False, valid_until=NOW + timedelta(days=300))
    decision = decide_entitlement(record, NOW)
    assert not decision.active and "not active" in (decision.reason or "")


def test_until_a_day_means_through_that_whole_day() -> None:
    end = end_of_day(date(2026, 11, 21))
    assert decide_entitlement(EntitlementRecord(active=True, valid_until=end), NOW).active
    tomorrow = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert not decide_entitlement(EntitlementRecord(active=True, valid_until=end), tomorrow).active


def test_the_target_path_hides_the_licence_key() -> None:
    path = entitlement_target("ACME-SECRET-42")
    assert path == f"entitlements/{hashlib.sha256(b'ACME-SECRET-42').hexdigest()}.json"
    assert "ACME" not in path
    assert entitlement_target("ACME-SECRET-43") != path


def test_records_round_trip_and_bad_ones_say_why() -> None:
    record = EntitlementRecord(active=True, valid_until=end_of_day(date(2027, 1, 31)))
    assert parse_entitlement(record.to_json()) == record
    assert parse_entitlement(b'{"active": false, "valid_until": null}').active is False
    with pytest.raises(InvalidEntitlement, match="active"):
        parse_entitlement(b'{"valid_until": null}')
    with pytest.raises(InvalidEntitlement, match="valid_until"):
        parse_entitlement(b'{"active": true, "valid_until": "2027-01-31T00:00:00"}')  # no zone
    with pytest.raises(InvalidEntitlement):
        parse_entitlement(b"not json")


def _release(version: str) -> CatalogueRelease:
    return CatalogueRelease(version=version, package=f"packages/p/{version}/p.tar.gz", size=1)


def test_the_site_version_release_is_the_installed_one_numerically() -> None:
    catalogue = Catalogue(products={
        "shop": ProductReleases(releases=(_release("3.1.0_30"), _release("3.1.0_31"))),
        "warehouse": ProductReleases(releases=(_release("2.0"),)),
    })
    found = site_version_releases(
        {"shop": "03.01.00_030", "warehouse": "1.0", "platform": "5.0"}, catalogue
    )
    assert [(product, r.version) for product, r in found] == [("shop", "3.1.0_30")]

"""Staging (issue 14 §2): which package a device may stage, the site's bounded slots, and the
directive after END for a device that staged it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from device_gateway.domain.staging import Slots, may_download, retry_after_s, staging_offer
from device_gateway.domain.updates import DeviceContext, Package, Phase, SiteUpdate

NEXT = Package("shop", "03.01.00_031", "b" * 64, 100, "http://watcher/b")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def offer(**kw: object) -> Package | None:
    given = {"site_version": "03.01.00_030", "app_version": "03.01.00_030",
             "staged_sha256": None, **kw}
    return staging_offer(NEXT, **given)  # type: ignore[arg-type]


def test_a_device_on_the_sites_version_may_stage_the_next_release() -> None:
    assert offer() == NEXT


def test_nothing_to_stage_without_a_downloaded_release() -> None:
    assert staging_offer(None, site_version="03.01.00_030", app_version="03.01.00_030",
                         staged_sha256=None) is None


def test_a_device_that_staged_it_or_runs_it_stages_nothing() -> None:
    assert offer(staged_sha256=NEXT.sha256) is None
    assert offer(app_version="03.01.00_031") is None


def test_an_older_stage_does_not_hide_a_newer_release() -> None:
    assert offer(staged_sha256="c" * 64) == NEXT


def test_a_release_the_site_already_runs_is_not_offered() -> None:
    """After the update concluded the site runs it: late devices follow D10, not staging."""
    assert offer(site_version="03.01.00_031") is None
    assert offer(site_version="03.01.00_032") is None


def test_a_site_slot_is_given_while_fewer_devices_than_the_limit_hold_one() -> None:
    assert may_download(Slots(held=False, others=3, next_free_at=None), limit=4)
    assert not may_download(Slots(held=False, others=4, next_free_at=T0), limit=4)


def test_a_device_keeps_its_own_slot_even_when_the_site_is_full() -> None:
    assert may_download(Slots(held=True, others=4, next_free_at=T0), limit=4)


def test_a_refused_device_waits_until_the_first_slot_ends_within_bounds() -> None:
    soon = Slots(held=False, others=4, next_free_at=T0 + timedelta(seconds=30))
    assert retry_after_s(soon, T0, floor_s=5, cap_s=120) == 31
    assert retry_after_s(soon, T0, floor_s=5, cap_s=10) == 10
    ending = Slots(held=False, others=4, next_free_at=T0 + timedelta(milliseconds=10))
    assert retry_after_s(ending, T0, floor_s=5, cap_s=120) == 5


def context(staged_sha256: str | None) -> DeviceContext:
    return DeviceContext("03.01.00_030", True, "u1", SiteUpdate("u1", Phase.RELEASED, NEXT),
                         None, "03.01.00_030", staged_sha256=staged_sha256, offer=NEXT)


def test_after_end_the_directive_says_staged_only_for_the_same_package() -> None:
    assert context(NEXT.sha256).directive().staged
    assert context(NEXT.sha256).directive().package == NEXT
    assert not context("c" * 64).directive().staged
    assert not context(None).directive().staged


def test_before_end_a_staged_device_still_waits() -> None:
    waiting = DeviceContext("03.01.00_030", True, None,
                            SiteUpdate("u1", Phase.PREPARING, NEXT), None, "03.01.00_030",
                            staged_sha256=NEXT.sha256, offer=NEXT)
    assert waiting.directive().in_preparation and not waiting.directive().staged

"""The gateway's pure device rules: phases, blocked, sync (D4), directive (D5), ranges (D6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from device_gateway.domain.notifications import not_delivered_reason
from device_gateway.domain.ranges import RangeNotSatisfiable, if_range_allows, requested_range
from device_gateway.domain.sites import Site
from device_gateway.domain.updates import (
    SYNC_REFUSED,
    Block,
    DeviceContext,
    Package,
    Phase,
    SiteUpdate,
    advance,
    block,
    blocking_refusal,
    claimed_update_refusal,
    decide_directive,
    decide_sync,
    device_version_of,
    package_for_device,
)

PKG = Package("shop", "03.01.00_031", "a" * 64, 100, "http://watcher/a")
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BLOCKED = Block("u1", T0)  # reported /blocked for u1 after START
BY_CODES = Block("u1", T0, by_code=True)


def update(phase: Phase, update_id: str = "u1") -> SiteUpdate:
    return SiteUpdate(update_id, phase, PKG)


# --- the site's update follows the orchestrator's events -----------------------------------


def test_phases_only_move_forward_and_an_ended_update_stays_ended() -> None:
    opened = advance(None, "u1", Phase.PREPARING, PKG)
    assert opened == SiteUpdate("u1", Phase.PREPARING, PKG)
    started = advance(opened, "u1", Phase.SERVER_UPDATING)
    assert started == SiteUpdate("u1", Phase.SERVER_UPDATING, PKG)  # keeps its package
    assert advance(started, "u1", Phase.PREPARING, PKG) is None  # a late duplicate
    concluded = advance(started, "u1", Phase.CONCLUDED)
    assert concluded is not None and concluded.phase is Phase.CONCLUDED
    assert advance(concluded, "u1", Phase.RELEASED, PKG) is None
    assert advance(concluded, "u1", Phase.FAILED) is None


def test_a_stale_end_of_another_update_does_not_end_the_active_one() -> None:
    active = update(Phase.PREPARING, "u2")
    assert advance(active, "u1", Phase.CANCELLED) is None
    assert advance(active, "u3", Phase.PREPARING, PKG) == SiteUpdate("u3", Phase.PREPARING, PKG)
    assert advance(update(Phase.CONCLUDED, "u1"), "u2", Phase.PREPARING, PKG) is not None


def test_a_late_opening_fills_in_a_missing_package() -> None:
    started = advance(None, "u1", Phase.SERVER_UPDATING)
    assert started is not None and started.package is None
    assert advance(started, "u1", Phase.PREPARING, PKG) == SiteUpdate(
        "u1", Phase.SERVER_UPDATING, PKG)


# --- D3 ------------------------------------------------------------------------------------


def test_blocking_only_for_the_active_update_in_phase_1() -> None:
    assert blocking_refusal(update(Phase.PREPARING), "u1") is None
    assert "not this site's active update" in (blocking_refusal(None, "u1") or "")
    assert "not this site's active update" in (
        blocking_refusal(update(Phase.PREPARING), "u9") or "")
    assert "past phase 1" in (blocking_refusal(update(Phase.SERVER_UPDATING), "u1") or "")
    assert blocking_refusal(update(Phase.CANCELLED), "u1") is not None


# --- D4 ------------------------------------------------------------------------------------


def test_a_hand_in_names_the_sites_current_or_last_update_or_none() -> None:
    for state in (update(Phase.PREPARING), update(Phase.RELEASED), update(Phase.CONCLUDED)):
        assert claimed_update_refusal(state, "u1") is None
        assert claimed_update_refusal(state, None) is None
        assert "not this site's current or last update" in (
            claimed_update_refusal(state, "u9") or "")
    assert claimed_update_refusal(None, None) is None
    assert claimed_update_refusal(None, "u1") is not None  # no update known at all


def sync(state: SiteUpdate | None, *, claimed: str | None = "u1", admitted: str | None = None,
         version: str = "03.01.00_030", blocked: Block | None = BLOCKED):  # type: ignore[no-untyped-def]
    return decide_sync(state, claimed_update_id=claimed, block=blocked,
                       admitted_update_id=admitted, app_version=version)


@pytest.mark.parametrize("state", [None, update(Phase.FAILED), update(Phase.CANCELLED)])
def test_sync_in_normal_work_is_accepted_without_waiting(state: SiteUpdate | None) -> None:
    decision = sync(state)
    assert decision.accepted and not decision.waiting_for_update


def test_after_conclusion_a_late_device_on_the_old_version_is_refused_until_it_updates() -> None:
    concluded = update(Phase.CONCLUDED)
    late = sync(concluded)
    assert not late.accepted and late.refusal == SYNC_REFUSED
    updated = sync(concluded, version="03.01.00_031")
    assert updated.accepted and not updated.waiting_for_update
    admitted = sync(concluded, admitted="u1")  # it was waiting when the server was updated
    assert admitted.accepted and not admitted.waiting_for_update


def test_sync_in_phase_1_after_blocking_makes_the_device_wait() -> None:
    waiting = sync(update(Phase.PREPARING))
    assert waiting.waiting_update_id == "u1" and waiting.blocked_since == T0
    plain = sync(update(Phase.PREPARING), claimed=None)  # it believes it works normally
    assert plain.accepted and not plain.waiting_for_update
    assert not sync(update(Phase.PREPARING), claimed="u0").waiting_for_update


def test_a_hand_in_before_blocking_is_normal_work_not_waiting() -> None:
    """Issue 9 §1: a device that never reported itself blocked (it skipped /blocked, or
    hands in before it) keeps working: its data is taken, it is not waiting."""
    for claimed in ("u1", None):
        decision = sync(update(Phase.PREPARING), claimed=claimed, blocked=None)
        assert decision.accepted and not decision.waiting_for_update
        assert decision.blocked_since is None
    older = sync(update(Phase.PREPARING), blocked=Block("u0", T0))  # blocked for another one
    assert older.accepted and not older.waiting_for_update


def test_a_device_blocked_by_codes_waits_with_or_without_the_update_id() -> None:
    for claimed in (None, "u1"):
        decision = sync(update(Phase.PREPARING), claimed=claimed, blocked=BY_CODES)
        assert decision.waiting_update_id == "u1" and decision.blocked_since == T0
    assert not sync(update(Phase.PREPARING), claimed="u0", blocked=BY_CODES).waiting_for_update


def test_a_repeated_block_keeps_its_time_and_a_new_update_starts_a_new_block() -> None:
    later = T0 + timedelta(minutes=5)
    assert block(None, "u1", T0) == BLOCKED
    assert block(BLOCKED, "u1", later) == BLOCKED  # /blocked again: the same block
    assert block(BLOCKED, "u1", later, by_code=True) == BY_CODES  # codes on a blocked device
    assert block(BY_CODES, "u1", later) == BY_CODES
    assert block(BLOCKED, "u2", later) == Block("u2", later)
    assert BLOCKED.holds(update(Phase.PREPARING))
    assert not BLOCKED.holds(update(Phase.PREPARING, "u2"))
    assert not BLOCKED.holds(update(Phase.SERVER_UPDATING)) and not BLOCKED.holds(None)


@pytest.mark.parametrize("phase", [Phase.SERVER_UPDATING, Phase.RELEASED])
def test_sync_refused_once_the_server_update_started_without_the_device(phase: Phase) -> None:
    refused = sync(update(phase))
    assert not refused.accepted and refused.refusal == SYNC_REFUSED
    admitted = sync(update(phase), admitted="u1")
    assert admitted.accepted and admitted.waiting_update_id == "u1"
    assert not sync(update(phase), admitted="u0").accepted  # admitted to an older update


def test_a_device_already_on_the_new_version_may_hand_in_again() -> None:
    decision = sync(update(Phase.RELEASED), version="03.01.00_031")
    assert decision.accepted and not decision.waiting_for_update


# --- D5, D6 --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.PREPARING, Phase.SERVER_UPDATING])
def test_directive_before_end_is_in_preparation(phase: Phase) -> None:
    assert decide_directive(update(phase), app_version="03.01.00_030").in_preparation
    assert package_for_device(update(phase)) is None


@pytest.mark.parametrize("phase", [Phase.RELEASED, Phase.CONCLUDED])
def test_directive_after_end_names_the_package_unless_installed(phase: Phase) -> None:
    directive = decide_directive(update(phase), app_version="03.01.00_030")
    assert directive.package == PKG and directive.update_id == "u1"
    assert decide_directive(update(phase), app_version="3.1.0.31").nothing_to_install
    assert package_for_device(update(phase)) == PKG


@pytest.mark.parametrize("state", [None, update(Phase.CANCELLED), update(Phase.FAILED)])
def test_nothing_to_install_outside_a_released_update(state: SiteUpdate | None) -> None:
    assert decide_directive(state, app_version="03.01.00_030").nothing_to_install
    assert package_for_device(state) is None


def test_byte_ranges() -> None:
    assert requested_range(None, 100) is None
    assert requested_range("bytes=10-", 100) == (10, 99)
    assert requested_range("bytes=10-19", 100) == (10, 19)
    assert requested_range("bytes=90-500", 100) == (90, 99)
    assert requested_range("bytes=-30", 100) == (70, 99)
    assert requested_range("bytes=0-1,5-9", 100) is None  # several ranges: whole file
    assert requested_range("items=1-2", 100) is None
    assert requested_range("bytes=20-10", 100) is None
    for unsatisfiable in ("bytes=100-", "bytes=150-160", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            requested_range(unsatisfiable, 100)


def test_if_range_matches_only_the_current_strong_etag() -> None:
    etag = '"' + "a" * 64 + '"'
    assert if_range_allows(None, etag)
    assert if_range_allows(etag, etag)
    assert not if_range_allows('"' + "b" * 64 + '"', etag)
    assert not if_range_allows("W/" + etag, etag)
    assert not if_range_allows("Sat, 21 Nov 2026 05:00:00 GMT", etag)


def test_not_delivered_reason() -> None:
    from datetime import UTC, datetime

    assert not_delivered_reason(None) == "device not connected"
    assert not_delivered_reason(datetime(2026, 1, 1, tzinfo=UTC)) == "not acknowledged in time"


# --- D10: devices follow the site's version outside an update ---------------------------

SITE_PKG = Package("shop", "03.01.00_030", "b" * 64, 90, "http://watcher/b")


def test_outside_an_update_a_device_on_another_version_installs_the_sites_one() -> None:
    newer = decide_directive(None, app_version="03.01.00_031", site_package=SITE_PKG)
    older = decide_directive(None, app_version="03.01.00_029", site_package=SITE_PKG)
    same = decide_directive(None, app_version="03.01.00_030", site_package=SITE_PKG)
    unknown = decide_directive(None, app_version="03.01.00_031", site_package=None)

    assert newer.package == SITE_PKG and newer.reason == "site_version"  # downgrade
    assert newer.update_id is None
    assert older.package == SITE_PKG and older.reason == "site_version"
    assert same.nothing_to_install and unknown.nothing_to_install


def test_an_active_update_wins_over_the_site_version() -> None:
    for phase in (Phase.PREPARING, Phase.SERVER_UPDATING):
        decided = decide_directive(update(phase), app_version="01.00", site_package=SITE_PKG)
        assert decided.in_preparation
    released = decide_directive(update(Phase.RELEASED), app_version="01.00",
                                site_package=SITE_PKG)
    assert released.package == PKG and released.reason == "update"
    assert package_for_device(update(Phase.PREPARING), SITE_PKG) is None
    assert package_for_device(update(Phase.RELEASED), SITE_PKG) == PKG


def test_after_an_update_ended_the_site_version_applies() -> None:
    for phase in (Phase.CANCELLED, Phase.FAILED, Phase.CONCLUDED):
        decided = decide_directive(update(phase), app_version="03.01.00_031",
                                   site_package=SITE_PKG)
        assert decided.package == SITE_PKG and decided.reason == "site_version", phase
        assert package_for_device(update(phase), SITE_PKG) == SITE_PKG
    # a late device after conclusion, before the site-version package is announced
    late = decide_directive(update(Phase.CONCLUDED), app_version="03.01.00_030")
    assert late.package == PKG and late.update_id == "u1" and late.reason == "site_version"
    assert decide_directive(update(Phase.FAILED), app_version="03.01.00_030").nothing_to_install


def test_the_device_product_is_the_named_one_else_the_first() -> None:
    products = [("platform", "05.00"), ("shop", "03.01.00_030")]
    assert device_version_of(products, "shop") == ("shop", "03.01.00_030")
    assert device_version_of(products, None) == ("platform", "05.00")
    assert device_version_of(products, "missing") == ("platform", "05.00")
    assert device_version_of([], "shop") is None


# --- one device, as the repository reads it, goes through the same rules -----------------


def device(state: SiteUpdate | None, *, version: str = "03.01.00_030",
           admitted: str | None = None, site_package: Package | None = None,
           **blocked: Block) -> DeviceContext:
    return DeviceContext(app_version=version, enabled=True, admitted_update_id=admitted,
                         site_update=state, site_package=site_package,
                         site_version="03.01.00_030", **blocked)


def test_a_device_context_answers_by_the_rules_above() -> None:
    preparing, released = update(Phase.PREPARING), update(Phase.RELEASED)

    assert device(preparing).blocking_refusal("u1") is None
    assert "past phase 1" in (device(released).blocking_refusal("u1") or "")
    assert device(preparing, block=BLOCKED).sync("u1").waiting_update_id == "u1"
    assert not device(released).sync("u1").accepted
    assert device(released, admitted="u1").sync("u1").accepted
    assert device(preparing).directive().in_preparation
    assert device(released).directive().package == PKG
    assert device(preparing).downloadable() is None and device(released).downloadable() == PKG
    assert device(None, version="03.01.00_031", site_package=SITE_PKG).downloadable() == SITE_PKG
    assert device(None, version="03.01.00_031",
                  site_package=SITE_PKG).directive().reason == "site_version"


def test_a_device_that_never_blocked_is_not_waiting_after_its_hand_in() -> None:
    """Issue 9 §1, as the service asks: no block recorded → accepted, not waiting."""
    decision = device(update(Phase.PREPARING)).sync("u1")
    assert decision.accepted and not decision.waiting_for_update


def test_a_site_admits_only_its_enrolment_code() -> None:
    import hashlib

    site = Site(hashlib.sha256(b"enrol-1").hexdigest(), (("shop", "03.01.00_030"),))

    assert site.admits("enrol-1")
    assert not site.admits("enrol-2") and not site.admits("")
    assert site.first_version == "03.01.00_030" and Site("x", ()).first_version is None

"""N1: the eight banner states as a pure function of releases and the active update."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lockstep_shared.catalogue import PackageRef
from orchestrator.domain.banner import BannerState, banner
from orchestrator.domain.model import Update, UpdateState
from orchestrator.domain.releases import Release, ReleaseStatus

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
PACKAGE = PackageRef(product="shop", version="03.01.00_031", sha256="c" * 64, size=10,
                     url="http://watcher/a")
INSTALLED = {"shop": "03.01.00_030"}


def release(status: ReleaseStatus, **kw: object) -> Release:
    values: dict[str, object] = dict(site_id="shop-1", product="shop", status=status,
                                     version="03.01.00_031", notes_url="http://wiki/031")
    values.update(kw)
    return Release(**values)  # type: ignore[arg-type]


def update(state: UpdateState) -> Update:
    return Update(update_id="u1", site_id="shop-1", product="shop", from_version="03.01.00_030",
                  to_version="03.01.00_031", package=PACKAGE, state=state, opened_at=T0,
                  opened_by="anna", notes_url="http://wiki/031")


def test_no_release_news_means_no_banner() -> None:
    shown = banner([release(ReleaseStatus.UP_TO_DATE, version="03.01.00_030")], INSTALLED, None)
    assert (shown.state, shown.colour, shown.details_url) == (BannerState.NONE, "none", None)
    assert banner([], INSTALLED, None).state is BannerState.NONE


def test_check_failed_is_blue_and_says_work_can_go_on() -> None:
    shown = banner([release(ReleaseStatus.CHECK_FAILED, version=None, reason="feed offline")],
                   INSTALLED, None)
    assert shown.state is BannerState.BLUE and shown.colour == "blue"
    assert "feed offline" in shown.message and "Work can go on" in shown.message


def test_downloading_is_yellow_with_progress() -> None:
    shown = banner([release(ReleaseStatus.DOWNLOADING, received_bytes=25, total_bytes=100)],
                   INSTALLED, None)
    assert shown.state is BannerState.YELLOW and "25%" in shown.message
    assert shown.details_url == "http://wiki/031" and shown.version == "03.01.00_031"


def test_downloaded_is_green_manage_update() -> None:
    shown = banner([release(ReleaseStatus.DOWNLOADED, package=PACKAGE)], INSTALLED, None)
    assert shown.state is BannerState.GREEN and "Manage update" in shown.message


def test_downloaded_needing_a_code_is_white_until_unlocked() -> None:
    needs = release(ReleaseStatus.DOWNLOADED, requires_confirmation_code=True)
    assert banner([needs], INSTALLED, None).state is BannerState.WHITE
    unlocked = replace(needs, code_unlocked=True)
    assert banner([unlocked], INSTALLED, None).state is BannerState.GREEN


def test_an_installed_release_shows_nothing() -> None:
    shown = banner([release(ReleaseStatus.DOWNLOADED)], {"shop": "03.01.00_031"}, None)
    assert shown.state is BannerState.NONE


def test_most_significant_release_wins() -> None:
    releases = [release(ReleaseStatus.CHECK_FAILED, product="base", version=None, reason="x"),
                release(ReleaseStatus.DOWNLOADED)]
    assert banner(releases, INSTALLED, None).state is BannerState.GREEN


@pytest.mark.parametrize(("state", "expected", "colour"), [
    (UpdateState.NOTIFYING, BannerState.UPDATE_IN_PROGRESS, "yellow"),
    (UpdateState.SERVER_UPDATING, BannerState.UPDATE_IN_PROGRESS, "yellow"),
    (UpdateState.SERVER_UPDATED, BannerState.SERVER_UPDATED, "green"),
    (UpdateState.FAILED, BannerState.RED, "red"),
    (UpdateState.AWAITING_CODE, BannerState.WHITE, "white"),
    (UpdateState.OPEN, BannerState.GREEN, "green"),
])
def test_active_update_decides_the_banner(state: UpdateState, expected: BannerState,
                                          colour: str) -> None:
    shown = banner([release(ReleaseStatus.CHECK_FAILED, reason="x")], INSTALLED, update(state))
    assert (shown.state, shown.colour, shown.update_id) == (expected, colour, "u1")
    assert shown.details_url == "http://wiki/031"


def test_messages_say_what_to_do() -> None:
    assert "stop work and exit" in banner([], INSTALLED, update(UpdateState.NOTIFYING)).message
    assert "finish" in banner([], INSTALLED, update(UpdateState.SERVER_UPDATED)).message
    assert "contact support" in banner([], INSTALLED, update(UpdateState.FAILED)).message


def test_closed_updates_do_not_hold_the_banner() -> None:
    shown = banner([], INSTALLED, None)
    assert shown.state is BannerState.NONE


def test_after_reactivation_the_red_banner_no_longer_waits_for_it() -> None:
    failed = update(UpdateState.FAILED)
    assert "once the devices are reactivated" in banner([], INSTALLED, failed).message
    reactivated = replace(failed, devices_reactivated_at=T0)
    shown = banner([], INSTALLED, reactivated)
    assert shown.state is BannerState.RED
    assert "devices were reactivated" in shown.message
    assert "once the devices are reactivated" not in shown.message

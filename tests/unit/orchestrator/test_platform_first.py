"""R8, platform first: a release needing a newer platform is shown but not opened until the
platform update is installed; the banner and the refusal name the platform version needed;
the platform's own update stops and releases the devices without giving them a package."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lockstep_shared.catalogue import PackageRef, ReleaseAvailable, ReleaseDownloaded
from orchestrator.domain.banner import BannerState, banner
from orchestrator.domain.commands import OpenUpdate
from orchestrator.domain.model import PlatformRequired, UpdateState
from orchestrator.domain.platform import (
    device_product,
    devices_target_version,
    platform_required,
)
from orchestrator.domain.releases import Release, ReleaseStatus, apply_release_event
from orchestrator.domain.saga import open_update
from orchestrator.entrypoints.errors import STATUS

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def package(product: str, version: str) -> PackageRef:
    return PackageRef(product=product, version=version, sha256="a" * 64, size=10,
                      url="http://watcher/artifacts/" + "a" * 64)


def downloaded(product: str, version: str, min_platform: str | None = None) -> Release:
    return Release(site_id="shop-1", product=product, status=ReleaseStatus.DOWNLOADED,
                   version=version, package=package(product, version),
                   min_platform_version=min_platform)


def open_shop(release: Release, platform: str | None) -> UpdateState:
    command = OpenUpdate(update_id="u1", site_id="shop-1", product="shop",
                         backups_confirmed=True, actor="anna", challenge="1")
    decision = open_update(command, active=None, release=release,
                           installed_version="03.01.00_030", now=T0,
                           installed_platform=platform)
    return decision.state.state


def test_the_requirement_is_met_by_an_equal_or_newer_platform_only() -> None:
    assert platform_required(None, None) is None
    assert platform_required(None, "1.0") is None
    assert platform_required("05.01", "05.01") is None
    assert platform_required("05.01", "05.02") is None
    assert platform_required("05.01", "05.00.09") == "05.01"
    assert platform_required("05.01", None) == "05.01"  # no platform installed at all


def test_manage_update_is_refused_naming_the_platform_version_needed() -> None:
    release = downloaded("shop", "03.01.00_031", min_platform="05.01")
    with pytest.raises(PlatformRequired) as refused:
        open_shop(release, platform="05.00")
    assert refused.value.code == "platform_required"
    assert refused.value.fields() == {
        "product": "shop", "version": "03.01.00_031", "platform_version": "05.01",
        "installed_platform_version": "05.00"}
    assert "platform 05.01" in str(refused.value) and "first" in str(refused.value)
    assert STATUS["platform_required"] == 409


def test_once_the_platform_is_installed_the_release_opens() -> None:
    release = downloaded("shop", "03.01.00_031", min_platform="05.01")
    assert open_shop(release, platform="05.01") is UpdateState.OPEN
    assert open_shop(downloaded("shop", "03.01.00_031"), platform=None) is UpdateState.OPEN


def test_the_platform_itself_is_opened_like_any_product() -> None:
    command = OpenUpdate(update_id="u0", site_id="shop-1", product="platform",
                         backups_confirmed=True, actor="anna", challenge="1")
    decision = open_update(command, active=None, release=downloaded("platform", "05.01"),
                           installed_version="05.00", now=T0, installed_platform="05.00")
    assert decision.state.state is UpdateState.OPEN
    assert decision.state.to_version == "05.01"


def test_the_banner_shows_the_release_and_says_the_platform_comes_first() -> None:
    installed = {"platform": "05.00", "shop": "03.01.00_030"}
    shown = banner([downloaded("shop", "03.01.00_031", min_platform="05.01")], installed,
                   None)
    assert shown.state is BannerState.GREEN and shown.product == "shop"
    assert shown.platform_required == "05.01"
    assert "needs platform 05.01 first" in shown.message


def test_the_banner_prefers_the_platform_update_that_can_be_opened_now() -> None:
    installed = {"platform": "05.00", "shop": "03.01.00_030"}
    releases = [downloaded("shop", "03.01.00_031", min_platform="05.01"),
                downloaded("platform", "05.01")]
    for order in (releases, list(reversed(releases))):
        shown = banner(order, installed, None)
        assert (shown.product, shown.version, shown.platform_required) == (
            "platform", "05.01", None)


def test_after_the_platform_update_the_banner_offers_the_product() -> None:
    installed = {"platform": "05.01", "shop": "03.01.00_030"}
    releases = [downloaded("shop", "03.01.00_031", min_platform="05.01"),
                Release(site_id="shop-1", product="platform", status=ReleaseStatus.UP_TO_DATE,
                        version="05.01")]
    shown = banner(releases, installed, None)
    assert (shown.state, shown.product, shown.platform_required) == (
        BannerState.GREEN, "shop", None)


def test_the_requirement_travels_from_the_watcher_events_into_the_release() -> None:
    available = ReleaseAvailable(site_id="shop-1", product="shop", version="03.01.00_031",
                                 size=10, min_platform_version="05.01")
    release = apply_release_event(None, available, "shop")
    assert release.min_platform_version == "05.01"
    done = ReleaseDownloaded(site_id="shop-1", product="shop", version="03.01.00_031",
                             package=package("shop", "03.01.00_031"),
                             min_platform_version="05.01")
    assert apply_release_event(release, done, "shop").min_platform_version == "05.01"


def test_devices_follow_the_first_product_other_than_the_platform() -> None:
    assert device_product({"platform": "05.00", "shop": "1"}) == "shop"
    assert device_product({"platform": "05.00"}) == "platform"
    assert device_product({}) is None


def test_a_platform_update_leaves_the_devices_on_their_version() -> None:
    products = {"platform": "05.00", "shop": "03.01.00_030"}
    assert devices_target_version("platform", "05.01", products) == "03.01.00_030"
    assert devices_target_version("shop", "03.01.00_031", products) == "03.01.00_031"

"""R7 release events folded into the release state the banner reads."""

from __future__ import annotations

from datetime import UTC, datetime

from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    PackageRef,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
)
from orchestrator.domain.banner import BannerState, banner
from orchestrator.domain.releases import ReleaseStatus, apply_release_event

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
V = "03.01.00_031"
PACKAGE = PackageRef(product="shop", version=V, sha256="d" * 64, size=100, url="http://w/a")


def fold(*events):  # type: ignore[no-untyped-def]
    state = None
    for event in events:
        state = apply_release_event(state, event, "shop")
    return state


AVAILABLE = ReleaseAvailable(site_id="s", product="shop", version=V, size=100,
                             notes_url="http://wiki")
PROGRESS = ReleaseDownloadProgressed(site_id="s", product="shop", version=V, received_bytes=40,
                                     total_bytes=100)
DOWNLOADED = ReleaseDownloaded(site_id="s", product="shop", version=V, notes_url="http://wiki",
                               package=PACKAGE)


def test_available_progress_downloaded() -> None:
    assert fold(AVAILABLE).status is ReleaseStatus.AVAILABLE
    progressing = fold(AVAILABLE, PROGRESS)
    assert progressing.status is ReleaseStatus.DOWNLOADING
    assert (progressing.received_bytes, progressing.notes_url) == (40, "http://wiki")
    done = fold(AVAILABLE, PROGRESS, DOWNLOADED)
    assert done.status is ReleaseStatus.DOWNLOADED and done.package == PACKAGE


def test_late_progress_does_not_undo_downloaded() -> None:
    assert fold(DOWNLOADED, PROGRESS, AVAILABLE).status is ReleaseStatus.DOWNLOADED


def test_failed_check_keeps_a_downloaded_release_but_is_blue_otherwise() -> None:
    failed = ReleaseCheckFailed(site_id="s", reason="feed offline", checked_at=T0)
    kept = fold(DOWNLOADED, failed)
    assert kept.status is ReleaseStatus.DOWNLOADED and kept.reason == "feed offline"
    assert fold(failed).status is ReleaseStatus.CHECK_FAILED


def test_up_to_date_clears_everything() -> None:
    up = ReleaseUpToDate(site_id="s", product="shop", installed_version=V, checked_at=T0)
    state = fold(DOWNLOADED, up)
    assert state.status is ReleaseStatus.UP_TO_DATE and state.package is None


def test_confirmation_code_required_is_kept_through_download() -> None:
    code = ConfirmationCodeRequired(site_id="s", product="shop", version=V)
    assert fold(AVAILABLE, code, PROGRESS, DOWNLOADED).requires_confirmation_code


def test_a_tampered_package_is_not_left_downloading() -> None:
    """The watcher discarded the package (its bytes do not match the signed hash): the banner
    shows the failure with the reason, not "downloading (99%)"."""
    tampered = ReleaseCheckFailed(site_id="s", product="shop", checked_at=T0, refused=True,
                                  reason="package shop 03.01.00_031 is corrupt and was discarded")
    state = fold(AVAILABLE, PROGRESS, tampered)
    assert state.status is ReleaseStatus.CHECK_FAILED and "corrupt" in (state.reason or "")
    shown = banner([state], {"shop": "03.01.00_030"}, None)
    assert shown.state is BannerState.BLUE and "corrupt" in shown.message


def test_a_refused_feed_takes_the_green_banner_away() -> None:
    """A rolled back or frozen feed is refused: what it offered is not offered while it lasts;
    an unreachable feed keeps the downloaded release (work goes on)."""
    rollback = ReleaseCheckFailed(site_id="s", checked_at=T0, refused=True,
                                  reason="vendor feed refused: rollback to older metadata")
    unreachable = ReleaseCheckFailed(site_id="s", checked_at=T0,
                                     reason="vendor feed unreachable (DownloadError)")
    installed = {"shop": "03.01.00_030"}
    assert banner([fold(DOWNLOADED, unreachable)], installed, None).state is BannerState.GREEN
    refused = banner([fold(DOWNLOADED, rollback)], installed, None)
    assert refused.state is BannerState.BLUE and "rollback" in refused.message
    assert fold(DOWNLOADED, rollback, DOWNLOADED).status is ReleaseStatus.DOWNLOADED

"""N1: the banner every user of a site sees, as a pure function of releases and the update."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from lockstep_shared.versions import Version
from orchestrator.domain.model import Update, UpdateState
from orchestrator.domain.platform import PLATFORM_PRODUCT, platform_required
from orchestrator.domain.releases import Release, ReleaseStatus


class BannerState(StrEnum):
    NONE = "none"
    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    WHITE = "white"
    UPDATE_IN_PROGRESS = "update_in_progress"
    SERVER_UPDATED = "server_updated"
    RED = "red"


COLOURS = {
    BannerState.NONE: "none",
    BannerState.BLUE: "blue",
    BannerState.YELLOW: "yellow",
    BannerState.GREEN: "green",
    BannerState.WHITE: "white",
    BannerState.UPDATE_IN_PROGRESS: "yellow",
    BannerState.SERVER_UPDATED: "green",
    BannerState.RED: "red",
}


@dataclass(frozen=True, slots=True)
class Banner:
    state: BannerState
    message: str
    details_url: str | None = None
    product: str | None = None
    version: str | None = None
    update_id: str | None = None
    platform_required: str | None = None
    """R8: the platform version to install before this release can be opened."""

    @property
    def colour(self) -> str:
        return COLOURS[self.state]


def _from_update(update: Update) -> Banner | None:
    def make(state: BannerState, message: str) -> Banner:
        return Banner(state, message, update.notes_url, update.product, update.to_version,
                      update.update_id)

    match update.state:
        case UpdateState.FAILED if update.devices_reactivated_at is not None:
            return make(BannerState.RED, f"Update of {update.product} to {update.to_version} "
                        "failed: contact support. The devices were reactivated: work goes "
                        "on with the previous version until support resolves the failure.")
        case UpdateState.FAILED:
            return make(BannerState.RED, f"Update of {update.product} to {update.to_version} "
                        "failed: contact support. Work can resume once the devices are "
                        "reactivated.")
        case UpdateState.NOTIFYING | UpdateState.SERVER_UPDATING:
            return make(BannerState.UPDATE_IN_PROGRESS, f"Update of {update.product} to "
                        f"{update.to_version} in progress: stop work and exit.")
        case UpdateState.SERVER_UPDATED:
            return make(BannerState.SERVER_UPDATED, f"Server updated to {update.to_version}: "
                        "finish the update of the devices.")
        case UpdateState.AWAITING_CODE:
            return make(BannerState.WHITE, f"Update {update.product} {update.to_version} "
                        "requires a confirmation code: contact support to proceed.")
        case UpdateState.OPEN:
            return make(BannerState.GREEN, f"Update {update.product} {update.to_version} is "
                        "being prepared by the admin (Manage update).")
    return None


def _from_release(release: Release, installed_platform: str | None) -> Banner:
    needed = platform_required(release.min_platform_version, installed_platform)

    def make(state: BannerState, message: str) -> Banner:
        if needed is not None:
            message += (f" It needs platform {needed} first: update the platform, then "
                        "this release can be opened.")
        return Banner(state, message, release.notes_url, release.product, release.version,
                      platform_required=needed)

    name = f"{release.product} {release.version}"
    match release.status:
        case ReleaseStatus.DOWNLOADED if release.requires_confirmation_code and not (
            release.code_unlocked
        ):
            return make(BannerState.WHITE, f"Update {name} requires a confirmation code: "
                        "contact support to proceed.")
        case ReleaseStatus.DOWNLOADED:
            return make(BannerState.GREEN, f"Update {name} is downloaded and ready: "
                        "Manage update.")
        case ReleaseStatus.AVAILABLE | ReleaseStatus.DOWNLOADING:
            percent = (f" ({100 * release.received_bytes // release.total_bytes}%)"
                       if release.total_bytes else "")
            return make(BannerState.YELLOW, f"Update {name} is available and downloading"
                        f"{percent}.")
        case ReleaseStatus.CHECK_FAILED:
            return Banner(BannerState.BLUE, "Could not check for updates"
                          f"{': ' + release.reason if release.reason else ''}. Work can go on; "
                          "the check is retried.", None, release.product)
    return Banner(BannerState.NONE, "Up to date.")


_RANK = {BannerState.NONE: 0, BannerState.BLUE: 1, BannerState.YELLOW: 2,
         BannerState.GREEN: 3, BannerState.WHITE: 4}


NO_SUBSCRIPTION = "No active update subscription: no update is offered until it is renewed."


def banner(
    releases: Sequence[Release],
    installed: Mapping[str, str],
    active: Update | None,
    entitled: bool = True,
) -> Banner:
    """The active update decides while it holds the site; otherwise the most significant
    release: white > green > yellow > blue > none, and of two alike the one that can be
    opened now (R8: not waiting for a newer platform). A release not newer than the installed
    version (already installed) shows nothing. R4: without an active subscription nothing is
    offered (none, saying why)."""
    if active is not None:
        shown = _from_update(active)
        if shown is not None:
            return shown
    if not entitled:
        return Banner(BannerState.NONE, NO_SUBSCRIPTION)
    best = Banner(BannerState.NONE, "Up to date.")
    for release in releases:
        if release.status is not ReleaseStatus.CHECK_FAILED and not _newer(release, installed):
            continue
        candidate = _from_release(release, installed.get(PLATFORM_PRODUCT))
        if _significance(candidate) > _significance(best):
            best = candidate
    return best


def _significance(shown: Banner) -> tuple[int, bool]:
    return _RANK[shown.state], shown.platform_required is None


def _newer(release: Release, installed: Mapping[str, str]) -> bool:
    current = installed.get(release.product)
    if release.version is None:
        return False
    return current is None or Version.parse(release.version) > Version.parse(current)


@dataclass(frozen=True, slots=True)
class Gate:
    """N3: what the desktop application asks at start."""

    open: bool
    reason: str | None = None


def site_gate(active: Update | None) -> Gate:
    """Closed while the server is being updated (phase 2), so the desktop application
    refuses to open; open otherwise."""
    if active is not None and active.state is UpdateState.SERVER_UPDATING:
        return Gate(False, f"the server is being updated to {active.product} "
                    f"{active.to_version}: wait until the update is finished")
    return Gate(True)

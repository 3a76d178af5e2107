"""What the gateway knows of its site's update, and the device rules that follow (D3-D5).

Pure: no I/O, no clock. The gateway learns the update from the orchestrator's events and
keeps only one row per site: the current (or last) update, its phase and its package.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from lockstep_shared.versions import Version


class Phase(StrEnum):
    PREPARING = "preparing"  # phase 1: UpdateOpened, devices being stopped
    SERVER_UPDATING = "server_updating"  # phase 2: ServerUpdateStarted
    RELEASED = "released"  # phase 3 after END: DevicesReleased, devices may install
    CONCLUDED = "concluded"
    CANCELLED = "cancelled"
    FAILED = "failed"


ENDED = frozenset({Phase.CONCLUDED, Phase.CANCELLED, Phase.FAILED})
BEFORE_RELEASE = frozenset({Phase.PREPARING, Phase.SERVER_UPDATING})  # nothing to install yet
_RANK = {Phase.PREPARING: 1, Phase.SERVER_UPDATING: 2, Phase.RELEASED: 3,
         Phase.CONCLUDED: 4, Phase.CANCELLED: 4, Phase.FAILED: 4}


@dataclass(frozen=True, slots=True)
class Package:
    product: str
    version: str
    sha256: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class SiteUpdate:
    update_id: str
    phase: Phase
    package: Package | None = None

    @property
    def active(self) -> bool:
        return self.phase not in ENDED


def advance(
    current: SiteUpdate | None, update_id: str, phase: Phase, package: Package | None = None
) -> SiteUpdate | None:
    """The site's update after an event, or None when the event changes nothing.

    Events may arrive late or twice (at-least-once): phases only move forward, an ended
    update never reopens, and an ending event of another update does not end the active one.
    """
    if current is None or current.update_id != update_id:
        if current is not None and current.active and phase in ENDED:
            return None  # a stale end of an older update
        return SiteUpdate(update_id, phase, package)
    if _RANK[phase] <= _RANK[current.phase]:
        if package is not None and current.package is None:
            return replace(current, package=package)
        return None
    if current.phase in ENDED:
        return None
    return SiteUpdate(update_id, phase, package or current.package)


# --- D3: blocked ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    """The update a device is blocked for, since when, and how: it reported ``/blocked`` after
    START, or the admin blocked it with the offline codes (D8). ``since`` names the block: a
    repeated report of the same block keeps it, so the orchestrator can tell a hand-in made
    in this block from one made before an unblock (its events may arrive in any order)."""

    update_id: str
    since: datetime
    by_code: bool = False

    def holds(self, update: SiteUpdate | None) -> bool:
        """Blocked for the site's update while that update is in phase 1."""
        return (update is not None and update.phase is Phase.PREPARING
                and update.update_id == self.update_id)


def blocking_refusal(update: SiteUpdate | None, update_id: str) -> str | None:
    """Why a device may not report itself blocked for ``update_id`` (None = it may)."""
    if update is None or update.update_id != update_id or not update.active:
        return f"update {update_id!r} is not this site's active update"
    if update.phase is not Phase.PREPARING:
        return f"update {update_id!r} is past phase 1: blocking is no longer needed"
    return None


def block(current: Block | None, update_id: str, now: datetime, *, by_code: bool = False
          ) -> Block:
    """The device's block after it reported itself blocked for ``update_id`` (or was blocked
    with codes): the same block when it already was blocked for that update (a repeated
    report changes nothing, §6.4; codes on a device blocked by START mark it ``by_code``),
    else a new one from ``now``."""
    if current is not None and current.update_id == update_id:
        return replace(current, by_code=current.by_code or by_code)
    return Block(update_id, now, by_code)


# --- D4: sync acknowledgement -----------------------------------------------------------


def claimed_update_refusal(update: SiteUpdate | None, update_id: str | None) -> str | None:
    """Why a hand-in may not name ``update_id`` (None = it may): only the site's current or
    last update can be named (or none, ``update_id`` null)."""
    if update_id is None or (update is not None and update.update_id == update_id):
        return None
    return (f"update {update_id!r} is not this site's current or last update: hand in with "
            "update_id null")


SYNC_REFUSED = (
    "the server update has already started without this device: its unsent data cannot be "
    "accepted now because the versions differ; contact the site admin"
)


@dataclass(frozen=True, slots=True)
class SyncDecision:
    accepted: bool
    waiting_update_id: str | None = None  # the update this device now waits for
    refusal: str | None = None
    blocked_since: datetime | None = None  # the block this hand-in came after (phase 1)

    @property
    def waiting_for_update(self) -> bool:
        return self.waiting_update_id is not None


def decide_sync(
    update: SiteUpdate | None,
    *,
    claimed_update_id: str | None,
    block: Block | None,
    admitted_update_id: str | None,
    app_version: str,
) -> SyncDecision:
    """Accepted in normal work and in phase 1; refused once the server update started without
    the device — also after the update was concluded, for a late device still on the old
    version (the server runs the new one) — unless it already runs the new version.

    Waiting for update (U6) in phase 1 means blocked for the site's update **and** handed in
    after blocking: a hand-in is waiting only from a device blocked for it, naming it — or
    naming no update when the codes blocked it (the device does not know the update then).
    A hand-in before blocking, or one naming no update from a device that reported itself
    blocked (so it believes it works normally), is normal work: accepted, not waiting."""
    if update is None or update.phase in (Phase.CANCELLED, Phase.FAILED):
        return SyncDecision(accepted=True)
    if update.phase is Phase.PREPARING:
        if block is not None and block.holds(update) and (
                claimed_update_id == update.update_id
                or (claimed_update_id is None and block.by_code)):
            return SyncDecision(accepted=True, waiting_update_id=update.update_id,
                                blocked_since=block.since)
        return SyncDecision(accepted=True)
    if admitted_update_id == update.update_id:
        return SyncDecision(accepted=True,
                            waiting_update_id=update.update_id if update.active else None)
    if update.package is None or _same_version(app_version, update.package.version):
        return SyncDecision(accepted=True)
    return SyncDecision(accepted=False, refusal=SYNC_REFUSED)


# --- D5, D10: update directive ----------------------------------------------------------

IN_PREPARATION = "update in preparation: wait for END UPDATE"
REASON_UPDATE = "update"  # phase 3 of the site's update: install its release
REASON_SITE_VERSION = "site_version"  # D10: catch up with the site's version (downgrade too)


@dataclass(frozen=True, slots=True)
class Directive:
    in_preparation: bool = False
    package: Package | None = None  # install this one
    update_id: str | None = None  # the update that released it
    reason: str | None = None
    staged: bool = False  # the device staged this package already: install it, no download

    @property
    def nothing_to_install(self) -> bool:
        return not self.in_preparation and self.package is None


def decide_directive(
    update: SiteUpdate | None, *, app_version: str, site_package: Package | None = None
) -> Directive:
    """Before END: wait; after END: install the update's package unless the device already
    runs its version. Outside an update (none yet, concluded, cancelled, failed) a device whose
    version differs from the site's — newer included — installs the site's version (D10):
    ``site_package`` is the package of that version, when the gateway has learnt it."""
    if update is not None and update.phase in BEFORE_RELEASE:
        return Directive(in_preparation=True)
    if update is not None and update.phase is Phase.RELEASED:
        if update.package is None or _same_version(app_version, update.package.version):
            return Directive()
        return Directive(package=update.package, update_id=update.update_id,
                         reason=REASON_UPDATE)
    target = site_version_package(update, site_package)
    if target is None or _same_version(app_version, target.version):
        return Directive()
    from_update = update.update_id if update is not None and update.package == target else None
    return Directive(package=target, update_id=from_update, reason=REASON_SITE_VERSION)


def site_version_package(update: SiteUpdate | None, site_package: Package | None
                         ) -> Package | None:
    """The package of the site's version: the one announced for it, else (for a late device
    after conclusion) the concluded update's."""
    if site_package is not None:
        return site_package
    if update is not None and update.phase is Phase.CONCLUDED:
        return update.package
    return None


def package_for_device(update: SiteUpdate | None, site_package: Package | None = None
                       ) -> Package | None:
    """The package a device of this site may download (D6): the released one in phase 3,
    the site's version outside an update; nothing while an update is being prepared."""
    if update is not None and update.phase in BEFORE_RELEASE:
        return None
    if update is not None and update.phase is Phase.RELEASED:
        return update.package
    return site_version_package(update, site_package)


# --- one device as the rules see it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """A device with what every device rule needs about its site (D3-D6, D10), read in one
    query: its version and admission, its site's update, the package of its site's version."""

    app_version: str
    enabled: bool
    admitted_update_id: str | None  # the update whose server install started with it waiting
    site_update: SiteUpdate | None
    site_package: Package | None  # the package of the site's version, once announced (D10)
    site_version: str | None  # the version the site's devices run
    block: Block | None = None  # the update it is blocked for (D3, D8), if any
    staged_sha256: str | None = None  # the package it staged in the background, if any
    offer: Package | None = None  # the site's next release of the device product, downloaded

    def blocking_refusal(self, update_id: str) -> str | None:
        return blocking_refusal(self.site_update, update_id)

    def blocked(self, update_id: str, now: datetime, *, by_code: bool = False) -> Block:
        return block(self.block, update_id, now, by_code=by_code)

    def claimed_update_refusal(self, update_id: str | None) -> str | None:
        return claimed_update_refusal(self.site_update, update_id)

    def sync(self, claimed_update_id: str | None) -> SyncDecision:
        return decide_sync(self.site_update, claimed_update_id=claimed_update_id,
                           block=self.block, admitted_update_id=self.admitted_update_id,
                           app_version=self.app_version)

    def directive(self) -> Directive:
        decided = decide_directive(self.site_update, app_version=self.app_version,
                                   site_package=self.site_package)
        if decided.package is not None and decided.package.sha256 == self.staged_sha256:
            return replace(decided, staged=True)
        return decided

    def downloadable(self) -> Package | None:
        return package_for_device(self.site_update, self.site_package)


def device_version_of(products: list[tuple[str, str]], device_product: str | None
                      ) -> tuple[str, str] | None:
    """(product, version) the site's device app follows: ``device_product`` when the site
    names one it has, else its first product."""
    for product, version in products:
        if product == device_product:
            return product, version
    return products[0] if products else None


def _same_version(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except ValueError:
        return a == b

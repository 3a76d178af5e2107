"""A release check (R3-R8): refresh the feed, read the site's subscription, decide per
product, start downloads, announce.

Every outcome is saved with its events in one unit of work (state + emitted events), then the
relay publishes. A check is claimed before it runs, so replicas never check a site twice.
Downloads run as their own tasks (``downloads.py``), started once the check has committed, so
one site's long download never holds up the other sites' checks. ``round`` is the round of
the service's check ``Loop``: at start, every ``poll`` seconds, and at once when a consumer
made a site due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from lockstep_shared import metrics
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    EntitlementChecked,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseUpToDate,
    SiteVersionPackageReady,
)
from lockstep_shared.contracts.vendor_feed import InvalidEntitlement
from lockstep_shared.unit_of_work import Tx, UnitOfWork
from release_watcher.adapters import repository
from release_watcher.domain.entitlement import Entitlement, decide_entitlement
from release_watcher.domain.feed import FeedError, FeedSnapshot, PackageTarget
from release_watcher.domain.releases import (
    NextRelease,
    UpToDate,
    plan_check,
    site_version_releases,
)
from release_watcher.domain.sites import DueCheck
from release_watcher.service_layer.downloads import PackageDownloads

log = logging.getLogger(__name__)

NO_SUBSCRIPTION_STATUS = "no-subscription"


class Feed(Protocol):
    async def snapshot(self, license_keys: Iterable[str] = ()) -> FeedSnapshot: ...


class ReleaseChecker:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        feed: Feed,
        store: ArtifactStore,
        downloads: PackageDownloads,
        clock: Callable[[], datetime],
        retry_after_failure_s: int = 300,
    ) -> None:
        self.uow = uow
        self.feed = feed
        self.store = store
        self.downloads = downloads
        self.clock = clock
        self.retry_after_failure_s = retry_after_failure_s

    # --- scheduling -------------------------------------------------------------------

    async def make_all_due(self) -> None:
        """Every site is checked at start (R3)."""
        async with self.uow.begin() as tx:
            await repository.make_all_due(tx.conn, self.clock())

    async def round(self) -> bool:
        """Claim every due check, refresh the feed once, check each claimed site. True when
        some were claimed (more may be due at once)."""
        now = self.clock()
        claimed: list[DueCheck] = []
        async with self.uow.begin() as tx:
            for due in await repository.due_checks(tx.conn, now):
                next_at = now + timedelta(seconds=due.check_interval_s)
                if await repository.claim_check(tx.conn, due, next_check_at=next_at):
                    claimed.append(due)
        if not claimed:
            return False
        snapshot: FeedSnapshot | FeedError
        try:
            snapshot = await self.feed.snapshot(due.license_key for due in claimed)
        except FeedError as exc:
            log.warning("vendor feed check failed: %s", exc)
            snapshot = exc
        for due in claimed:
            try:
                await self.check_site(due, snapshot)
            except Exception:
                log.exception("release check of site %s failed", due.site_id,
                              extra={"site_id": due.site_id})
        return True

    # --- one site ---------------------------------------------------------------------

    async def check_site(self, due: DueCheck, snapshot: FeedSnapshot | FeedError) -> None:
        """One site's check, in one unit of work carrying the "check now" request's
        correlation (if a request made it due). Downloads start only once it committed, so a
        download's events always follow this check's."""
        now = self.clock()
        site_id = due.site_id
        retry_at = now + timedelta(seconds=min(self.retry_after_failure_s, due.check_interval_s))
        async with self.uow.begin(correlation_id=due.correlation_id,
                                  causation_id=due.causation_id) as tx:
            if isinstance(snapshot, FeedError):
                await self._check_failed(tx, site_id, str(snapshot), now, retry_at,
                                         refused=snapshot.refused)
                return
            try:
                entitlement = _entitlement(snapshot, due.license_key, now)
            except FeedError as exc:
                await self._check_failed(tx, site_id, str(exc), now, retry_at)
                return
            await repository.record_entitlement(
                tx.conn, site_id, active=entitlement.active, valid_until=entitlement.valid_until,
                reason=entitlement.reason, checked_at=now,
            )
            tx.emit(EntitlementChecked(
                site_id=site_id, active=entitlement.active, valid_until=entitlement.valid_until,
                reason=entitlement.reason, checked_at=now,
            ))
            installed = await repository.installed_products(tx.conn, site_id)
            self._site_version_packages(tx, due, installed, snapshot, retry_at)
            if entitlement.active:
                failures = await self._offer_next(tx, due, installed, snapshot, now, retry_at)
            else:  # R4: nothing is offered, the reason is visible per product
                failures = []
                await repository.set_all_products(
                    tx.conn, site_id, status=NO_SUBSCRIPTION_STATUS, checked_at=now,
                    **{**_no_release(), "reason": entitlement.reason},
                )
            await repository.record_check(
                tx.conn, site_id, checked_at=now, failure="; ".join(failures) or None,
                retry_at=retry_at if failures else None,
            )
        outcome = "failed" if failures else "ok" if entitlement.active else "no_subscription"
        metrics.RELEASE_CHECKS.labels(outcome).inc()

    async def _check_failed(
        self, tx: Tx, site_id: str, reason: str, now: datetime, retry_at: datetime, *,
        refused: bool = False,
    ) -> None:
        await repository.record_check(tx.conn, site_id, checked_at=now, failure=reason,
                                      retry_at=retry_at)
        tx.emit(ReleaseCheckFailed(site_id=site_id, reason=reason, checked_at=now,
                                   refused=refused))
        metrics.RELEASE_CHECKS.labels("failed").inc()

    def _site_version_packages(
        self,
        tx: Tx,
        due: DueCheck,
        installed: dict[str, str],
        snapshot: FeedSnapshot,
        retry_at: datetime,
    ) -> None:
        """D10: the package of each installed version the catalogue lists: announced now if it
        is in the store, else downloaded (in the background, after commit) and announced
        then."""
        site_id = due.site_id
        for product, release in site_version_releases(installed, snapshot.catalogue):
            try:
                target = snapshot.package(release.package)
            except FeedError as exc:
                log.warning("site %s: %s", site_id, exc, extra={"site_id": site_id})
                continue
            if self.store.has(target.sha256, target.size):
                tx.emit(SiteVersionPackageReady(
                    site_id=site_id,
                    package=self.downloads.package_ref(product, release.version, target),
                ))
            else:
                tx.after_commit(partial(
                    self.downloads.launch,
                    f"site-version download {site_id} {product} {release.version}",
                    partial(self.downloads.site_version, due, product, release.version,
                            target, retry_at),
                ))

    async def _offer_next(
        self,
        tx: Tx,
        due: DueCheck,
        installed: dict[str, str],
        snapshot: FeedSnapshot,
        now: datetime,
        retry_at: datetime,
    ) -> list[str]:
        """R5-R8 for every installed product (downloads start after commit); the failures'
        reasons."""
        site_id = due.site_id
        failures: list[str] = []
        for outcome in plan_check(installed, snapshot.catalogue):
            if isinstance(outcome, UpToDate):
                await repository.set_product(
                    tx.conn, site_id, outcome.product, status="up-to-date", checked_at=now,
                    **_no_release(),
                )
                tx.emit(ReleaseUpToDate(site_id=site_id, product=outcome.product,
                                        installed_version=outcome.installed_version,
                                        checked_at=now))
                continue
            try:
                target = snapshot.package(outcome.release.package)
            except FeedError as exc:
                failures.append(str(exc))
                await self.downloads.failed(tx, site_id, outcome, str(exc), now)
                continue
            fields = _release_fields(outcome, target)
            if self.store.has(target.sha256, target.size):
                await repository.set_product(
                    tx.conn, site_id, outcome.product, status="downloaded", checked_at=now,
                    received_bytes=target.size, **fields,
                )
                tx.emit(*self.downloads.downloaded(site_id, outcome, target))
                continue
            partial_file = self.store.partial_path(target.sha256)
            await repository.set_product(
                tx.conn, site_id, outcome.product, status="downloading", checked_at=now,
                received_bytes=partial_file.stat().st_size if partial_file.exists() else 0,
                **fields,
            )
            release = outcome.release
            tx.emit(ReleaseAvailable(
                site_id=site_id, product=outcome.product, version=release.version,
                notes_url=release.notes_url, size=target.size,
                requires_confirmation_code=release.requires_confirmation_code,
                min_platform_version=release.min_platform_version,
            ))
            tx.after_commit(partial(
                self.downloads.launch,
                f"download {site_id} {outcome.product} {release.version}",
                partial(self.downloads.next_release, due, outcome, target, retry_at),
            ))
        return failures


def _entitlement(snapshot: FeedSnapshot, license_key: str, now: datetime) -> Entitlement:
    """The site's subscription (R4); ``FeedError`` when it could not be fetched."""
    record = snapshot.entitlement(license_key)
    if isinstance(record, InvalidEntitlement):
        return Entitlement(active=False, valid_until=None, reason=str(record))
    return decide_entitlement(record, now)


def _no_release() -> dict[str, Any]:
    return {
        "next_version": None, "notes_url": None, "target_path": None, "sha256": None,
        "size": None, "received_bytes": None, "requires_confirmation_code": False,
        "min_platform_version": None, "platform_required": None, "reason": None,
    }


def _release_fields(outcome: NextRelease, target: PackageTarget) -> dict[str, Any]:
    release = outcome.release
    return {
        "next_version": release.version,
        "notes_url": release.notes_url,
        "target_path": target.path,
        "sha256": target.sha256,
        "size": target.size,
        "requires_confirmation_code": release.requires_confirmation_code,
        "min_platform_version": release.min_platform_version,
        "platform_required": outcome.platform_required,
        "reason": None,
    }

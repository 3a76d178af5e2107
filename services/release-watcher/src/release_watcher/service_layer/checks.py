"""A release check (R3-R8): refresh the feed, read the site's subscription, decide per
product, start downloads, announce.

Every outcome is saved with its events in one transaction (state + outbox rows), then the
relay publishes. A check is claimed before it runs, so replicas never check a site twice.
Downloads run as their own tasks (``downloads.py``), so one site's long download never holds up
the other sites' checks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared import metrics
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.catalogue import (
    EntitlementChecked,
    Message,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseUpToDate,
    SiteVersionPackageReady,
)
from lockstep_shared.contracts.vendor_feed import InvalidEntitlement
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox
from release_watcher.adapters import repository
from release_watcher.adapters.feed import FeedError, FeedSnapshot, PackageTarget
from release_watcher.adapters.repository import DueCheck
from release_watcher.domain.entitlement import Entitlement, decide_entitlement
from release_watcher.domain.releases import (
    NextRelease,
    UpToDate,
    plan_check,
    site_version_releases,
)
from release_watcher.service_layer.downloads import PackageDownloads
from release_watcher.service_layer.events import Cause, saving

log = logging.getLogger(__name__)

NO_SUBSCRIPTION_STATUS = "no-subscription"

Job = tuple[str, Callable[[], Coroutine[Any, Any, None]]]
"""A download to start once the check's transaction has committed: (task name, start)."""


class Feed(Protocol):
    async def snapshot(self, license_keys: Iterable[str] = ()) -> FeedSnapshot: ...


class ReleaseChecker:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        outbox: Outbox,
        factory: MessageFactory,
        feed: Feed,
        store: ArtifactStore,
        artifact_url: Callable[[str], str],
        clock: Callable[[], datetime],
        retry_after_failure_s: int = 300,
        download_attempts: int = 3,
        progress_interval_s: float = 1.0,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.factory = factory
        self.feed = feed
        self.store = store
        self.clock = clock
        self.retry_after_failure_s = retry_after_failure_s
        self.downloads = PackageDownloads(
            engine=engine, outbox=outbox, factory=factory, store=store,
            artifact_url=artifact_url, clock=clock, download_attempts=download_attempts,
            progress_interval_s=progress_interval_s,
        )

    async def open(self) -> None:
        await self.downloads.open()

    async def close(self) -> None:
        await self.downloads.close()

    # --- scheduling -------------------------------------------------------------------

    async def check_all_at_start(self) -> None:
        async with self.engine.begin() as conn:
            await repository.make_all_due(conn, self.clock())

    async def run_due(self) -> int:
        """Claim every due check, refresh the feed once, check each claimed site."""
        now = self.clock()
        claimed: list[DueCheck] = []
        async with self.engine.begin() as conn:
            for due in await repository.due_checks(conn, now):
                next_at = now + timedelta(seconds=due.check_interval_s)
                if await repository.claim_check(conn, due, next_check_at=next_at):
                    claimed.append(due)
        if not claimed:
            return 0
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
        return len(claimed)

    # --- one site ---------------------------------------------------------------------

    async def check_site(self, due: DueCheck, snapshot: FeedSnapshot | FeedError) -> None:
        now = self.clock()
        site_id = due.site_id
        cause = Cause(due.correlation_id, due.causation_id)
        retry_at = now + timedelta(seconds=min(self.retry_after_failure_s, due.check_interval_s))
        jobs: list[Job] = []
        async with saving(self.engine, self.outbox, self.factory, cause) as (conn, out):
            if isinstance(snapshot, FeedError):
                await self._check_failed(conn, out, site_id, str(snapshot), now, retry_at)
                return
            try:
                entitlement = _entitlement(snapshot, due.license_key, now)
            except FeedError as exc:
                await self._check_failed(conn, out, site_id, str(exc), now, retry_at)
                return
            await repository.record_entitlement(
                conn, site_id, active=entitlement.active, valid_until=entitlement.valid_until,
                reason=entitlement.reason, checked_at=now,
            )
            out.append(EntitlementChecked(
                site_id=site_id, active=entitlement.active, valid_until=entitlement.valid_until,
                reason=entitlement.reason, checked_at=now,
            ))
            installed = await repository.installed_products(conn, site_id)
            jobs += self._site_version_packages(
                site_id, installed, snapshot, out, cause, retry_at
            )
            if entitlement.active:
                failures = await self._offer_next(
                    conn, out, site_id, installed, snapshot, cause, now, retry_at, jobs
                )
            else:  # R4: nothing is offered, the reason is visible per product
                failures = []
                await repository.set_all_products(
                    conn, site_id, status=NO_SUBSCRIPTION_STATUS, checked_at=now,
                    **{**_no_release(), "reason": entitlement.reason},
                )
            await repository.record_check(
                conn, site_id, checked_at=now, failure="; ".join(failures) or None,
                retry_at=retry_at if failures else None,
            )
        outcome = "failed" if failures else "ok" if entitlement.active else "no_subscription"
        metrics.RELEASE_CHECKS.labels(outcome).inc()
        # After the commit, so a download's events always follow this check's.
        for name, job in jobs:
            self.downloads.spawn(job(), name=name)

    async def _check_failed(
        self,
        conn: AsyncConnection,
        out: list[Message],
        site_id: str,
        reason: str,
        now: datetime,
        retry_at: datetime,
    ) -> None:
        await repository.record_check(conn, site_id, checked_at=now, failure=reason,
                                      retry_at=retry_at)
        out.append(ReleaseCheckFailed(site_id=site_id, reason=reason, checked_at=now))
        metrics.RELEASE_CHECKS.labels("failed").inc()

    def _site_version_packages(
        self,
        site_id: str,
        installed: dict[str, str],
        snapshot: FeedSnapshot,
        out: list[Message],
        cause: Cause,
        retry_at: datetime,
    ) -> list[Job]:
        """D10: the package of each installed version the catalogue lists: announced now if it
        is in the store, else downloaded (in the background) and announced then."""
        jobs: list[Job] = []
        for product, release in site_version_releases(installed, snapshot.catalogue):
            try:
                target = snapshot.package(release.package)
            except FeedError as exc:
                log.warning("site %s: %s", site_id, exc, extra={"site_id": site_id})
                continue
            if self.store.has(target.sha256, target.size):
                out.append(SiteVersionPackageReady(
                    site_id=site_id,
                    package=self.downloads.package_ref(product, release.version, target),
                ))
            else:
                jobs.append((
                    f"site-version download {site_id} {product} {release.version}",
                    partial(self.downloads.site_version, site_id, product, release.version,
                            target, cause, retry_at),
                ))
        return jobs

    async def _offer_next(
        self,
        conn: AsyncConnection,
        out: list[Message],
        site_id: str,
        installed: dict[str, str],
        snapshot: FeedSnapshot,
        cause: Cause,
        now: datetime,
        retry_at: datetime,
        jobs: list[Job],
    ) -> list[str]:
        """R5-R8 for every installed product (downloads to start go to ``jobs``); the
        failures' reasons."""
        failures: list[str] = []
        for outcome in plan_check(installed, snapshot.catalogue):
            if isinstance(outcome, UpToDate):
                await repository.set_product(
                    conn, site_id, outcome.product, status="up-to-date", checked_at=now,
                    **_no_release(),
                )
                out.append(ReleaseUpToDate(site_id=site_id, product=outcome.product,
                                           installed_version=outcome.installed_version,
                                           checked_at=now))
                continue
            try:
                target = snapshot.package(outcome.release.package)
            except FeedError as exc:
                failures.append(str(exc))
                await self.downloads.failed(conn, out, site_id, outcome, str(exc), now)
                continue
            fields = _release_fields(outcome, target)
            if self.store.has(target.sha256, target.size):
                await repository.set_product(
                    conn, site_id, outcome.product, status="downloaded", checked_at=now,
                    received_bytes=target.size, **fields,
                )
                out.extend(self.downloads.downloaded(site_id, outcome, target))
                continue
            partial_file = self.store.partial_path(target.sha256)
            await repository.set_product(
                conn, site_id, outcome.product, status="downloading", checked_at=now,
                received_bytes=partial_file.stat().st_size if partial_file.exists() else 0,
                **fields,
            )
            release = outcome.release
            out.append(ReleaseAvailable(
                site_id=site_id, product=outcome.product, version=release.version,
                notes_url=release.notes_url, size=target.size,
                requires_confirmation_code=release.requires_confirmation_code,
                min_platform_version=release.min_platform_version,
            ))
            jobs.append((
                f"download {site_id} {outcome.product} {release.version}",
                partial(self.downloads.next_release, site_id, outcome, target, cause, retry_at),
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

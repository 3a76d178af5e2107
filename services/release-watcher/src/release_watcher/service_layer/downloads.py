"""Package downloads (R6, D10): resumable, verified against TUF, announced when they count.

Each download runs as its own task, so a long download never holds up the checks of other
sites. One download per package at a time (sites sharing a package wait for the first one and
then find it in the store). Its events carry the correlation of the check that started it.

The bytes come through the ``PackageSource`` adapter (``bootstrap`` opens its HTTP client; the
service closes it on stop). ``stop``, once the service's loops stopped, cancels the running
downloads (their partial files stay, to be resumed at the next check).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lockstep_shared import metrics
from lockstep_shared.artifacts import ArtifactRejected, ArtifactUnavailable, Progress
from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    Message,
    PackageRef,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    SiteVersionPackageReady,
)
from lockstep_shared.unit_of_work import Tx, UnitOfWork
from release_watcher.adapters import repository
from release_watcher.adapters.package_source import PackageSource
from release_watcher.domain.feed import PackageTarget
from release_watcher.domain.releases import NextRelease
from release_watcher.domain.sites import DueCheck

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DownloadFailure:
    reason: str
    refused: bool = False  # the bytes did not match their signed hash: never offered


class PackageDownloads:
    def __init__(
        self,
        *,
        uow: UnitOfWork,
        source: PackageSource,
        artifact_url: Callable[[str], str],
        clock: Callable[[], datetime],
        progress_interval_s: float = 1.0,
    ) -> None:
        self.uow = uow
        self.source = source
        self.artifact_url = artifact_url
        self.clock = clock
        self.progress_interval_s = progress_interval_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        """Stop running downloads (their partial files stay, to be resumed)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def launch(self, name: str, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``job()`` as its own task (a check calls this after its commit)."""
        task = asyncio.create_task(self._guarded(job(), name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until no download runs (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @staticmethod
    async def _guarded(job: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await job
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed", name)

    # --- events -----------------------------------------------------------------------

    def package_ref(self, product: str, version: str, target: PackageTarget) -> PackageRef:
        return PackageRef(
            product=product,
            version=version,
            sha256=target.sha256,
            size=target.size,
            url=self.artifact_url(target.sha256),
            target=target.path,
        )

    def downloaded(
        self, site_id: str, outcome: NextRelease, target: PackageTarget
    ) -> list[Message]:
        release = outcome.release
        messages: list[Message] = [
            ReleaseDownloaded(
                site_id=site_id,
                product=outcome.product,
                version=release.version,
                notes_url=release.notes_url,
                requires_confirmation_code=release.requires_confirmation_code,
                min_platform_version=release.min_platform_version,
                package=self.package_ref(outcome.product, release.version, target),
            )
        ]
        if release.requires_confirmation_code:
            messages.append(ConfirmationCodeRequired(
                site_id=site_id, product=outcome.product, version=release.version
            ))
        return messages

    async def failed(
        self, tx: Tx, site_id: str, outcome: NextRelease, reason: str, now: datetime, *,
        refused: bool = False,
    ) -> None:
        await repository.set_product(tx.conn, site_id, outcome.product, status="failed",
                                     reason=reason, checked_at=now)
        tx.emit(ReleaseCheckFailed(site_id=site_id, product=outcome.product, reason=reason,
                                   checked_at=now, refused=refused))

    def _begin(self, check: DueCheck) -> AbstractAsyncContextManager[Tx]:
        """A unit of work whose events carry the correlation of the check that started us."""
        return self.uow.begin(correlation_id=check.correlation_id,
                              causation_id=check.causation_id)

    # --- the next release (R6) --------------------------------------------------------

    async def next_release(
        self, check: DueCheck, outcome: NextRelease, target: PackageTarget, retry_at: datetime
    ) -> None:
        site_id = check.site_id
        product, version = outcome.product, outcome.release.version
        last_report = 0.0

        async def progress(received: int, total: int) -> None:
            nonlocal last_report
            if time.monotonic() - last_report < self.progress_interval_s:
                return
            last_report = time.monotonic()
            async with self._begin(check) as tx:
                await repository.set_product(tx.conn, site_id, product, received_bytes=received)
                tx.emit(ReleaseDownloadProgressed(
                    site_id=site_id, product=product, version=version,
                    received_bytes=received, total_bytes=total,
                ))

        failure = await self._fetch_verified(target, f"package {product} {version}", progress)
        now = self.clock()
        async with self._begin(check) as tx:
            if failure is None:
                await repository.set_product(tx.conn, site_id, product, status="downloaded",
                                             received_bytes=target.size, reason=None)
                tx.emit(*self.downloaded(site_id, outcome, target))
            else:
                log.warning("%s", failure.reason, extra={"site_id": site_id})
                await self.failed(tx, site_id, outcome, failure.reason, now,
                                  refused=failure.refused)
                await repository.record_check(tx.conn, site_id, checked_at=now,
                                              failure=failure.reason, retry_at=retry_at)
        if failure is not None:  # the check that started this download failed after all
            metrics.RELEASE_CHECKS.labels("failed").inc()

    # --- the site's own version (D10) -------------------------------------------------

    async def site_version(
        self,
        check: DueCheck,
        product: str,
        version: str,
        target: PackageTarget,
        retry_at: datetime,
    ) -> None:
        """Fetch the package of the version the site runs; announce it once verified. A
        failure is recorded on the site and retried soon, without touching the next release's
        state (the site's banner is about what comes next, not about this)."""
        site_id = check.site_id
        label = f"package of the site's installed {product} {version}"
        failure = await self._fetch_verified(target, label, None)
        now = self.clock()
        async with self._begin(check) as tx:
            if failure is None:
                tx.emit(SiteVersionPackageReady(
                    site_id=site_id, package=self.package_ref(product, version, target)
                ))
            else:
                log.warning("%s", failure.reason, extra={"site_id": site_id})
                await repository.record_check(tx.conn, site_id, checked_at=now,
                                              failure=failure.reason, retry_at=retry_at)
        if failure is not None:
            metrics.RELEASE_CHECKS.labels("failed").inc()

    # --- fetching ---------------------------------------------------------------------

    async def _fetch_verified(self, target: PackageTarget, label: str,
                              progress: Progress | None) -> DownloadFailure | None:
        """Download and verify the target into the store; None, or why it did not work."""
        lock = self._locks.setdefault(target.sha256, asyncio.Lock())
        async with lock:
            try:
                await self.source.fetch(target, progress)
            except ArtifactRejected as exc:
                return DownloadFailure(f"{label} is corrupt and was discarded: {exc}",
                                       refused=True)
            except ArtifactUnavailable as exc:
                return DownloadFailure(f"download of {label} did not complete: {exc}; it "
                                       "resumes at the next check")
            except OSError as exc:
                return DownloadFailure(f"{label} could not be stored: {exc}")
        return None

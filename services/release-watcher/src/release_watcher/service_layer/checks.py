"""A release check (R3-R7): refresh the feed, decide per product, download, announce.

Every outcome is saved with its events in one transaction (state + outbox rows), then the
relay publishes. A check is claimed before it runs, so replicas never check a site twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from lockstep_shared.artifacts import ArtifactRejected, ArtifactStore, ArtifactUnavailable
from lockstep_shared.catalogue import (
    ConfirmationCodeRequired,
    Message,
    PackageRef,
    ReleaseAvailable,
    ReleaseCheckFailed,
    ReleaseDownloaded,
    ReleaseDownloadProgressed,
    ReleaseUpToDate,
)
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from release_watcher.adapters import repository
from release_watcher.adapters.feed import FeedError, FeedSnapshot, PackageTarget
from release_watcher.adapters.repository import DueCheck
from release_watcher.domain.releases import NextRelease, UpToDate, plan_check
from release_watcher.service_layer.events import Cause, envelope

log = logging.getLogger(__name__)


class Feed(Protocol):
    async def snapshot(self) -> FeedSnapshot: ...


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
        self.artifact_url = artifact_url
        self.clock = clock
        self.retry_after_failure_s = retry_after_failure_s
        self.download_attempts = download_attempts
        self.progress_interval_s = progress_interval_s
        self.http: httpx.AsyncClient | None = None
        self._downloading: dict[str, asyncio.Lock] = {}

    async def open(self) -> None:
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None

    @asynccontextmanager
    async def _saving(self, cause: Cause) -> AsyncIterator[tuple[AsyncConnection, list[Message]]]:
        """One transaction: yield the connection and a list of events to send with it."""
        messages: list[Message] = []
        async with self.engine.begin() as conn:
            yield conn, messages
            await self.outbox.add(conn, [envelope(self.factory, m, cause) for m in messages])
        if messages:
            self.outbox.committed()

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
            snapshot = await self.feed.snapshot()
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
        downloads: list[tuple[NextRelease, PackageTarget]] = []
        async with self._saving(cause) as (conn, out):
            if isinstance(snapshot, FeedError):
                await repository.record_check(
                    conn, site_id, checked_at=now, failure=str(snapshot), retry_at=retry_at
                )
                out.append(ReleaseCheckFailed(site_id=site_id, reason=str(snapshot),
                                              checked_at=now))
                return
            failures: list[str] = []
            installed = await repository.installed_products(conn, site_id)
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
                    await self._failed(conn, out, site_id, outcome, str(exc), now)
                    continue
                fields = _release_fields(outcome, target)
                if self.store.has(target.sha256, target.size):
                    await repository.set_product(
                        conn, site_id, outcome.product, status="downloaded", checked_at=now,
                        received_bytes=target.size, **fields,
                    )
                    out.extend(self._downloaded(site_id, outcome, target))
                else:
                    partial = self.store.partial_path(target.sha256)
                    await repository.set_product(
                        conn, site_id, outcome.product, status="downloading", checked_at=now,
                        received_bytes=partial.stat().st_size if partial.exists() else 0,
                        **fields,
                    )
                    out.append(ReleaseAvailable(
                        site_id=site_id, product=outcome.product,
                        version=outcome.release.version, notes_url=outcome.release.notes_url,
                        size=target.size,
                        requires_confirmation_code=outcome.release.requires_confirmation_code,
                    ))
                    downloads.append((outcome, target))
            await repository.record_check(
                conn, site_id, checked_at=now, failure="; ".join(failures) or None,
                retry_at=retry_at if failures else None,
            )
        for outcome, target in downloads:
            await self._download(site_id, outcome, target, cause, retry_at)

    async def _failed(
        self,
        conn: AsyncConnection,
        out: list[Message],
        site_id: str,
        outcome: NextRelease,
        reason: str,
        now: datetime,
    ) -> None:
        await repository.set_product(conn, site_id, outcome.product, status="failed",
                                     reason=reason, checked_at=now)
        out.append(ReleaseCheckFailed(site_id=site_id, product=outcome.product, reason=reason,
                                      checked_at=now))

    def _downloaded(
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
                package=PackageRef(
                    product=outcome.product,
                    version=release.version,
                    sha256=target.sha256,
                    size=target.size,
                    url=self.artifact_url(target.sha256),
                ),
            )
        ]
        if release.requires_confirmation_code:
            messages.append(ConfirmationCodeRequired(
                site_id=site_id, product=outcome.product, version=release.version
            ))
        return messages

    # --- downloading (R6) -------------------------------------------------------------

    async def _download(
        self,
        site_id: str,
        outcome: NextRelease,
        target: PackageTarget,
        cause: Cause,
        retry_at: datetime,
    ) -> None:
        product, version = outcome.product, outcome.release.version
        last_report = 0.0

        async def progress(received: int, total: int) -> None:
            nonlocal last_report
            if time.monotonic() - last_report < self.progress_interval_s:
                return
            last_report = time.monotonic()
            async with self._saving(cause) as (conn, out):
                await repository.set_product(conn, site_id, product, received_bytes=received)
                out.append(ReleaseDownloadProgressed(
                    site_id=site_id, product=product, version=version,
                    received_bytes=received, total_bytes=total,
                ))

        reason: str | None = None
        lock = self._downloading.setdefault(target.sha256, asyncio.Lock())
        async with lock:
            try:
                await self._fetch(target, progress)
            except ArtifactRejected as exc:
                reason = f"package {product} {version} is corrupt and was discarded: {exc}"
            except ArtifactUnavailable as exc:
                reason = (f"download of {product} {version} did not complete: {exc}; "
                          "it resumes at the next check")
            except OSError as exc:
                reason = f"package {product} {version} could not be stored: {exc}"
        now = self.clock()
        async with self._saving(cause) as (conn, out):
            if reason is None:
                await repository.set_product(conn, site_id, product, status="downloaded",
                                             received_bytes=target.size, reason=None)
                out.extend(self._downloaded(site_id, outcome, target))
            else:
                log.warning("%s", reason, extra={"site_id": site_id})
                await self._failed(conn, out, site_id, outcome, reason, now)
                await repository.record_check(conn, site_id, checked_at=now, failure=reason,
                                              retry_at=retry_at)

    async def _fetch(self, target: PackageTarget, progress: Any) -> None:
        if self.store.has(target.sha256, target.size):
            return  # another site's check fetched it meanwhile
        if self.http is None:
            await self.open()
        assert self.http is not None
        for attempt in range(1, self.download_attempts + 1):
            try:
                await self.store.download(
                    self.http, target.url, target.sha256, target.size, progress=progress
                )
                return
            except ArtifactUnavailable:
                if attempt == self.download_attempts:
                    raise
                await asyncio.sleep(0.2 * attempt)


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

"""The one place the release-watcher is wired together: ``build`` constructs every adapter,
the unit of work, the subscriptions, the loops and the routes, and returns the ``Service``.

Loops: the outbox relay, inbox retention and ``release-watcher-checks`` (R3: at start, every
``scheduler_poll_s`` for sites whose ``next_check_at`` came, and at once when a consumer made a
site due). Once the loops stopped, the running package downloads are cancelled (their partial
files stay, to be resumed) and the package source's HTTP client is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.loops import Loop
from lockstep_shared.message_factory import new_id, utcnow
from lockstep_shared.service import Service
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.storage import service_storage
from release_watcher.adapters import tables
from release_watcher.adapters.feed import TufFeed
from release_watcher.adapters.package_source import PackageSource
from release_watcher.entrypoints.api import watcher_router
from release_watcher.entrypoints.consumers import consumers
from release_watcher.service_layer.checks import ReleaseChecker
from release_watcher.service_layer.downloads import PackageDownloads
from release_watcher.service_layer.sites import SiteHandlers
from release_watcher.service_layer.views import SiteViews
from release_watcher.settings import WatcherSettings

SERVICE = "release-watcher"
SCHEMA = "release_watcher"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class Handlers:
    """The service layer as ``build`` wired it."""

    checker: ReleaseChecker
    downloads: PackageDownloads
    sites: SiteHandlers


@dataclass
class WatcherService(Service):
    """The release-watcher's ``Service``; ``handlers`` is for the tests (the routes,
    subscriptions and loops already hold what they use)."""

    handlers: Handlers = field(kw_only=True)


def build(
    common: LockstepSettings,
    settings: WatcherSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    ids: Callable[[], str] = new_id,
) -> WatcherService:
    storage = service_storage(common, bus, service=SERVICE, schema=SCHEMA, database=SCHEMA,
                              outbox=tables.outbox, inbox=tables.inbox, clock=clock, ids=ids)
    engine, uow = storage.engine, storage.uow
    store = ArtifactStore(settings.artifacts_path(common))
    feed = TufFeed(
        trusted_root=settings.trusted_root,
        metadata_dir=settings.metadata_path(common),
        metadata_url=settings.metadata_url,
        targets_url=settings.targets_url,
    )
    source = PackageSource(store, attempts=settings.download_attempts)
    downloads = PackageDownloads(
        uow=uow, source=source, artifact_url=settings.artifact_url, clock=clock,
    )
    checker = ReleaseChecker(
        uow=uow, feed=feed, store=store, downloads=downloads, clock=clock,
        retry_after_failure_s=settings.retry_after_failure_s,
    )
    checks = Loop(f"{SERVICE}-checks", checker.round, every_s=settings.scheduler_poll_s)
    sites = SiteHandlers(clock=clock, wake_checker=checks.wake)
    return WatcherService(
        name=SERVICE,
        engine=engine,
        bus=bus,
        schema=SCHEMA,
        migrations=MIGRATIONS,
        routers=[watcher_router(store, SiteViews(engine).site,
                              internal_token=settings.internal_token or common.internal_token)],
        subscriptions=[consumers(uow, sites)],
        loops=[*storage.loops, checks],
        on_start=[checker.make_all_due, checks.wake],  # every site is checked at start
        on_close=[downloads.stop, source.close],
        uow=uow,
        handlers=Handlers(checker=checker, downloads=downloads, sites=sites),
    )

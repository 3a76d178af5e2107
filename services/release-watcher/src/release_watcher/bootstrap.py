"""The one place the release-watcher is wired together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.db import create_engine
from lockstep_shared.messages import MessageFactory, utcnow
from lockstep_shared.migrations import migrate
from lockstep_shared.outbox import Outbox, OutboxRelay
from lockstep_shared.settings import LockstepSettings
from release_watcher.adapters import repository
from release_watcher.adapters.feed import TufFeed
from release_watcher.adapters.tables import outbox as outbox_table
from release_watcher.entrypoints import consumers
from release_watcher.entrypoints.api import build_router
from release_watcher.entrypoints.scheduler import CheckScheduler
from release_watcher.service_layer.checks import Feed, ReleaseChecker
from release_watcher.service_layer.events import SERVICE
from release_watcher.service_layer.site_config import SiteConfigHandlers
from release_watcher.settings import WatcherSettings

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "release_watcher"


class WatcherService:
    """The release-watcher as a ``lockstep_shared.runtime.Service``."""

    name = SERVICE

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        bus: Bus,
        settings: WatcherSettings,
        store: ArtifactStore,
        feed: Feed,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.settings = settings
        self.store = store
        self.outbox = Outbox(outbox_table)
        self.relay = OutboxRelay(engine, self.outbox, bus, service="release-watcher")
        self.factory = MessageFactory(SERVICE, clock=clock)
        self.checker = ReleaseChecker(
            engine=engine,
            outbox=self.outbox,
            factory=self.factory,
            feed=feed,
            store=store,
            artifact_url=settings.artifact_url,
            clock=clock,
            retry_after_failure_s=settings.retry_after_failure_s,
            download_attempts=settings.download_attempts,
        )
        self.scheduler = CheckScheduler(self.checker, poll_s=settings.scheduler_poll_s)
        self.handlers = SiteConfigHandlers(outbox=self.outbox, factory=self.factory, clock=clock)
        self._router = build_router(store, self.site_view)

    def routers(self) -> Sequence[APIRouter]:
        return [self._router]

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SCHEMA)

    async def start(self) -> None:
        await self.checker.open()
        self.relay.start()
        await consumers.subscribe(
            self.bus, self.engine, self.outbox, self.handlers, self.scheduler.wake
        )
        await self.checker.check_all_at_start()
        self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.relay.stop()
        await self.checker.close()
        await self.engine.dispose()

    async def ready(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def site_view(self, site_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            return await repository.site_view(conn, site_id)


def build(
    common: LockstepSettings,
    settings: WatcherSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> WatcherService:
    engine = create_engine(common.database_url_for(SCHEMA), schema=SCHEMA)
    store = ArtifactStore(settings.artifacts_path(common))
    feed = TufFeed(
        trusted_root=settings.trusted_root,
        metadata_dir=settings.metadata_path(common),
        metadata_url=settings.metadata_url,
        targets_url=settings.targets_url,
    )
    return WatcherService(
        engine=engine, bus=bus, settings=settings, store=store, feed=feed, clock=clock
    )

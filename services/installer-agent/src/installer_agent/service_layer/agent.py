"""The installer agent as a ``Service``: no HTTP routes of its own (health only)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from installer_agent.adapters.site_lock import SiteLock
from installer_agent.service_layer.heartbeat import Heartbeat
from installer_agent.service_layer.worker import InstallWorker
from lockstep_shared.bus.port import Bus, Handler
from lockstep_shared.catalogue import InstallRequested, binding
from lockstep_shared.migrations import migrate
from lockstep_shared.outbox import OutboxRelay

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCHEMA = "installer_agent"


class AgentService:
    name = "installer-agent"

    def __init__(
        self,
        *,
        site_id: str,
        engine: AsyncEngine,
        bus: Bus,
        relay: OutboxRelay,
        worker: InstallWorker,
        heartbeat: Heartbeat,
        handler: Handler,
        site_lock: SiteLock,
    ) -> None:
        self.site_id = site_id
        self.engine = engine
        self.bus = bus
        self.relay = relay
        self.worker = worker
        self.heartbeat = heartbeat
        self.handler = handler
        self.site_lock = site_lock

    @property
    def queue(self) -> str:
        return f"installer-agent.{self.site_id}"

    @property
    def bindings(self) -> list[str]:
        """Only this site's install commands (S3)."""
        return [binding(InstallRequested, self.site_id)]

    def routers(self) -> Sequence[APIRouter]:
        return ()

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SCHEMA)

    async def start(self) -> None:
        await self.site_lock.acquire()
        interrupted = await self.worker.report_interrupted()
        if interrupted:
            log.error("%d install(s) interrupted by the last agent stop were reported", interrupted)
        self.relay.start()
        await self.bus.subscribe(self.queue, self.bindings, self.handler, prefetch=100)
        self.worker.start()
        self.heartbeat.start()
        log.info("installer agent for site %s started", self.site_id,
                 extra={"site_id": self.site_id})

    async def stop(self) -> None:
        await self.heartbeat.stop()
        await self.worker.stop()
        await self.relay.stop()
        await self.site_lock.release()
        await self.engine.dispose()

    async def ready(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return self.worker.running

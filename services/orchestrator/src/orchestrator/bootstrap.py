"""The one place the orchestrator is wired: engine, repositories, handlers, routes, consumer,
outbox relay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.port import Bus
from lockstep_shared.db import create_engine
from lockstep_shared.envelope import Envelope
from lockstep_shared.messages import new_id, utcnow
from lockstep_shared.migrations import migrate
from lockstep_shared.outbox import OutboxRelay
from lockstep_shared.settings import LockstepSettings
from orchestrator.entrypoints.api import admin_router
from orchestrator.entrypoints.api_operations import operations_router
from orchestrator.entrypoints.auth import Guard, accounts_router
from orchestrator.entrypoints.console import console_router
from orchestrator.entrypoints.consumers import BINDINGS, QUEUE, orchestrator_consumer
from orchestrator.service_layer.accounts import AccountHandlers
from orchestrator.service_layer.context import SERVICE, Context
from orchestrator.service_layer.devices import DeviceHandlers
from orchestrator.service_layer.fleet_metrics import FleetMetrics
from orchestrator.service_layer.sites import SiteHandlers
from orchestrator.service_layer.support import SupportReports
from orchestrator.service_layer.updates import UpdateHandlers
from orchestrator.service_layer.views import Views
from orchestrator.settings import OrchestratorSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class OrchestratorService:
    name = SERVICE

    def __init__(self, ctx: Context, bus: Bus) -> None:
        self.ctx = ctx
        self.bus = bus
        self.engine: AsyncEngine = ctx.engine
        self.sites = SiteHandlers(ctx)
        self.updates = UpdateHandlers(ctx)
        self.views = Views(ctx)
        self.accounts = AccountHandlers(ctx)
        self.devices = DeviceHandlers(ctx)
        self.reports = SupportReports(ctx)
        self.handle = orchestrator_consumer(ctx, self.updates)
        self.relay = OutboxRelay(ctx.engine, ctx.outbox, bus, service=SERVICE)
        self.fleet_metrics = FleetMetrics(ctx.engine)
        guard = Guard(self.accounts, self.views)
        self._routers = [
            accounts_router(self.accounts, guard),
            admin_router(self.sites, self.updates, self.views, guard,
                         self.accounts.password_matches),
            operations_router(self.devices, self.reports, self.views, guard),
        ]

    def routers(self) -> Sequence[APIRouter]:
        return [*self._routers, console_router(self.views, self.accounts.authenticate)]

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SERVICE)

    async def start(self) -> None:
        self.relay.start()
        self.reports.start()
        self.fleet_metrics.start()
        await self.bus.subscribe(QUEUE, BINDINGS, self._handle,
                                 prefetch=self.ctx.settings.prefetch)

    async def _handle(self, envelope: Envelope) -> None:
        await self.handle(envelope)

    async def stop(self) -> None:
        self.fleet_metrics.stop()
        await self.reports.stop()
        await self.relay.stop()
        await self.engine.dispose()

    async def ready(self) -> bool:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True


def build(
    common: LockstepSettings,
    settings: OrchestratorSettings,
    bus: Bus,
    *,
    clock: Callable[[], datetime] = utcnow,
    ids: Callable[[], str] = new_id,
) -> OrchestratorService:
    engine = create_engine(common.database_url_for(SERVICE), schema=SERVICE,
                           pool_size=settings.db_pool_size, max_overflow=0)
    return OrchestratorService(Context(engine, settings, clock=clock, ids=ids), bus)

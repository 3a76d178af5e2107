"""The one place the gateway is wired: engine, outbox relay, bus subscriptions, routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from device_gateway.adapters import tables
from device_gateway.entrypoints import consumers
from device_gateway.entrypoints.api import device_router
from device_gateway.entrypoints.internal_api import internal_router
from device_gateway.metrics import CONNECTED_DEVICES
from device_gateway.service_layer.auth import DeviceAuthenticator
from device_gateway.service_layer.codes import CodeExchanges
from device_gateway.service_layer.devices import DeviceRequests
from device_gateway.service_layer.packages import PackageCache
from device_gateway.service_layer.push import PushChannel
from device_gateway.service_layer.sweeper import DeliverySweeper
from device_gateway.settings import GatewaySettings
from lockstep_shared import metrics
from lockstep_shared.artifacts import ArtifactStore
from lockstep_shared.bus.port import Bus
from lockstep_shared.db import create_engine
from lockstep_shared.messages import MessageFactory, utcnow
from lockstep_shared.migrations import migrate
from lockstep_shared.outbox import Outbox, OutboxRelay
from lockstep_shared.settings import LockstepSettings

log = logging.getLogger(__name__)

SERVICE = "device-gateway"
SCHEMA = "device_gateway"
MIGRATIONS = Path(__file__).parent / "migrations"


class GatewayService:
    name = SERVICE

    def __init__(self, common: LockstepSettings, settings: GatewaySettings, bus: Bus, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.engine = create_engine(common.database_url_for(SERVICE), schema=SCHEMA,
                                    pool_size=settings.db_pool_size, max_overflow=0)
        self.outbox = Outbox(tables.outbox)
        self.relay = OutboxRelay(self.engine, self.outbox, bus, service=SERVICE)
        self.messages = MessageFactory(SERVICE, clock=clock)
        self.auth = DeviceAuthenticator(self.engine, ttl_s=settings.token_cache_ttl_s)
        self.requests = DeviceRequests(self.engine, self.outbox, self.messages, self.auth, clock)
        self.codes = CodeExchanges(self.engine, self.outbox, self.messages, clock)
        self.push = PushChannel(self.engine, clock, long_poll_max_s=settings.long_poll_max_s)
        self.sweeper = DeliverySweeper(self.engine, self.outbox, self.messages, clock,
                                       deadline_s=settings.delivery_deadline_s,
                                       interval_s=settings.sweep_interval_s)
        artifacts_dir = settings.artifacts_dir or common.var_dir / "artifacts"
        self.packages = PackageCache(ArtifactStore(artifacts_dir))
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    def routers(self) -> Sequence[APIRouter]:
        return [device_router(self), internal_router(self)]

    async def migrate(self) -> None:
        await migrate(self.engine, MIGRATIONS, SCHEMA)

    async def start(self) -> None:
        self.relay.start()
        self.sweeper.start()
        await consumers.subscribe(self)
        metrics.register_refresher(self._refresh_metrics)
        self._started = True

    async def stop(self) -> None:
        self._started = False
        metrics.unregister_refresher(self._refresh_metrics)
        self.push.close()
        for task in list(self._tasks):
            task.cancel()
        await self.sweeper.stop()
        await self.packages.stop()
        await self.relay.stop()
        await self.engine.dispose()

    async def ready(self) -> bool:
        if not self._started:
            return False
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def _refresh_metrics(self) -> None:
        CONNECTED_DEVICES.set(len(self.push.waiting))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a wake-up in the background, kept referenced until it ends."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())


def build(common: LockstepSettings, settings: GatewaySettings, bus: Bus) -> GatewayService:
    return GatewayService(common, settings, bus)

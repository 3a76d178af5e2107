"""Delivery deadline (D2): a notification not acknowledged in time is reported once as
``DeviceNotificationNotDelivered``. One UPDATE … RETURNING per round claims the overdue rows, so
two replicas sweeping at once never report one twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from device_gateway.adapters import notifications_repository
from device_gateway.domain.notifications import not_delivered_reason
from lockstep_shared.catalogue import DeviceNotificationNotDelivered
from lockstep_shared.envelope import wrap
from lockstep_shared.messages import MessageFactory
from lockstep_shared.outbox import Outbox

log = logging.getLogger(__name__)


class DeliverySweeper:
    def __init__(self, engine: AsyncEngine, outbox: Outbox, messages: MessageFactory,
                 clock: Callable[[], datetime], *, deadline_s: float, interval_s: float = 1.0,
                 batch: int = 500) -> None:
        self.engine = engine
        self.outbox = outbox
        self.messages = messages
        self.clock = clock
        self.deadline = timedelta(seconds=deadline_s)
        self.interval_s = interval_s
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> int:
        """One round; how many notifications were reported not delivered."""
        now = self.clock()
        async with self.engine.begin() as conn:
            rows = await notifications_repository.claim_overdue(
                conn, now - self.deadline, now, self.batch)
            envelopes = [
                wrap(DeviceNotificationNotDelivered(
                        site_id=r.site_id, update_id=r.update_id, serial=r.serial, kind=r.kind,
                        reason=not_delivered_reason(r.sent_at)),
                     id=self.messages.ids(), source=self.messages.source, time=now,
                     correlation_id=r.correlation_id, causation_id=r.cause_id)
                for r in rows
            ]
            await self.outbox.add(conn, envelopes)
        if envelopes:
            self.outbox.committed()
        return len(envelopes)

    async def run(self) -> None:
        while True:
            try:
                while await self.sweep() == self.batch:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery sweep failed; retrying")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="delivery-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

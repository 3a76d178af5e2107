"""Delivery deadline (D2): a notification not acknowledged in time is reported once as
``DeviceNotificationNotDelivered``, correlated with the request that asked for it. One
UPDATE … RETURNING per round claims the overdue rows, so two replicas sweeping at once never
report one twice. Runs as a ``Loop`` (``bootstrap``): ``round`` is one batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from device_gateway.adapters import notifications_repository
from device_gateway.domain.notifications import not_delivered_reason
from lockstep_shared.catalogue import DeviceNotificationNotDelivered
from lockstep_shared.unit_of_work import UnitOfWork


class DeliverySweeper:
    def __init__(self, uow: UnitOfWork, clock: Callable[[], datetime], *, deadline_s: float,
                 batch: int = 500) -> None:
        self.uow = uow
        self.clock = clock
        self.deadline = timedelta(seconds=deadline_s)
        self.batch = batch

    async def sweep(self) -> int:
        """One batch; how many notifications were reported not delivered."""
        now = self.clock()
        async with self.uow.begin() as tx:
            overdue = await notifications_repository.claim_overdue(
                tx.conn, now - self.deadline, now, self.batch)
            for notification in overdue:
                tx.emit(DeviceNotificationNotDelivered(
                            site_id=notification.site_id, update_id=notification.update_id,
                            serial=notification.serial, kind=notification.kind,
                            reason=not_delivered_reason(notification.sent_at)),
                        correlation_id=notification.correlation_id,
                        causation_id=notification.cause_id)
        return len(overdue)

    async def round(self) -> bool:
        """A full batch: there may be more overdue at once."""
        return await self.sweep() == self.batch

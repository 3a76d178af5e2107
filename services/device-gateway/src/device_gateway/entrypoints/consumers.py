"""Bus subscriptions: the durable ``device-gateway`` queue and the per-process wake-up."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters import tables
from device_gateway.service_layer import site_events
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    DeviceNotificationsQueued,
    binding,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import idempotent

if TYPE_CHECKING:
    from device_gateway.bootstrap import GatewayService

log = logging.getLogger(__name__)

QUEUE = "device-gateway"


async def subscribe(service: GatewayService) -> None:
    async def effect(conn: AsyncConnection, envelope: Envelope) -> None:
        await site_events.apply(conn, envelope, service.clock(), outbox=service.outbox,
                                messages=service.messages)

    once = idempotent(service.engine, tables.inbox, QUEUE, effect, outbox=service.outbox)

    async def handle(envelope: Envelope) -> None:
        await once(envelope)
        message = envelope.data
        # after commit (also for a duplicate: waking twice is harmless)
        if isinstance(message, DeviceNotificationRequested):
            # this replica at once; every replica (this one too) on DeviceNotificationsQueued
            await service.push.wake_site(message.site_id, serials=message.serials)
        elif isinstance(message, DeviceDisabled | DeviceEnabled):
            service.auth.forget_device(message.site_id, message.serial)
        package = site_events.package_to_fetch(message)
        if package is not None:
            service.packages.prefetch(package)

    async def wake(envelope: Envelope) -> None:
        """Sent by the replica that committed the rows, after its commit: they are there."""
        message = envelope.data
        if isinstance(message, DeviceNotificationsQueued):
            log.debug("waking long-polls of site %s", message.site_id,
                      extra=site_events.log_context(envelope))
            service.spawn(service.push.wake_site(message.site_id))

    await service.bus.subscribe(QUEUE, [binding(t) for t in site_events.CONSUMED], handle,
                                prefetch=200)
    await service.bus.subscribe_broadcast([binding(DeviceNotificationsQueued)], wake)

"""Bus subscriptions: the durable ``device-gateway`` queue and the per-process wake-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters import tables
from device_gateway.service_layer import site_events
from lockstep_shared.catalogue import (
    DeviceDisabled,
    DeviceEnabled,
    DeviceNotificationRequested,
    UpdateOpened,
    binding,
)
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import idempotent

if TYPE_CHECKING:
    from device_gateway.bootstrap import GatewayService

QUEUE = "device-gateway"


async def subscribe(service: GatewayService) -> None:
    async def effect(conn: AsyncConnection, envelope: Envelope) -> None:
        await site_events.apply(conn, envelope, service.clock())

    once = idempotent(service.engine, tables.inbox, QUEUE, effect, outbox=service.outbox)

    async def handle(envelope: Envelope) -> None:
        await once(envelope)
        message = envelope.data
        # after commit (also for a duplicate: waking twice is harmless)
        if isinstance(message, DeviceNotificationRequested):
            await service.push.wake_site(message.site_id, serials=message.serials)
        elif isinstance(message, UpdateOpened):
            service.packages.prefetch(site_events.package_of(message.package))
        elif isinstance(message, DeviceDisabled | DeviceEnabled):
            service.auth.forget_device(message.site_id, message.serial)

    async def wake(envelope: Envelope) -> None:
        message = envelope.data
        if isinstance(message, DeviceNotificationRequested):
            service.spawn(service.push.wake_site(
                message.site_id, request_id=message.request_id, serials=message.serials,
                retry=True))

    await service.bus.subscribe(QUEUE, [binding(t) for t in site_events.CONSUMED], handle,
                                prefetch=200)
    await service.bus.subscribe_broadcast([binding(DeviceNotificationRequested)], wake)

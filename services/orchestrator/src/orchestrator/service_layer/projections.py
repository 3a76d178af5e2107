"""Effects of the other services' events on our own tables: releases (→ banner) and the
device projection (→ grid, fleet summary). Each runs inside the consumer's idempotent
transaction; device events are one statement each."""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.catalogue import (
    DeviceBlocked,
    DeviceDataHandedIn,
    DeviceNotificationDelivered,
    DeviceNotificationNotDelivered,
    DeviceRegistered,
    DeviceUnblocked,
    DeviceVersionReported,
    EntitlementChecked,
    ReleaseCheckFailed,
)
from orchestrator.domain.releases import ReleaseEvent, apply_release_event
from orchestrator.domain.sites import Entitlement
from orchestrator.service_layer.context import Context

DeviceEvent: TypeAlias = (
    DeviceRegistered
    | DeviceNotificationDelivered
    | DeviceNotificationNotDelivered
    | DeviceBlocked
    | DeviceDataHandedIn
    | DeviceVersionReported
    | DeviceUnblocked
)


async def on_release_event(ctx: Context, conn: AsyncConnection, event: ReleaseEvent) -> None:
    if isinstance(event, ReleaseCheckFailed) and event.product is None:
        products = list(await ctx.sites.products(conn, event.site_id))
    else:
        products = [event.product]  # type: ignore[list-item]
    for product in sorted(products):
        await ctx.releases.lock(conn, event.site_id, product)
        current = await ctx.releases.get(conn, event.site_id, product)
        await ctx.releases.save(conn, apply_release_event(current, event, product), ctx.clock())


async def on_device_event(ctx: Context, conn: AsyncConnection, event: DeviceEvent) -> None:
    devices = ctx.devices
    match event:
        case DeviceRegistered():
            await devices.register(conn, event.site_id, event.serial, {
                "model": event.model, "operator_code": event.operator_code,
                "operator_name": event.operator_name, "operator_phone": event.operator_phone,
                "app_version": event.app_version,
                "notifications_enabled": event.notifications_enabled,
                "registered_at": event.registered_at,
            })
        case DeviceNotificationDelivered():
            await devices.notification_delivered(conn, event.site_id, event.serial,
                                                 event.update_id, event.kind)
        case DeviceNotificationNotDelivered():
            await devices.notification_not_delivered(conn, event.site_id, event.serial,
                                                     event.update_id, event.kind, event.reason)
        case DeviceBlocked() if event.by_code:
            await devices.blocked_by_code(conn, event.site_id, event.serial, event.update_id)
            await ctx.audit(conn, "device-gateway", "device.blocked_by_code",
                            site_id=event.site_id, update_id=event.update_id,
                            serial=event.serial)
        case DeviceBlocked():
            await devices.blocked(conn, event.site_id, event.serial, event.update_id)
        case DeviceUnblocked():
            how = "with codes" if event.by_code else "after ERROR UPDATE"
            await devices.unblocked(conn, event.site_id, event.serial, f"unblocked {how}")
            if event.by_code:
                await ctx.audit(conn, "device-gateway", "device.unblocked_by_code",
                                site_id=event.site_id, update_id=event.update_id,
                                serial=event.serial)
        case DeviceDataHandedIn():
            await devices.data_handed_in(conn, event.site_id, event.serial, event.update_id,
                                         event.synced_at)
        case DeviceVersionReported():
            await devices.version_reported(conn, event.site_id, event.serial,
                                           event.app_version)


async def on_entitlement(ctx: Context, conn: AsyncConnection, event: EntitlementChecked) -> None:
    """R4: the vendor's subscription answer for the site (the newest one counts)."""
    await ctx.entitlements.save(conn, event.site_id, Entitlement(
        event.active, event.valid_until, event.reason, event.checked_at))

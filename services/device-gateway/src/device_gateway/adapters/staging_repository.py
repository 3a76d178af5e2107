"""The gateway's SQL for staging (issue 14 §2): the release each site may stage, the per-site
download slots, and what each device staged. Core statements, one per step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters.repository import as_utc
from device_gateway.adapters.tables import devices, outbox, site_offers, staging_slots
from device_gateway.domain.staging import Slots
from device_gateway.domain.updates import Package
from lockstep_shared.db import DriverChange, DriverQuery, is_postgres, upsert


async def save_offer(conn: AsyncConnection, site_id: str, package: Package,
                     now: datetime) -> None:
    """The site downloaded and verified its next release of ``package.product``."""
    await conn.execute(upsert(conn, site_offers, ["site_id", "product"], {
        "site_id": site_id, "product": package.product, "version": package.version,
        "sha256": package.sha256, "size": package.size, "url": package.url, "updated_at": now,
    }))


async def lock_slots(conn: AsyncConnection, site_id: str) -> None:
    """Count and take a site's slots one device at a time (SQLite writers already are)."""
    if is_postgres(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                           {"k": f"device-gateway/staging/{site_id}"})


_LIVE_SLOTS = DriverQuery(
    select(staging_slots.c.serial, staging_slots.c.expires_at)
    .where(staging_slots.c.site_id == bindparam("site_id"),
           staging_slots.c.expires_at > bindparam("now", type_=staging_slots.c.expires_at.type)))


async def slots(conn: AsyncConnection, site_id: str, serial: str, now: datetime) -> Slots:
    """The site's live slots as ``serial`` sees them (on a reader: one query by the driver)."""
    rows = await _LIVE_SLOTS.all(conn, site_id=site_id, now=now)
    others = [as_utc(expires_at) for slot_serial, expires_at in rows if slot_serial != serial]
    return Slots(held=len(others) < len(rows), others=len(others),
                 next_free_at=min(others) if others else None)


async def take_slot(conn: AsyncConnection, site_id: str, serial: str,
                    expires_at: datetime) -> None:
    await conn.execute(upsert(conn, staging_slots, ["site_id", "serial"], {
        "site_id": site_id, "serial": serial, "expires_at": expires_at}))


async def free_slot(conn: AsyncConnection, site_id: str, serial: str) -> None:
    await conn.execute(delete(staging_slots).where(staging_slots.c.site_id == site_id,
                                                   staging_slots.c.serial == serial))


# the device's slot freed, alone (``UnitOfWork.change``): key_site_id, key_serial
FREE_SLOT = DriverChange(delete(staging_slots).where(
    staging_slots.c.site_id == bindparam("key_site_id"),
    staging_slots.c.serial == bindparam("key_serial")), outbox)


async def holds_slot(conn: AsyncConnection, site_id: str, serial: str, now: datetime) -> bool:
    return (await slots(conn, site_id, serial, now)).held


async def mark_staged(conn: AsyncConnection, site_id: str, serial: str, sha256: str) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(staged_sha256=sha256))

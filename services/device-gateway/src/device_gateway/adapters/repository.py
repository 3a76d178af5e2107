"""All of the gateway's SQL: Core statements selecting columns, one statement per step."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, and_, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters.tables import (
    code_exchanges,
    devices,
    notifications,
    site_packages,
    site_updates,
    sites,
)
from device_gateway.domain.updates import Package, Phase, SiteUpdate
from lockstep_shared.db import is_postgres, upsert

# --- sites --------------------------------------------------------------------------------


async def save_site(
    conn: AsyncConnection, site_id: str, enrolment_code_sha256: str,
    products: Sequence[dict[str, str]], now: datetime,
    device: tuple[str, str] | None = None,
) -> None:
    await conn.execute(upsert(conn, sites, ["site_id"], {
        "site_id": site_id, "enrolment_code_sha256": enrolment_code_sha256,
        "products": json.dumps(list(products)), "updated_at": now,
        "device_product": device[0] if device else None,
        "device_version": device[1] if device else None,
    }))


async def load_site(conn: AsyncConnection, site_id: str) -> tuple[str, list[dict[str, str]]] | None:
    row = (await conn.execute(
        select(sites.c.enrolment_code_sha256, sites.c.products).where(sites.c.site_id == site_id)
    )).first()
    return None if row is None else (row.enrolment_code_sha256, json.loads(row.products))


async def site_now_runs(conn: AsyncConnection, site_id: str, product: str, version: str,
                        now: datetime) -> None:
    """An update of ``product`` concluded: the site runs ``version`` (and so must its devices,
    when it is the device product)."""
    row = (await conn.execute(
        select(sites.c.products, sites.c.device_product).where(sites.c.site_id == site_id)
    )).first()
    if row is None:
        return
    products = [{**p, "version": version} if p["product"] == product else p
                for p in json.loads(row.products)]
    values: dict[str, Any] = {"products": json.dumps(products), "updated_at": now}
    if row.device_product == product:
        values["device_version"] = version
    await conn.execute(update(sites).where(sites.c.site_id == site_id).values(**values))


async def save_site_package(conn: AsyncConnection, site_id: str, package: Package,
                            now: datetime) -> None:
    await conn.execute(upsert(conn, site_packages, ["site_id", "product", "version"], {
        "site_id": site_id, "product": package.product, "version": package.version,
        "sha256": package.sha256, "size": package.size, "url": package.url, "updated_at": now,
    }))


# --- devices ------------------------------------------------------------------------------


async def device_by_token(conn: AsyncConnection, token_sha256: str) -> Any:
    return (await conn.execute(
        select(devices.c.site_id, devices.c.serial, devices.c.enabled)
        .where(devices.c.token_sha256 == token_sha256)
    )).first()


async def device_credentials(conn: AsyncConnection, site_id: str, serial: str) -> Any:
    return (await conn.execute(
        select(devices.c.token_sha256, devices.c.enabled)
        .where(devices.c.site_id == site_id, devices.c.serial == serial)
    )).first()


async def save_registration(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert the device, or rotate its token and secret and refresh what it reported."""
    await conn.execute(upsert(conn, devices, ["site_id", "serial"], values))


async def device_with_update(conn: AsyncConnection, site_id: str, serial: str) -> Any:
    """The device's columns a device rule needs, with its site's update and the package of
    its site's version (D10), in one query."""
    query = (
        select(devices.c.app_version, devices.c.admitted_update_id, devices.c.enabled,
               devices.c.blocked_update_id,
               site_updates.c.update_id, site_updates.c.phase, site_updates.c.product,
               site_updates.c.version, site_updates.c.sha256, site_updates.c.size,
               site_updates.c.url,
               sites.c.device_version.label("site_device_version"),
               site_packages.c.product.label("site_product"),
               site_packages.c.version.label("site_version"),
               site_packages.c.sha256.label("site_sha256"),
               site_packages.c.size.label("site_size"),
               site_packages.c.url.label("site_url"))
        .select_from(
            devices
            .outerjoin(site_updates, site_updates.c.site_id == devices.c.site_id)
            .outerjoin(sites, sites.c.site_id == devices.c.site_id)
            .outerjoin(site_packages, and_(site_packages.c.site_id == sites.c.site_id,
                                           site_packages.c.product == sites.c.device_product,
                                           site_packages.c.version == sites.c.device_version)))
        .where(devices.c.site_id == site_id, devices.c.serial == serial)
    )
    return (await conn.execute(query)).first()


def site_package_of(row: Any) -> Package | None:
    if row is None or row.site_sha256 is None:
        return None
    return Package(row.site_product, row.site_version, row.site_sha256, int(row.site_size),
                   row.site_url)


def site_update_of(row: Any) -> SiteUpdate | None:
    if row is None or row.update_id is None:
        return None
    package = None
    if row.sha256 is not None:
        package = Package(row.product, row.version, row.sha256, int(row.size), row.url)
    return SiteUpdate(row.update_id, Phase(row.phase), package)


async def mark_blocked(conn: AsyncConnection, site_id: str, serial: str, update_id: str) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(blocked_update_id=update_id))


async def mark_unblocked(conn: AsyncConnection, site_id: str, serial: str) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(blocked_update_id=None))


async def device_secret(conn: AsyncConnection, site_id: str, serial: str) -> Any:
    """The device's secret and whether it may act, with its site's update id and phase."""
    return (await conn.execute(
        select(devices.c.secret, devices.c.enabled, site_updates.c.update_id,
               site_updates.c.phase)
        .select_from(devices.outerjoin(site_updates, site_updates.c.site_id == devices.c.site_id))
        .where(devices.c.site_id == site_id, devices.c.serial == serial)
    )).first()


# --- code exchanges (D8) -----------------------------------------------------------------


async def recent_exchanges(conn: AsyncConnection, site_id: str, serial: str,
                           since: datetime) -> int:
    return int((await conn.execute(
        select(func.count()).select_from(code_exchanges)
        .where(code_exchanges.c.site_id == site_id, code_exchanges.c.serial == serial,
               code_exchanges.c.created_at > since)
    )).scalar_one())


async def save_exchange(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(code_exchanges.insert().values(**values))


async def load_exchange_for_update(conn: AsyncConnection, site_id: str, serial: str,
                                   exchange_id: str) -> Any:
    """The exchange, locked until commit (two admins typing code 3 at once count twice)."""
    query = (select(code_exchanges.c.action, code_exchanges.c.code1, code_exchanges.c.code2,
                    code_exchanges.c.expires_at, code_exchanges.c.attempts,
                    code_exchanges.c.used_at)
             .where(code_exchanges.c.exchange_id == exchange_id,
                    code_exchanges.c.site_id == site_id, code_exchanges.c.serial == serial))
    if is_postgres(conn):
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def record_attempt(conn: AsyncConnection, exchange_id: str, used_at: datetime | None
                         ) -> None:
    values: dict[str, Any] = {"attempts": code_exchanges.c.attempts + 1}
    if used_at is not None:
        values["used_at"] = used_at
    await conn.execute(update(code_exchanges)
                       .where(code_exchanges.c.exchange_id == exchange_id).values(**values))


async def record_sync(
    conn: AsyncConnection, site_id: str, serial: str, now: datetime, waiting_update_id: str | None
) -> None:
    values: dict[str, Any] = {"last_sync": now}
    if waiting_update_id is not None:
        values["waiting_update_id"] = waiting_update_id
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial).values(**values))


async def record_version(conn: AsyncConnection, site_id: str, serial: str, version: str) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(app_version=version))


async def set_enabled(conn: AsyncConnection, site_id: str, serial: str, enabled: bool) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(enabled=enabled))


async def admit_devices(
    conn: AsyncConnection, site_id: str, update_id: str, serials: Sequence[str]
) -> None:
    """The server update started with these devices waiting: their hand-ins stay accepted."""
    for chunk in _chunks(serials, 5000):
        await conn.execute(update(devices)
                           .where(devices.c.site_id == site_id, devices.c.serial.in_(chunk))
                           .values(admitted_update_id=update_id))


async def lock_site(conn: AsyncConnection, site_id: str) -> None:
    """Serialize changes of one site's update until commit (SQLite writers already are)."""
    if is_postgres(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                           {"k": f"device-gateway/site/{site_id}"})


# --- site update --------------------------------------------------------------------------


async def load_site_update(conn: AsyncConnection, site_id: str) -> SiteUpdate | None:
    row = (await conn.execute(
        select(site_updates.c.update_id, site_updates.c.phase, site_updates.c.product,
               site_updates.c.version, site_updates.c.sha256, site_updates.c.size,
               site_updates.c.url).where(site_updates.c.site_id == site_id)
    )).first()
    return site_update_of(row)


async def save_site_update(
    conn: AsyncConnection, site_id: str, state: SiteUpdate, now: datetime
) -> None:
    package = state.package
    await conn.execute(upsert(conn, site_updates, ["site_id"], {
        "site_id": site_id, "update_id": state.update_id, "phase": state.phase.value,
        "product": package.product if package else None,
        "version": package.version if package else None,
        "sha256": package.sha256 if package else None,
        "size": package.size if package else None,
        "url": package.url if package else None,
        "changed_at": now,
    }))


# --- notifications ------------------------------------------------------------------------

PENDING_COLUMNS = (notifications.c.seq, notifications.c.serial, notifications.c.kind,
                   notifications.c.update_id, notifications.c.created_at,
                   notifications.c.request_id, notifications.c.sent_at)


async def create_notifications(
    conn: AsyncConnection, *, site_id: str, update_id: str, kind: str, request_id: str,
    serials: Sequence[str] | None, correlation_id: str, cause_id: str, now: datetime,
) -> int:
    """One row per enabled target device, in ONE ``INSERT … SELECT`` (None = every enabled
    device of the site). A repeated request adds nothing (unique request + serial)."""
    source = select(
        literal(site_id), devices.c.serial, literal(update_id), literal(kind),
        literal(request_id), literal(correlation_id), literal(cause_id),
        literal(now, DateTime(timezone=True)),
    ).where(devices.c.site_id == site_id, devices.c.enabled.is_(True))
    if serials is not None:
        source = source.where(devices.c.serial.in_(list(serials)))
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    stmt = dialect_insert(notifications).from_select(
        ["site_id", "serial", "update_id", "kind", "request_id", "correlation_id", "cause_id",
         "created_at"], source,
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return result.rowcount or 0


async def pending_for_device(conn: AsyncConnection, site_id: str, serial: str) -> list[Any]:
    return list((await conn.execute(
        select(*PENDING_COLUMNS)
        .where(notifications.c.site_id == site_id, notifications.c.serial == serial,
               notifications.c.acked_at.is_(None))
        .order_by(notifications.c.seq)
    )).all())


async def pending_for_site(
    conn: AsyncConnection, site_id: str, serials: Sequence[str] | None
) -> list[Any]:
    """Unacknowledged notifications of some (or all) devices of a site, in one query."""
    query = select(*PENDING_COLUMNS).where(notifications.c.site_id == site_id,
                                           notifications.c.acked_at.is_(None))
    if serials is not None:
        query = query.where(notifications.c.serial.in_(list(serials)))
    return list((await conn.execute(query.order_by(notifications.c.seq))).all())


async def mark_sent(conn: AsyncConnection, seqs: Sequence[int], now: datetime) -> None:
    for chunk in _chunks(seqs, 5000):
        await conn.execute(update(notifications)
                           .where(notifications.c.seq.in_(chunk), notifications.c.sent_at.is_(None))
                           .values(sent_at=now))


async def acknowledge(
    conn: AsyncConnection, site_id: str, serial: str, seq: int, now: datetime
) -> Any:
    """Set acked_at once; the row back only for the first acknowledgement."""
    return (await conn.execute(
        update(notifications)
        .where(notifications.c.seq == seq, notifications.c.site_id == site_id,
               notifications.c.serial == serial, notifications.c.acked_at.is_(None))
        .values(acked_at=now)
        .returning(notifications.c.update_id, notifications.c.kind,
                   notifications.c.correlation_id, notifications.c.cause_id,
                   notifications.c.created_at)
    )).first()


async def notification_exists(conn: AsyncConnection, site_id: str, serial: str, seq: int) -> bool:
    row = (await conn.execute(
        select(notifications.c.seq).where(notifications.c.seq == seq,
                                          notifications.c.site_id == site_id,
                                          notifications.c.serial == serial)
    )).first()
    return row is not None


async def claim_overdue(
    conn: AsyncConnection, cutoff: datetime, now: datetime, limit: int
) -> list[Any]:
    """Mark up to ``limit`` unacknowledged notifications created before ``cutoff`` as overdue,
    in one statement; each row comes back exactly once, even with several replicas."""
    candidates = (
        select(notifications.c.seq)
        .where(notifications.c.acked_at.is_(None), notifications.c.overdue_at.is_(None),
               notifications.c.created_at < cutoff)
        .order_by(notifications.c.created_at).limit(limit)
    )
    if is_postgres(conn):
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(notifications)
        .where(notifications.c.seq.in_(candidates.scalar_subquery()),
               and_(notifications.c.acked_at.is_(None), notifications.c.overdue_at.is_(None)))
        .values(overdue_at=now)
        .returning(notifications.c.site_id, notifications.c.serial, notifications.c.update_id,
                   notifications.c.kind, notifications.c.sent_at,
                   notifications.c.correlation_id, notifications.c.cause_id)
    )
    return list((await conn.execute(stmt)).all())


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]

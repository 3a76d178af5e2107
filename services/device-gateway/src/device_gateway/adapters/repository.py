"""The gateway's SQL for sites, devices, the site's update and code exchanges: Core statements
selecting columns, one statement per step, returning typed frozen rows (push notifications are
in ``notifications_repository``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from device_gateway.adapters.tables import (
    code_exchanges,
    devices,
    outbox,
    package_targets,
    registration_failures,
    site_offers,
    site_packages,
    site_updates,
    sites,
)
from device_gateway.domain.codes import Exchange, ExchangeDevice
from device_gateway.domain.registrations import KnownDevice, TokenOwner
from device_gateway.domain.sites import Site
from device_gateway.domain.updates import Block, DeviceContext, Package, Phase, SiteUpdate
from lockstep_shared.db import DriverChange, DriverQuery, is_postgres, lock_keys, upsert

# --- sites --------------------------------------------------------------------------------


async def save_site(
    conn: AsyncConnection, site_id: str, enrolment_code_sha256: str,
    products: Sequence[tuple[str, str]], now: datetime,
    device: tuple[str, str] | None = None,
) -> None:
    await conn.execute(upsert(conn, sites, ["site_id"], {
        "site_id": site_id, "enrolment_code_sha256": enrolment_code_sha256,
        "products": json.dumps([{"product": p, "version": v} for p, v in products]),
        "updated_at": now,
        "device_product": device[0] if device else None,
        "device_version": device[1] if device else None,
    }))


async def load_site(conn: AsyncConnection, site_id: str) -> Site | None:
    row = (await conn.execute(
        select(sites.c.enrolment_code_sha256, sites.c.products).where(sites.c.site_id == site_id)
    )).first()
    if row is None:
        return None
    products = tuple((p["product"], p["version"]) for p in json.loads(row.products))
    return Site(row.enrolment_code_sha256, products)


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


async def device_product(conn: AsyncConnection, site_id: str) -> str | None:
    """The product whose version the site's device app follows (None: not known yet)."""
    return (await conn.execute(
        select(sites.c.device_product).where(sites.c.site_id == site_id))).scalar()


async def save_site_package(conn: AsyncConnection, site_id: str, package: Package,
                            now: datetime) -> None:
    await conn.execute(upsert(conn, site_packages, ["site_id", "product", "version"], {
        "site_id": site_id, "product": package.product, "version": package.version,
        "sha256": package.sha256, "size": package.size, "url": package.url, "updated_at": now,
    }))


async def remember_target(conn: AsyncConnection, sha256: str, target: str) -> None:
    await conn.execute(upsert(conn, package_targets, ["sha256"],
                              {"sha256": sha256, "target": target}))


_TARGET_OF = DriverQuery(select(package_targets.c.target)
                         .where(package_targets.c.sha256 == bindparam("sha256")))


async def target_of(conn: AsyncConnection, sha256: str) -> str | None:
    row = await _TARGET_OF.first(conn, sha256=sha256)
    return None if row is None else row[0]


# --- devices ------------------------------------------------------------------------------


_TOKEN_OWNER = DriverQuery(
    select(devices.c.site_id, devices.c.serial, devices.c.enabled)
    .where(devices.c.token_sha256 == bindparam("token_sha256")))


async def device_by_token(conn: AsyncConnection, token_sha256: str) -> TokenOwner | None:
    row = await _TOKEN_OWNER.first(conn, token_sha256=token_sha256)
    return None if row is None else TokenOwner(row[0], row[1], bool(row[2]))


async def known_device(conn: AsyncConnection, site_id: str, serial: str) -> KnownDevice | None:
    """The registered serial, locked until commit (two registrations of it go in turn)."""
    query = (select(devices.c.secret, devices.c.enabled, devices.c.token_sha256,
                    devices.c.registered_at, devices.c.idempotency_key_sha256,
                    devices.c.reregistration_approved_at)
             .where(devices.c.site_id == site_id, devices.c.serial == serial))
    if is_postgres(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    approved = row.reregistration_approved_at
    return KnownDevice(row.secret, bool(row.enabled), row.token_sha256,
                       as_utc(row.registered_at), row.idempotency_key_sha256,
                       None if approved is None else as_utc(approved))


async def approve_reregistration(conn: AsyncConnection, site_id: str, serial: str,
                                 now: datetime) -> bool:
    """The admin approved one re-registration of the serial; False = no such device."""
    done = await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                                    devices.c.serial == serial)
                              .values(reregistration_approved_at=now))
    return bool(done.rowcount)


async def save_registration(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert the device, or rotate its token and secret and refresh what it reported."""
    await conn.execute(upsert(conn, devices, ["site_id", "serial"], values))


_DEVICE_CONTEXT = (
    select(devices.c.app_version, devices.c.enabled, devices.c.admitted_update_id,
           devices.c.blocked_update_id, devices.c.blocked_at, devices.c.blocked_by_code,
           site_updates.c.update_id, site_updates.c.phase, site_updates.c.product,
           site_updates.c.version, site_updates.c.sha256, site_updates.c.size,
           site_updates.c.url,
           sites.c.device_version,
           site_packages.c.product, site_packages.c.version, site_packages.c.sha256,
           site_packages.c.size, site_packages.c.url,
           devices.c.staged_sha256,
           site_offers.c.product, site_offers.c.version, site_offers.c.sha256,
           site_offers.c.size, site_offers.c.url)
    .select_from(
        devices
        .outerjoin(site_updates, site_updates.c.site_id == devices.c.site_id)
        .outerjoin(sites, sites.c.site_id == devices.c.site_id)
        .outerjoin(site_packages, and_(site_packages.c.site_id == sites.c.site_id,
                                       site_packages.c.product == sites.c.device_product,
                                       site_packages.c.version == sites.c.device_version))
        .outerjoin(site_offers, and_(site_offers.c.site_id == sites.c.site_id,
                                     site_offers.c.product == sites.c.device_product)))
    .where(devices.c.site_id == bindparam("site_id"), devices.c.serial == bindparam("serial"))
)
_DEVICE_CONTEXT_QUERY = DriverQuery(_DEVICE_CONTEXT)


async def device_context(conn: AsyncConnection, site_id: str, serial: str
                         ) -> DeviceContext | None:
    """The device with its site's update and the package of its site's version (D10), in
    one query (every device request but the long-poll reads it)."""
    row = await _DEVICE_CONTEXT_QUERY.first(conn, site_id=site_id, serial=serial)
    if row is None:
        return None
    app_version, enabled, admitted_update_id, blocked_update_id, blocked_at, by_code = row[:6]
    site_version, staged_sha256 = row[13], row[19]
    return DeviceContext(app_version, bool(enabled), admitted_update_id,
                         _site_update(row[6:13]), _package(row[14:19]), site_version,
                         _block(blocked_update_id, blocked_at, by_code),
                         staged_sha256=staged_sha256, offer=_package(row[20:25]))


def _package(columns: Sequence[Any]) -> Package | None:
    """A package from (product, version, sha256, size, url) columns; None when absent."""
    product, version, sha256, size, url = columns
    return None if sha256 is None else Package(product, version, sha256, int(size), url)


def _block(update_id: str | None, since: datetime | None, by_code: bool | None) -> Block | None:
    if update_id is None or since is None:
        return None
    return Block(update_id, as_utc(since), bool(by_code))


async def mark_blocked(conn: AsyncConnection, site_id: str, serial: str, block: Block) -> None:
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(blocked_update_id=block.update_id, blocked_at=block.since,
                               blocked_by_code=block.by_code))


_DEVICE = (devices.c.site_id == bindparam("key_site_id"),
           devices.c.serial == bindparam("key_serial"))
# The device writes of the hot paths, each ONE statement with its outbox rows on PostgreSQL
# (``UnitOfWork.change``); parameters: key_site_id, key_serial and the ones named below
# (a bound parameter of an UPDATE may not bear a column's name).
MARK_BLOCKED = DriverChange(update(devices).where(*_DEVICE).values(
    blocked_update_id=bindparam("block_update_id"), blocked_at=bindparam("block_since"),
    blocked_by_code=bindparam("block_by_code")), outbox)
RECORD_SYNC = DriverChange(update(devices).where(*_DEVICE).values(
    last_sync=bindparam("synced_at")), outbox)
RECORD_SYNC_WAITING = DriverChange(update(devices).where(*_DEVICE).values(
    last_sync=bindparam("synced_at"), waiting_update_id=bindparam("waiting_for")), outbox)
RECORD_VERSION = DriverChange(update(devices).where(*_DEVICE).values(
    app_version=bindparam("reported_version")), outbox)


async def mark_unblocked(conn: AsyncConnection, site_id: str, serial: str) -> None:
    """Back to work: no longer blocked, nor admitted to a server update it was waiting for
    (what it makes now is data for the old version)."""
    await conn.execute(update(devices).where(devices.c.site_id == site_id,
                                             devices.c.serial == serial)
                       .values(blocked_update_id=None, blocked_at=None, blocked_by_code=False,
                               admitted_update_id=None))


async def exchange_device(conn: AsyncConnection, site_id: str, serial: str, *,
                          lock: bool = False) -> ExchangeDevice | None:
    """The device's secret, whether it may act and its block, with its site's update id and
    phase; ``lock``: the device's row is locked until commit."""
    query = (select(devices.c.secret, devices.c.enabled, site_updates.c.update_id,
                    site_updates.c.phase, devices.c.blocked_update_id, devices.c.blocked_at,
                    devices.c.blocked_by_code)
             .select_from(devices.outerjoin(site_updates,
                                            site_updates.c.site_id == devices.c.site_id))
             .where(devices.c.site_id == site_id, devices.c.serial == serial))
    if lock and is_postgres(conn):
        query = query.with_for_update(of=devices)
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return ExchangeDevice(row.secret, bool(row.enabled), row.update_id,
                          None if row.phase is None else Phase(row.phase),
                          _block(row.blocked_update_id, row.blocked_at, row.blocked_by_code))


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
    for chunk in chunks(serials, 5000):
        await conn.execute(update(devices)
                           .where(devices.c.site_id == site_id, devices.c.serial.in_(chunk))
                           .values(admitted_update_id=update_id))


# --- wrong enrolment codes (S6) ------------------------------------------------------------


async def lock_enrolment(conn: AsyncConnection, site_id: str, client: str) -> None:
    """Registrations at this site or from this client wait for each other until commit, so
    counting the wrong codes and checking one is one step."""
    await lock_keys(conn, f"device-gateway/enrolment/site/{site_id}",
                    f"device-gateway/enrolment/client/{client[:100]}")


async def enrolment_failures(conn: AsyncConnection, site_id: str, client: str,
                             since: datetime) -> dict[str, list[datetime]]:
    """The recent wrong enrolment codes from the client (any site) and for the site (any
    client), in one query."""
    failures = registration_failures.c
    client = client[:100]
    rows = await conn.execute(
        select(failures.at, failures.client == client, failures.site_id == site_id)
        .where(or_(failures.client == client, failures.site_id == site_id),
               failures.at > since))
    found: dict[str, list[datetime]] = {"client": [], "site": []}
    for at, from_client, for_site in rows:
        if from_client:
            found["client"].append(as_utc(at))
        if for_site:
            found["site"].append(as_utc(at))
    return found


async def add_enrolment_failure(conn: AsyncConnection, site_id: str, client: str,
                                now: datetime, forget_before: datetime) -> None:
    """Record a wrong code; failures older than ``forget_before`` count no more: deleted."""
    await conn.execute(registration_failures.delete().where(
        registration_failures.c.at < forget_before))
    await conn.execute(registration_failures.insert().values(
        site_id=site_id, client=client[:100], at=now))


# --- code exchanges (D8) -----------------------------------------------------------------


async def recent_exchanges(conn: AsyncConnection, site_id: str, serial: str,
                           since: datetime) -> int:
    return int((await conn.execute(
        select(func.count()).select_from(code_exchanges)
        .where(code_exchanges.c.site_id == site_id, code_exchanges.c.serial == serial,
               code_exchanges.c.created_at > since)
    )).scalar_one())


async def code1_used(conn: AsyncConnection, site_id: str, serial: str, code1: str) -> bool:
    """Whether an exchange of the device since its registration (its current secret) had
    this code 1."""
    found = (await conn.execute(
        select(code_exchanges.c.exchange_id)
        .select_from(code_exchanges.join(devices, and_(
            devices.c.site_id == code_exchanges.c.site_id,
            devices.c.serial == code_exchanges.c.serial)))
        .where(code_exchanges.c.site_id == site_id, code_exchanges.c.serial == serial,
               code_exchanges.c.code1 == code1,
               code_exchanges.c.created_at >= devices.c.registered_at)
        .limit(1)
    )).first()
    return found is not None


async def save_exchange(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(code_exchanges.insert().values(**values))


async def load_exchange_for_update(conn: AsyncConnection, site_id: str, serial: str,
                                   exchange_id: str) -> Exchange | None:
    """The exchange, locked until commit (two admins typing code 3 at once count twice)."""
    query = (select(code_exchanges.c.action, code_exchanges.c.code1, code_exchanges.c.code2,
                    code_exchanges.c.expires_at, code_exchanges.c.attempts,
                    code_exchanges.c.used_at)
             .where(code_exchanges.c.exchange_id == exchange_id,
                    code_exchanges.c.site_id == site_id, code_exchanges.c.serial == serial))
    if is_postgres(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Exchange(row.action, row.code1, row.code2, as_utc(row.expires_at), row.attempts,
                    None if row.used_at is None else as_utc(row.used_at))


async def record_attempt(conn: AsyncConnection, exchange_id: str, used_at: datetime | None
                         ) -> None:
    values: dict[str, Any] = {"attempts": code_exchanges.c.attempts + 1}
    if used_at is not None:
        values["used_at"] = used_at
    await conn.execute(update(code_exchanges)
                       .where(code_exchanges.c.exchange_id == exchange_id).values(**values))


# --- the site's update --------------------------------------------------------------------


async def lock_site(conn: AsyncConnection, site_id: str) -> None:
    """Serialize changes of one site's update until commit (SQLite writers already are)."""
    if is_postgres(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                           {"k": f"device-gateway/site/{site_id}"})


async def load_site_update(conn: AsyncConnection, site_id: str) -> SiteUpdate | None:
    row = (await conn.execute(
        select(site_updates.c.update_id, site_updates.c.phase, site_updates.c.product,
               site_updates.c.version, site_updates.c.sha256, site_updates.c.size,
               site_updates.c.url).where(site_updates.c.site_id == site_id)
    )).first()
    return None if row is None else _site_update(row)


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


def _site_update(columns: Sequence[Any]) -> SiteUpdate | None:
    """(update_id, phase, product, version, sha256, size, url) → the site's update."""
    update_id, phase, product, version, sha256, size, url = columns
    if update_id is None:
        return None
    return SiteUpdate(update_id, Phase(phase), _package((product, version, sha256, size, url)))


# --- helpers ------------------------------------------------------------------------------


def as_utc(value: datetime) -> datetime:
    """SQLite hands datetimes back naive; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]

"""All of the watcher's SQL: watched sites, their products and what is known of their releases."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.db import upsert
from release_watcher.adapters.tables import watched_products, watched_sites
from release_watcher.domain.sites import (
    DueCheck,
    EntitlementState,
    KnownRelease,
    ProductState,
    SiteConfig,
    SiteState,
)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything stored here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def upsert_site(
    conn: AsyncConnection, site: SiteConfig, products: Mapping[str, str], *, check_at: datetime
) -> None:
    """Create or change a site and its installed products; its next check is ``check_at``."""
    await conn.execute(
        upsert(
            conn,
            watched_sites,
            ["site_id"],
            {
                "site_id": site.site_id,
                "name": site.name,
                "license_key": site.license_key,
                "check_interval_s": site.check_interval_s,
                "next_check_at": check_at,
            },
        )
    )
    await _bump(conn, site.site_id)
    await conn.execute(
        delete(watched_products).where(
            watched_products.c.site_id == site.site_id,
            watched_products.c.product.not_in(list(products)),
        )
    )
    for product, version in products.items():
        await conn.execute(
            upsert(
                conn,
                watched_products,
                ["site_id", "product"],
                {"site_id": site.site_id, "product": product, "installed_version": version},
            )
        )


async def _bump(conn: AsyncConnection, site_id: str) -> None:
    await conn.execute(
        update(watched_sites)
        .where(watched_sites.c.site_id == site_id)
        .values(version=watched_sites.c.version + 1)
    )


async def request_check(
    conn: AsyncConnection,
    site_id: str,
    *,
    now: datetime,
    correlation_id: str | None,
    causation_id: str | None,
) -> bool:
    """Make the site due now, remembering who asked; False if the site is unknown."""
    result = await conn.execute(
        update(watched_sites)
        .where(watched_sites.c.site_id == site_id)
        .values(
            next_check_at=now,
            check_correlation_id=correlation_id,
            check_causation_id=causation_id,
            version=watched_sites.c.version + 1,
        )
    )
    return result.rowcount == 1


async def make_all_due(conn: AsyncConnection, now: datetime) -> None:
    """Every site is checked at start (R3)."""
    await conn.execute(
        update(watched_sites)
        .where(watched_sites.c.next_check_at > now)
        .values(next_check_at=now, version=watched_sites.c.version + 1)
    )


async def due_checks(conn: AsyncConnection, now: datetime, *, limit: int = 100) -> list[DueCheck]:
    """The sites whose check is due, oldest first (one query)."""
    rows = await conn.execute(
        select(
            watched_sites.c.site_id,
            watched_sites.c.version,
            watched_sites.c.check_interval_s,
            watched_sites.c.check_correlation_id,
            watched_sites.c.check_causation_id,
            watched_sites.c.license_key,
        )
        .where(watched_sites.c.next_check_at <= now)
        .order_by(watched_sites.c.next_check_at)
        .limit(limit)
    )
    return [
        DueCheck(
            site_id=row.site_id,
            version=row.version,
            check_interval_s=row.check_interval_s,
            correlation_id=row.check_correlation_id,
            causation_id=row.check_causation_id,
            license_key=row.license_key,
        )
        for row in rows
    ]


async def claim_check(conn: AsyncConnection, due: DueCheck, *, next_check_at: datetime) -> bool:
    """Take a due check (False if another replica or a newer request got there first)."""
    result = await conn.execute(
        update(watched_sites)
        .where(watched_sites.c.site_id == due.site_id, watched_sites.c.version == due.version)
        .values(
            next_check_at=next_check_at,
            check_correlation_id=None,
            check_causation_id=None,
            version=watched_sites.c.version + 1,
        )
    )
    return result.rowcount == 1


async def next_check_at(conn: AsyncConnection) -> datetime | None:
    row = await conn.execute(
        select(watched_sites.c.next_check_at).order_by(watched_sites.c.next_check_at).limit(1)
    )
    return as_utc(row.scalar())


async def installed_products(conn: AsyncConnection, site_id: str) -> dict[str, str]:
    rows = await conn.execute(
        select(watched_products.c.product, watched_products.c.installed_version).where(
            watched_products.c.site_id == site_id
        )
    )
    return {product: version for product, version in rows}


async def record_check(
    conn: AsyncConnection,
    site_id: str,
    *,
    checked_at: datetime,
    failure: str | None,
    retry_at: datetime | None = None,
) -> None:
    """The check's end: when it ran, what failed, and an earlier retry if one is needed."""
    values: dict[str, Any] = {"last_checked_at": checked_at, "last_failure": failure}
    stmt = update(watched_sites).where(watched_sites.c.site_id == site_id)
    await conn.execute(stmt.values(**values))
    if retry_at is not None:
        await conn.execute(
            stmt.where(watched_sites.c.next_check_at > retry_at).values(
                next_check_at=retry_at, version=watched_sites.c.version + 1
            )
        )


async def record_entitlement(
    conn: AsyncConnection,
    site_id: str,
    *,
    active: bool,
    valid_until: datetime | None,
    reason: str | None,
    checked_at: datetime,
) -> None:
    """The vendor's subscription answer of this check (R4)."""
    await conn.execute(
        update(watched_sites)
        .where(watched_sites.c.site_id == site_id)
        .values(
            entitlement_active=active,
            entitlement_valid_until=valid_until,
            entitlement_reason=reason,
            entitlement_checked_at=checked_at,
        )
    )


async def set_all_products(
    conn: AsyncConnection, site_id: str, **values: Any
) -> None:
    """The same state for every product of a site (e.g. nothing offered: no subscription)."""
    await conn.execute(
        update(watched_products).where(watched_products.c.site_id == site_id).values(**values)
    )


async def set_product(conn: AsyncConnection, site_id: str, product: str, **values: Any) -> None:
    """Update what is known of one product's next release (status, sizes, reason…)."""
    await conn.execute(
        update(watched_products)
        .where(watched_products.c.site_id == site_id, watched_products.c.product == product)
        .values(**values)
    )


async def site_state(conn: AsyncConnection, site_id: str) -> SiteState | None:
    """What the watcher knows about one site, or None if it is not configured here."""
    site = (
        await conn.execute(select(watched_sites).where(watched_sites.c.site_id == site_id))
    ).mappings().first()
    if site is None:
        return None
    products = (
        await conn.execute(
            select(watched_products)
            .where(watched_products.c.site_id == site_id)
            .order_by(watched_products.c.product)
        )
    ).mappings().all()
    return SiteState(
        site_id=site["site_id"],
        name=site["name"],
        check_interval_s=site["check_interval_s"],
        next_check_at=as_utc(site["next_check_at"]),
        last_checked_at=as_utc(site["last_checked_at"]),
        last_failure=site["last_failure"],
        entitlement=_entitlement(site),
        products=tuple(_product(p) for p in products),
    )


def _entitlement(site: RowMapping) -> EntitlementState | None:
    checked_at = as_utc(site["entitlement_checked_at"])
    if checked_at is None:
        return None
    return EntitlementState(
        active=site["entitlement_active"],
        valid_until=as_utc(site["entitlement_valid_until"]),
        reason=site["entitlement_reason"],
        checked_at=checked_at,
    )


def _product(p: RowMapping) -> ProductState:
    next_release = None
    if p["next_version"] is not None:
        next_release = KnownRelease(
            version=p["next_version"],
            notes_url=p["notes_url"],
            package=p["target_path"],
            sha256=p["sha256"],
            size=p["size"],
            received_bytes=p["received_bytes"],
            requires_confirmation_code=p["requires_confirmation_code"],
            min_platform_version=p["min_platform_version"],
            platform_required=p["platform_required"],
        )
    return ProductState(
        product=p["product"],
        installed_version=p["installed_version"],
        status=p["status"],
        reason=p["reason"],
        checked_at=as_utc(p["checked_at"]),
        next_release=next_release,
    )

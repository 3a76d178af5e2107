"""SQL for sites, their installed products and their next releases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.catalogue import PackageRef
from lockstep_shared.db import insert_ignoring_duplicates, is_postgres, upsert
from orchestrator.adapters.tables import (
    aware,
    entitlements,
    releases,
    site_products,
    sites,
    unlocked_releases,
)
from orchestrator.domain.releases import Release, ReleaseStatus
from orchestrator.domain.sites import Entitlement, Site


class SitesRepository:
    async def exists(self, conn: AsyncConnection, site_id: str) -> bool:
        found = await conn.execute(select(sites.c.site_id).where(sites.c.site_id == site_id))
        return found.first() is not None

    async def add(self, conn: AsyncConnection, site: Site, now: datetime) -> None:
        await conn.execute(insert(sites).values(
            site_id=site.site_id, name=site.name, license_key=site.license_key,
            enrolment_code_sha256=site.enrolment_code_sha256,
            check_interval_s=site.check_interval_s, created_at=now, time_zone=site.time_zone,
        ))
        if site.products:
            await conn.execute(insert(site_products), [
                {"site_id": site.site_id, "product": p, "version": v}
                for p, v in site.products.items()
            ])

    async def get(self, conn: AsyncConnection, site_id: str) -> Site | None:
        row = (await conn.execute(select(sites).where(sites.c.site_id == site_id))).first()
        if row is None:
            return None
        return Site(row.site_id, row.name, row.license_key, row.enrolment_code_sha256,
                    row.check_interval_s, await self.products(conn, site_id), row.time_zone)

    async def all(self, conn: AsyncConnection) -> list[Site]:
        rows = (await conn.execute(select(sites).order_by(sites.c.site_id))).all()
        products: dict[str, dict[str, str]] = {}
        for p in (await conn.execute(select(site_products).order_by(site_products.c.product))):
            products.setdefault(p.site_id, {})[p.product] = p.version
        return [Site(r.site_id, r.name, r.license_key, r.enrolment_code_sha256,
                     r.check_interval_s, products.get(r.site_id, {}), r.time_zone) for r in rows]

    async def set_time_zone(self, conn: AsyncConnection, site_id: str, time_zone: str) -> bool:
        """False for an unknown site."""
        done = await conn.execute(update(sites).where(sites.c.site_id == site_id)
                                  .values(time_zone=time_zone))
        return bool(done.rowcount)

    async def products(self, conn: AsyncConnection, site_id: str) -> dict[str, str]:
        rows = await conn.execute(
            select(site_products.c.product, site_products.c.version)
            .where(site_products.c.site_id == site_id).order_by(site_products.c.product)
        )
        return {r.product: r.version for r in rows}

    async def set_product_version(self, conn: AsyncConnection, site_id: str, product: str,
                                  version: str) -> None:
        await conn.execute(upsert(conn, site_products, ["site_id", "product"],
                                  {"site_id": site_id, "product": product, "version": version}))
        # The release now installed is no longer news.
        await conn.execute(
            update(releases)
            .where(releases.c.site_id == site_id, releases.c.product == product,
                   releases.c.version == version)
            .values(status=ReleaseStatus.UP_TO_DATE.value, package_sha256=None,
                    package_size=None, package_url=None, package_target=None,
                    received_bytes=0, total_bytes=0)
        )


class EntitlementsRepository:
    async def get(self, conn: AsyncConnection, site_id: str) -> Entitlement:
        row = (await conn.execute(select(entitlements).where(
            entitlements.c.site_id == site_id))).first()
        if row is None:
            return Entitlement()
        return Entitlement(row.active, aware(row.valid_until), row.reason, aware(row.checked_at))

    async def all(self, conn: AsyncConnection) -> dict[str, Entitlement]:
        """Every site's last answer (the vendor's view across sites)."""
        rows = await conn.execute(select(entitlements))
        return {r.site_id: Entitlement(r.active, aware(r.valid_until), r.reason,
                                       aware(r.checked_at)) for r in rows}

    async def save(self, conn: AsyncConnection, site_id: str, entitlement: Entitlement) -> None:
        """Keeps the newest answer: an older check delivered late does not overwrite it."""
        values = {"site_id": site_id, "active": entitlement.active,
                  "valid_until": entitlement.valid_until, "reason": entitlement.reason,
                  "checked_at": entitlement.checked_at}
        current = await self.get(conn, site_id)
        if current.checked_at is not None and entitlement.checked_at is not None and (
                entitlement.checked_at < current.checked_at):
            return
        await conn.execute(upsert(conn, entitlements, ["site_id"], values))


_UNLOCKED = exists().where(unlocked_releases.c.site_id == releases.c.site_id,
                           unlocked_releases.c.product == releases.c.product,
                           unlocked_releases.c.version == releases.c.version)


class ReleasesRepository:
    def _select(self) -> Select[Any]:
        """A release unlocked once by a confirmation code stays unlocked (U13)."""
        return select(*[c for c in releases.c if c.name != "code_unlocked"],
                      or_(releases.c.code_unlocked, _UNLOCKED).label("code_unlocked"))

    async def lock(self, conn: AsyncConnection, site_id: str, product: str) -> None:
        """Serialize the watcher's events of one site's product for this transaction: they
        are consumed concurrently, and a load-modify-save must not lose one (e.g. a late
        progress overwriting "downloaded"). SQLite writers are serialized already."""
        if is_postgres(conn):
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                               {"key": f"release:{site_id}:{product}"})

    async def get(self, conn: AsyncConnection, site_id: str, product: str) -> Release | None:
        row = (await conn.execute(self._select().where(
            releases.c.site_id == site_id, releases.c.product == product))).first()
        return None if row is None else _release(row)

    async def for_site(self, conn: AsyncConnection, site_id: str) -> list[Release]:
        rows = await conn.execute(self._select().where(releases.c.site_id == site_id)
                                  .order_by(releases.c.product))
        return [_release(r) for r in rows]

    async def all(self, conn: AsyncConnection) -> list[Release]:
        """Every site's next releases (the vendor's view across sites)."""
        rows = await conn.execute(self._select().order_by(releases.c.site_id,
                                                          releases.c.product))
        return [_release(r) for r in rows]

    async def last_answers(self, conn: AsyncConnection) -> dict[str, datetime]:
        """When the watcher last reported about each site's releases."""
        rows = await conn.execute(select(releases.c.site_id, func.max(releases.c.updated_at))
                                  .group_by(releases.c.site_id))
        return {site_id: aware(at) for site_id, at in rows if at is not None}  # type: ignore[misc]

    async def unlock(self, conn: AsyncConnection, site_id: str, product: str, version: str,
                     actor: str, now: datetime) -> None:
        await conn.execute(insert_ignoring_duplicates(conn, unlocked_releases).values(
            site_id=site_id, product=product, version=version, unlocked_at=now,
            unlocked_by=actor))

    async def save(self, conn: AsyncConnection, release: Release, now: datetime) -> None:
        package = release.package
        values = {
            "site_id": release.site_id, "product": release.product,
            "status": release.status.value, "version": release.version,
            "received_bytes": release.received_bytes, "total_bytes": release.total_bytes,
            "notes_url": release.notes_url,
            "requires_confirmation_code": release.requires_confirmation_code,
            "code_unlocked": release.code_unlocked, "reason": release.reason,
            "package_sha256": package.sha256 if package else None,
            "package_size": package.size if package else None,
            "package_url": package.url if package else None,
            "package_target": package.target if package else None,
            "min_platform_version": release.min_platform_version,
            "updated_at": now,
        }
        await conn.execute(upsert(conn, releases, ["site_id", "product"], values))


def _release(r: Row[Any]) -> Release:
    package = None
    if r.package_sha256 is not None and r.version is not None:
        package = PackageRef(product=r.product, version=r.version,
                             sha256=r.package_sha256, size=r.package_size,
                             url=r.package_url, target=r.package_target)
    return Release(
        site_id=r.site_id, product=r.product,
        status=ReleaseStatus(r.status), version=r.version,
        received_bytes=r.received_bytes, total_bytes=r.total_bytes,
        notes_url=r.notes_url,
        requires_confirmation_code=r.requires_confirmation_code,
        code_unlocked=r.code_unlocked, reason=r.reason,
        package=package, min_platform_version=r.min_platform_version,
    )

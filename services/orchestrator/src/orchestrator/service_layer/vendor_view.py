"""Read models of the vendor's view across sites (issue 14 §3), for vendor support only: the
sites (filtered, failed updates waiting for support first, as JSON or CSV), one release's
way through the fleet, and the failed updates with their report. A few bulk queries on one
read-only connection, then the pure rules of ``domain.vendor_view``."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.adapters.repositories import Repositories
from orchestrator.domain.sites import Entitlement
from orchestrator.domain.support import report_status
from orchestrator.domain.vendor_view import (
    CSV_HEADER,
    SiteFilter,
    SiteLine,
    adoption_counts,
    csv_row,
    group_releases,
    site_line,
    support_first,
)


class VendorProductView(BaseModel):
    product: str
    version: str
    next_version: str | None
    next_status: str | None


class VendorSiteView(BaseModel):
    site_id: str
    name: str
    products: list[VendorProductView]
    subscription_active: bool
    subscription_valid_until: datetime | None
    subscription_reason: str | None
    banner: str
    last_check: datetime | None
    update_id: str | None
    update_state: str | None
    waiting_for_support_since: datetime | None
    time_zone: str = Field(default="UTC", description="the site's IANA time zone: the console "
                           "shows the site's times in it")


class ReleaseAdoptionView(BaseModel):
    product: str
    version: str
    counts: dict[str, int]  # on_it, past_it, updating, failed, offered, not_yet_offered
    sites: dict[str, list[str]]


class FailedUpdateView(BaseModel):
    site_id: str
    site_name: str
    update_id: str
    product: str
    from_version: str
    to_version: str
    failed_at: datetime | None
    reason: str | None
    exit_code: int | None
    report_status: str | None  # pending / delivered / no_support_endpoint; None: not sent yet
    report_attempts: int
    report_error: str | None
    report_delivered_at: datetime | None = None
    report: dict[str, Any] | None
    time_zone: str = Field(default="UTC", description="the site's IANA time zone")


class VendorViews:
    def __init__(self, engine: AsyncEngine, repos: Repositories, *,
                 support_url: str | None = None) -> None:
        self.engine = engine
        self.repos = repos
        self.support_url = support_url  # a pending report is never delivered without one

    async def lines(self) -> list[SiteLine]:
        repos = self.repos
        async with self.engine.connect() as conn:
            sites = await repos.sites.all(conn)
            releases = group_releases(await repos.releases.all(conn))
            entitlements = await repos.entitlements.all(conn)
            answers = await repos.releases.last_answers(conn)
            active = {u.site_id: u for u in await repos.updates.all_active(conn)}
        return support_first(
            site_line(s, releases.get(s.site_id, []), entitlements.get(s.site_id, Entitlement()),
                      active.get(s.site_id), answers.get(s.site_id)) for s in sites)

    async def sites(self, shown: SiteFilter) -> list[VendorSiteView]:
        return [_site_view(line) for line in await self.lines() if shown.admits(line)]

    async def sites_csv(self, shown: SiteFilter) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_row(line) for line in await self.lines() if shown.admits(line))
        return out.getvalue()

    async def release(self, product: str, version: str) -> ReleaseAdoptionView:
        counts, sites = adoption_counts(await self.lines(), product, version)
        return ReleaseAdoptionView(product=product, version=version, counts=counts,
                                   sites=sites)

    async def failed_updates(self) -> list[FailedUpdateView]:
        """Failed updates waiting for support, the oldest failure first, with the report."""
        waiting = [line for line in await self.lines() if line.waiting_for_support]
        ids = [line.update_id for line in waiting if line.update_id]
        async with self.engine.connect() as conn:
            reports = await self.repos.reports.for_updates(conn, ids)
            updates = {i: await self.repos.updates.get(conn, i) for i in ids}
        views = []
        for line in waiting:
            update = updates.get(line.update_id or "")
            if update is None:
                continue
            report = reports.get(update.update_id)
            failure = update.failure
            views.append(FailedUpdateView(
                site_id=line.site_id, site_name=line.name, update_id=update.update_id,
                product=update.product, from_version=update.from_version,
                to_version=update.to_version, failed_at=line.failed_since,
                reason=failure.reason if failure else None,
                exit_code=failure.exit_code if failure else None,
                report_status=report_status(report.status, self.support_url) if report
                else None,
                report_attempts=report.attempts if report else 0,
                report_error=report.last_error if report else None,
                report_delivered_at=report.delivered_at if report else None,
                report=report.body if report else None, time_zone=line.time_zone))
        return views


def _site_view(line: SiteLine) -> VendorSiteView:
    return VendorSiteView(
        site_id=line.site_id, name=line.name,
        products=[VendorProductView(product=p.product, version=p.version,
                                    next_version=p.next_version, next_status=p.next_status)
                  for p in line.products],
        subscription_active=line.subscription_active,
        subscription_valid_until=line.subscription_valid_until,
        subscription_reason=line.subscription_reason, banner=line.banner,
        last_check=line.last_check, update_id=line.update_id, update_state=line.update_state,
        waiting_for_support_since=line.failed_since, time_zone=line.time_zone)

"""SQL for failure reports to support (U12) and their delivery state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.db import upsert
from orchestrator.adapters.tables import aware, support_reports
from orchestrator.domain.support import SupportReport


def _report(r: Row[Any]) -> SupportReport:
    return SupportReport(r.update_id, r.site_id, r.body, r.status, r.attempts, r.last_error,
                         aware(r.created_at), aware(r.next_attempt_at),  # type: ignore[arg-type]
                         aware(r.delivered_at))


class SupportReportsRepository:
    async def save_new(self, conn: AsyncConnection, update_id: str, site_id: str,
                       body: dict[str, Any], now: datetime) -> None:
        """A new report (sent again: the newest report replaces the undelivered one)."""
        await conn.execute(upsert(conn, support_reports, ["update_id"], {
            "update_id": update_id, "site_id": site_id, "body": body, "status": "pending",
            "attempts": 0, "last_error": None, "created_at": now, "next_attempt_at": now,
            "delivered_at": None}))

    async def get(self, conn: AsyncConnection, update_id: str) -> SupportReport | None:
        row = (await conn.execute(select(support_reports)
                                  .where(support_reports.c.update_id == update_id))).first()
        return None if row is None else _report(row)

    async def for_updates(self, conn: AsyncConnection, update_ids: list[str]
                          ) -> dict[str, SupportReport]:
        if not update_ids:
            return {}
        rows = await conn.execute(select(support_reports)
                                  .where(support_reports.c.update_id.in_(update_ids)))
        return {r.update_id: _report(r) for r in rows}

    async def due(self, conn: AsyncConnection, now: datetime,
                  limit: int = 10) -> list[SupportReport]:
        rows = await conn.execute(
            select(support_reports)
            .where(support_reports.c.status == "pending",
                   support_reports.c.next_attempt_at <= now)
            .order_by(support_reports.c.next_attempt_at).limit(limit))
        return [_report(r) for r in rows]

    async def claim(self, conn: AsyncConnection, report: SupportReport, now: datetime,
                    next_attempt_at: datetime) -> bool:
        """Take the attempt (one replica at a time): move the next attempt forward first."""
        result = await conn.execute(update(support_reports).where(
            support_reports.c.update_id == report.update_id, support_reports.c.status == "pending",
            support_reports.c.attempts == report.attempts, support_reports.c.next_attempt_at <= now,
        ).values(next_attempt_at=next_attempt_at))
        return result.rowcount == 1

    async def delivered(self, conn: AsyncConnection, update_id: str, attempts: int,
                        now: datetime) -> None:
        await conn.execute(update(support_reports)
                           .where(support_reports.c.update_id == update_id).values(
            status="delivered", attempts=attempts, delivered_at=now, last_error=None))

    async def failed_attempt(self, conn: AsyncConnection, update_id: str, attempts: int,
                             error: str, next_attempt_at: datetime) -> None:
        await conn.execute(update(support_reports).where(
            support_reports.c.update_id == update_id, support_reports.c.status == "pending").values(
            attempts=attempts, last_error=error[:2000], next_attempt_at=next_attempt_at))

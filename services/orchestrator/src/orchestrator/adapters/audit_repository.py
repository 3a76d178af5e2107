"""SQL for the audit log (U15, A7): appended in the transaction of the action it records."""

from __future__ import annotations

from sqlalchemy import insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from orchestrator.adapters.tables import audit, aware
from orchestrator.domain.audit import AuditEntry, AuditQuery


class AuditRepository:
    async def add(self, conn: AsyncConnection, entry: AuditEntry) -> None:
        await conn.execute(insert(audit).values(
            at=entry.at, site_id=entry.site_id, update_id=entry.update_id, actor=entry.actor,
            role=entry.role, action=entry.action, details=entry.details, outcome=entry.outcome))

    async def find(self, conn: AsyncConnection, query: AuditQuery) -> list[AuditEntry]:
        a = audit.c
        where = []
        if query.sites is not None:
            where.append(a.site_id.in_(query.sites))
        if query.site_id is not None:
            where.append(a.site_id == query.site_id)
        if query.update_id is not None:
            where.append(a.update_id == query.update_id)
        if query.since is not None:
            where.append(a.at >= query.since)
        if query.until is not None:
            where.append(a.at <= query.until)
        if query.action is not None:
            where.append(or_(a.action == query.action, a.action.like(f"{query.action}.%")))
        rows = await conn.execute(select(audit).where(*where).order_by(a.at.desc(), a.id.desc())
                                  .limit(query.limit))
        return [AuditEntry(aware(r.at), r.actor, r.action, r.outcome, r.site_id,  # type: ignore[arg-type]
                           r.update_id, r.role, r.details or {}, r.id) for r in rows]

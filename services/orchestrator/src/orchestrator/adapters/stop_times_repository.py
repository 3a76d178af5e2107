"""SQL for the stop time of each update (issue 14 §2): one row per update, read locked and
written by the device projection."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lockstep_shared.db import is_postgres, upsert
from orchestrator.adapters.tables import aware, stop_times
from orchestrator.domain.stop_time import StopTime


class StopTimesRepository:
    async def get(self, conn: AsyncConnection, update_id: str, *, lock: bool = False
                  ) -> StopTime:
        """The update's stop time so far (empty when no device was blocked yet); ``lock``:
        until commit (two devices' events of one update go in turn)."""
        query = select(stop_times.c.first_blocked_at, stop_times.c.last_back_at,
                       stop_times.c.complete).where(stop_times.c.update_id == update_id)
        if lock and is_postgres(conn):
            query = query.with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            return StopTime()
        return StopTime(aware(row.first_blocked_at), aware(row.last_back_at), bool(row.complete))

    async def save(self, conn: AsyncConnection, site_id: str, update_id: str,
                   stop: StopTime) -> None:
        await conn.execute(upsert(conn, stop_times, ["update_id"], {
            "update_id": update_id, "site_id": site_id,
            "first_blocked_at": stop.first_blocked_at, "last_back_at": stop.last_back_at,
            "complete": stop.complete}))

"""Idempotent inbox (X3): a consumer records ``(consumer, message_id)`` in the same transaction
as its effects (the unit of work does it: ``uow.begin(cause=…, consumer=…)``); a redelivered
message finds its row and is acknowledged without effect. Rows past the retention horizon are
deleted by ``InboxRetention``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.db import insert_ignoring_duplicates
from lockstep_shared.loops import Loop

log = logging.getLogger(__name__)

def inbox_table(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("message_id", String(64), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def first_delivery(
    conn: AsyncConnection, table: Table, consumer: str, message_id: str
) -> bool:
    """Record the message for this consumer; False if it was already recorded (a duplicate)."""
    stmt = insert_ignoring_duplicates(conn, table).values(consumer=consumer, message_id=message_id)
    result = await conn.execute(stmt)
    return result.rowcount == 1


async def first_deliveries(
    conn: AsyncConnection, table: Table, consumer: str, message_ids: Sequence[str]
) -> set[str]:
    """Record these messages for this consumer in one statement; the ids that were not
    recorded before (the others are duplicates)."""
    unique = list(dict.fromkeys(message_ids))
    if not unique:
        return set()
    stmt = (insert_ignoring_duplicates(conn, table)
            .values([{"consumer": consumer, "message_id": m} for m in unique])
            .returning(table.c.message_id))
    return set((await conn.execute(stmt)).scalars())


class InboxRetention:
    """Deletes inbox rows older than ``horizon_s`` (default: 7 days), far past any broker
    redelivery, so the inbox does not grow forever. Runs as a loop of the service, in batches."""

    def __init__(self, engine: AsyncEngine, table: Table, *, horizon_s: float,
                 clock: Callable[[], datetime], every_s: float = 3600.0,
                 batch: int = 5000, service: str = "service") -> None:
        self.engine = engine
        self.table = table
        self.horizon = timedelta(seconds=horizon_s)
        self.clock = clock
        self.batch = batch
        self.loop = Loop(f"{service}-inbox-retention", self._round, every_s=every_s)

    async def prune(self) -> int:
        """Delete up to ``batch`` rows received before the horizon; how many were deleted."""
        cutoff = (self.clock() - self.horizon).astimezone(UTC)
        t = self.table
        old = (select(t.c.consumer, t.c.message_id).where(t.c.received_at < cutoff)
               .limit(self.batch))
        async with self.engine.begin() as conn:
            rows = (await conn.execute(old)).all()
            if rows:
                await conn.execute(delete(t).where(
                    tuple_(t.c.consumer, t.c.message_id).in_([tuple(r) for r in rows])))
        if rows:
            log.info("inbox retention: %d rows older than %s deleted", len(rows), cutoff)
        return len(rows)

    async def _round(self) -> bool:
        return await self.prune() == self.batch

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

"""Idempotent inbox (X3): a consumer records ``(consumer, message_id)`` in the same transaction
as its effects; a redelivered message finds its row and is acknowledged without effect."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared.bus.port import Handler
from lockstep_shared.db import insert_ignoring_duplicates
from lockstep_shared.envelope import Envelope
from lockstep_shared.outbox import Outbox

log = logging.getLogger(__name__)

Effect = Callable[[AsyncConnection, Envelope], Awaitable[None]]


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


class ConcurrentUpdate(Exception):
    """An optimistic-concurrency check lost a race; the whole handler is retried."""


def idempotent(
    engine: AsyncEngine,
    inbox: Table,
    consumer: str,
    effect: Effect,
    *,
    outbox: Outbox | None = None,
    attempts: int = 5,
) -> Handler:
    """Wrap ``effect(conn, envelope)`` so it runs once per message, in one transaction with
    its inbox row (and whatever outbox rows it adds). Lost optimistic races are retried here;
    other errors propagate to the bus, which retries or dead-letters."""

    async def handle(envelope: Envelope) -> None:
        for attempt in range(1, attempts + 1):
            try:
                async with engine.begin() as conn:
                    if not await first_delivery(conn, inbox, consumer, envelope.id):
                        log.debug("duplicate %s for %s skipped", envelope.id, consumer)
                        return
                    await effect(conn, envelope)
            except (ConcurrentUpdate, IntegrityError) as exc:
                if attempt == attempts:
                    raise
                log.debug("retrying %s after %s", envelope.id, type(exc).__name__)
                continue
            except DBAPIError as exc:
                if "deadlock" in str(exc).lower() and attempt < attempts:
                    continue
                raise
            if outbox is not None:
                outbox.committed()
            return

    return handle

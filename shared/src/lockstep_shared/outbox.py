"""Transactional outbox (X3): messages are written in the same transaction as the state that
caused them, and a relay publishes them after commit, with confirms, in rounds.

Never publish before commit: a handler only calls ``add``; the relay does the publishing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lockstep_shared import metrics
from lockstep_shared.bus.port import Bus, Outgoing
from lockstep_shared.db import is_postgres
from lockstep_shared.envelope import Envelope
from lockstep_shared.loops import Loop

log = logging.getLogger(__name__)


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
               autoincrement=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("routing_key", String(200), nullable=False),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


class Outbox:
    """Writes messages into the service's outbox table and wakes the relay after commit."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self._relay: OutboxRelay | None = None

    async def add(self, conn: AsyncConnection, envelopes: Iterable[Envelope]) -> None:
        rows = [
            {"message_id": e.id, "routing_key": e.routing_key, "body": e.to_json()}
            for e in envelopes
        ]
        if rows:
            # written last before the commit (the unit of work adds them then): on PostgreSQL
            # the clock now, not now() — its transaction's start — so the relay's lag is from
            # the commit, not from the start of a transaction that took long
            written = func.clock_timestamp() if is_postgres(conn) else func.current_timestamp()
            await conn.execute(insert(self.table).values(created_at=written), rows)

    def committed(self) -> None:
        """Call after a commit that added messages: the relay publishes them promptly."""
        if self._relay is not None:
            self._relay.wake()


class OutboxRelay:
    """Publishes outbox rows in rounds of up to ``batch``; safe with several replicas
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). A row is deleted only after the broker
    confirmed it, so a crash in between publishes it again (consumers dedupe).

    Woken by a commit, a round first lingers ``linger_s`` (10 ms) so the commits of that
    moment go out together: under load one round of many rows instead of a transaction
    per commit (each round is a transaction and a wait for the broker's confirms).

    A round is two round trips: ``DELETE … RETURNING`` of the oldest rows (locked, others'
    locked rows skipped), then the commit once the broker confirmed them; a failed publish
    rolls the delete back. On PostgreSQL the rounds run on a connection of their own
    (``rounds_engine``, one connection): the service's pool is its requests', and a relay
    queued behind hundreds of them is what made the commit→publish lag seconds under load.

    Up to ``in_flight`` rounds at once (PostgreSQL: 4, each on its own connection; SQLite: 1):
    once a round took its rows and sent them, the next commit's round starts without waiting
    for the broker's confirms of the one before (they were the lag's tail under load: seconds
    when the broker is busy). Rows already taken by a round are locked: the next one skips them.

    Between wake-ups it polls (for rows of another process: a command-line tool, a replica
    that stopped): every ``poll_interval_s``, doubling after each empty round up to
    ``idle_poll_max_s`` (2 s) — an idle service is not a transaction every half second."""

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        bus: Bus,
        *,
        batch: int = 500,
        poll_interval_s: float = 0.5,
        idle_poll_max_s: float = 2.0,
        linger_s: float = 0.01,
        service: str = "service",
        rounds_engine: AsyncEngine | None = None,
        in_flight: int = 1,
    ) -> None:
        self.engine = engine
        self.rounds_engine = rounds_engine or engine
        self.table = outbox.table
        self.bus = bus
        self.batch = batch
        self.linger_s = linger_s
        self.published = 0
        self.service = service
        self.poll_interval_s = poll_interval_s
        self.idle_poll_max_s = max(idle_poll_max_s, poll_interval_s)
        self._empty_rounds = 0
        self.in_flight = max(1, in_flight)
        self._rounds: set[asyncio.Task[int]] = set()
        self.loop = Loop(f"{service}-outbox-relay", self._round, every_s=self._next_poll_s)
        outbox._relay = self

    def wake(self) -> None:
        self.loop.wake()

    async def publish_pending(self, taken: Callable[[int], None] | None = None) -> int:
        """One round: publish up to ``batch`` rows and delete them. Returns how many.
        ``taken(n)`` is called once the round holds its ``n`` rows, before their confirms."""
        table = self.table
        oldest = select(table.c.seq).order_by(table.c.seq).limit(self.batch)
        async with self.rounds_engine.begin() as conn:
            if is_postgres(conn):
                oldest = oldest.with_for_update(skip_locked=True)
            take = delete(table).where(table.c.seq.in_(oldest.scalar_subquery())).returning(
                table.c.seq, table.c.message_id, table.c.routing_key, table.c.body,
                table.c.created_at)
            rows = sorted((await conn.execute(take)).all(), key=lambda r: r.seq)
            if taken is not None:
                taken(len(rows))
            if not rows:
                return 0
            await self.bus.publish([Outgoing(r.message_id, r.routing_key, r.body) for r in rows])
        self.published += len(rows)
        metrics.MESSAGES_PUBLISHED.labels(self.service).inc(len(rows))
        self._observe_lag([r.created_at for r in rows])
        return len(rows)

    def _observe_lag(self, created: Sequence[datetime]) -> None:
        """Commit→publish lag of each published row (``created_at`` is when it was written, just
        before its transaction's commit; SQLite gives it naive, in UTC)."""
        now = datetime.now(UTC)
        lag = metrics.OUTBOX_PUBLISH_LAG_SECONDS.labels(self.service)
        for at in created:
            lag.observe(max(0.0, (now - (at if at.tzinfo else at.replace(tzinfo=UTC)))
                            .total_seconds()))

    def _next_poll_s(self) -> float:
        return min(self.idle_poll_max_s, self.poll_interval_s * 2 ** min(self._empty_rounds, 16))

    async def _round(self) -> bool:
        if self.linger_s > 0:
            await asyncio.sleep(self.linger_s)
        if self.in_flight == 1:
            return self._counted(await self.publish_pending()) == self.batch
        while len(self._rounds) >= self.in_flight:  # the oldest rounds' confirms first
            await asyncio.wait(self._rounds, return_when=asyncio.FIRST_COMPLETED)
        holding: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def taken(n: int) -> None:
            if not holding.done():
                holding.set_result(n)

        task = asyncio.create_task(self.publish_pending(taken), name=f"{self.loop.name}-round")
        self._rounds.add(task)
        task.add_done_callback(self._round_ended)
        await asyncio.wait({task, holding}, return_when=asyncio.FIRST_COMPLETED)
        if not holding.done():  # failed before it held its rows: the loop logs and retries
            holding.cancel()
            return self._counted(await task) == self.batch
        return self._counted(holding.result()) == self.batch

    def _counted(self, published: int) -> int:
        self._empty_rounds = 0 if published else self._empty_rounds + 1
        return published

    def _round_ended(self, task: asyncio.Task[int]) -> None:
        """A round running on while the next ones started: its failure (its rows stay in the
        outbox, the next round publishes them again) is logged here."""
        self._rounds.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("%s: a round failed (%s: %s); its messages stay in the outbox",
                        self.loop.name, type(exc).__name__, exc)
            self.loop.wake()

    async def backlog(self) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).select_from(self.table)
            return int((await conn.execute(query)).scalar_one())

    async def _refresh_backlog(self) -> None:
        metrics.OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())

    def start(self) -> None:
        if not self.loop.running:
            metrics.register_refresher(self._refresh_backlog)
        self.loop.start()

    async def stop(self) -> None:
        metrics.unregister_refresher(self._refresh_backlog)
        await self.loop.stop()
        if self._rounds:  # the rounds sent: their confirms are awaited, then committed
            await asyncio.wait(set(self._rounds), timeout=10)
        if self.rounds_engine is not self.engine:
            await self.rounds_engine.dispose()

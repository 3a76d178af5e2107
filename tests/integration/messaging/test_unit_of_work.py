"""The unit of work, the subscription registry and inbox retention on both databases (X3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.port import Outgoing, PermanentError
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import (
    EntitlementChecked,
    ReleaseCheckRequested,
    ReleaseUpToDate,
    SiteConfigured,
)
from lockstep_shared.db import ConcurrentUpdate, DriverChange, DriverQuery, create_engine, reader
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import InboxRetention, inbox_table
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import Outbox, OutboxRelay, outbox_table
from lockstep_shared.unit_of_work import DuplicateEmit, Tx, UnitOfWork

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
factory = MessageFactory("uow-test", clock=lambda: NOW)
metadata = MetaData()
counters = Table("counters", metadata, Column("name", String(50), primary_key=True),
                 Column("value", Integer, nullable=False))
outbox = Outbox(outbox_table(metadata))
inbox = inbox_table(metadata)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = (f"sqlite:///{tmp_path / 'service.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database"))
    engine = create_engine(url, schema="public")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(counters).values(name="n", value=0))
    yield engine
    await engine.dispose()


@pytest.fixture
def uow(engine: AsyncEngine) -> UnitOfWork:
    return UnitOfWork(engine, outbox, factory, inbox=inbox)


def checked(site: str = "site-a") -> ReleaseUpToDate:
    return ReleaseUpToDate(site_id=site, product="shop", installed_version="1.0", checked_at=NOW)


def request(site: str = "site-a") -> Envelope:
    return factory.new(ReleaseCheckRequested(site_id=site, requested_by="test"))


async def bump(tx: Tx) -> None:
    await tx.conn.execute(update(counters).values(value=counters.c.value + 1))


async def value(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(counters.c.value))).scalar_one())


async def outbox_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [r[0] for r in (await conn.execute(
            select(outbox.table.c.message_id).order_by(outbox.table.c.seq))).all()]


async def test_emitted_messages_commit_with_the_state_and_wake_the_relay(
    engine: AsyncEngine, uow: UnitOfWork, tmp_path: Path
) -> None:
    bus = InProcessBus(tmp_path / "bus.db")
    await bus.start()
    relay = OutboxRelay(engine, outbox, bus, poll_interval_s=60)  # only a wake-up runs it soon
    relay.start()
    try:
        await asyncio.sleep(0.05)  # the first round ran and found nothing
        observed: list[Envelope] = []
        uow.observe(observed.extend)
        async with uow.begin(correlation_id="upd-1") as tx:
            await bump(tx)
            (envelope,) = tx.emit(checked())
        assert envelope.correlationid == "upd-1"
        assert tx.emitted == [envelope] == observed
        for _ in range(100):
            if relay.published:
                break
            await asyncio.sleep(0.02)
        assert relay.published == 1, "the commit woke the relay"
        assert await value(engine) == 1
    finally:
        await relay.stop()
        await bus.close()


async def test_a_failed_transaction_emits_nothing_and_runs_no_after_commit(
    engine: AsyncEngine, uow: UnitOfWork
) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError):
        async with uow.begin() as tx:
            await bump(tx)
            tx.emit(checked())
            tx.after_commit(lambda: ran.append("woken"))
            raise RuntimeError("the handler failed")
    assert await outbox_ids(engine) == []
    assert await value(engine) == 0
    assert ran == []


async def test_after_commit_actions_run_in_order_and_a_failing_one_does_not_undo(
    engine: AsyncEngine, uow: UnitOfWork
) -> None:
    ran: list[str] = []

    async def later() -> None:
        ran.append("async")

    def broken() -> None:
        raise RuntimeError("wake-up failed")

    async with uow.begin() as tx:
        await bump(tx)
        tx.after_commit(lambda: ran.append("sync"))
        tx.after_commit(broken)
        tx.after_commit(later)
    assert ran == ["sync", "async"]
    assert await value(engine) == 1


async def test_messages_caused_by_a_message_carry_its_correlation(
    engine: AsyncEngine, uow: UnitOfWork
) -> None:
    cause = request()
    async with uow.begin(cause=cause, consumer="c") as tx:
        (caused,) = tx.emit(checked())
        (other,) = tx.emit(checked(), correlation_id="req-9", causation_id="n-1")
    assert (caused.correlationid, caused.causationid) == (cause.correlationid, cause.id)
    assert (other.correlationid, other.causationid) == ("req-9", "n-1")
    assert await outbox_ids(engine) == [caused.id, other.id]


async def test_a_duplicate_is_known_before_any_effect_and_may_not_emit(
    engine: AsyncEngine, uow: UnitOfWork
) -> None:
    cause = request()
    async with uow.begin(cause=cause, consumer="c") as tx:
        assert not tx.duplicate
        await bump(tx)
    async with uow.begin(cause=cause, consumer="c") as tx:
        assert tx.duplicate
        with pytest.raises(DuplicateEmit):
            tx.emit(checked())
    async with uow.begin(cause=cause, consumer="another consumer") as tx:
        assert not tx.duplicate
    assert await value(engine) == 1


async def test_run_retries_a_lost_race_from_the_start(engine: AsyncEngine,
                                                     uow: UnitOfWork) -> None:
    races = [ConcurrentUpdate("lost"), ConcurrentUpdate("lost again")]

    async def work(tx: Tx) -> str:
        await bump(tx)
        tx.emit(checked())
        if races:
            raise races.pop()
        return "done"

    assert await uow.run(work) == "done"
    assert await value(engine) == 1, "the attempts that lost were rolled back"
    assert len(await outbox_ids(engine)) == 1


async def test_subscriptions_bind_exactly_what_they_handle(uow: UnitOfWork) -> None:
    subs = Subscriptions("watcher", uow)

    @subs.on(SiteConfigured, ReleaseCheckRequested)
    async def handler(tx: Tx, message: object) -> None: ...

    assert sorted(subs.bindings()) == ["lockstep.release.check-requested.*",
                                       "lockstep.site.configured.*"]
    scoped = Subscriptions("agent", uow, site_id="shop-1")
    scoped.add(ReleaseCheckRequested, handler)
    assert scoped.bindings() == ["lockstep.release.check-requested.shop-1"]
    with pytest.raises(ValueError, match="already has a handler"):
        subs.add(SiteConfigured, handler)


async def test_a_message_of_an_unhandled_type_is_dead_lettered(uow: UnitOfWork) -> None:
    subs = Subscriptions("watcher", uow)
    subs.add(ReleaseCheckRequested, lambda tx, m: bump(tx))
    stray = factory.new(EntitlementChecked(site_id="site-a", active=True, checked_at=NOW))
    with pytest.raises(PermanentError, match=r"does not consume lockstep\.release\.entitlement"):
        await subs.handle(stray)


async def test_subscriptions_over_the_bus_apply_each_message_once(
    engine: AsyncEngine, uow: UnitOfWork, tmp_path: Path
) -> None:
    subs = Subscriptions("counter", uow)
    seen: list[str] = []

    @subs.on(ReleaseCheckRequested)
    async def count(tx: Tx, message: ReleaseCheckRequested) -> None:
        await bump(tx)
        assert tx.cause is not None
        tx.after_commit(lambda: seen.append(tx.cause.id))  # type: ignore[union-attr]

    bus = InProcessBus(tmp_path / "bus.db", backoff_base_s=0.01)
    await bus.start()
    try:
        await subs.attach(bus)
        message, other = request(), request()
        await bus.publish([Outgoing.of(message), Outgoing.of(message), Outgoing.of(other)])
        for _ in range(200):
            if await value(engine) == 2 and len(seen) == 2:
                break
            await asyncio.sleep(0.02)
        assert await value(engine) == 2
        assert sorted(seen) == sorted([message.id, other.id]), "after-commit once per message"
    finally:
        await bus.close()


async def inbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbox))).scalar_one())


async def test_inbox_retention_deletes_only_rows_past_the_horizon(engine: AsyncEngine) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    async with engine.begin() as conn:
        await conn.execute(insert(inbox), [
            {"consumer": "c", "message_id": f"old-{i}", "received_at": long_ago}
            for i in range(7)])
        await conn.execute(insert(inbox).values(consumer="c", message_id="fresh"))
    retention = InboxRetention(engine, inbox, horizon_s=7 * 86400,
                               clock=lambda: datetime.now(UTC), batch=5)
    assert await retention.prune() == 5
    assert await retention.prune() == 2
    assert await retention.prune() == 0
    assert await inbox_rows(engine) == 1


# --- deliveries handled in batches (issue 12 §3) ---------------------------------------------


async def test_a_batch_is_one_transaction_its_duplicates_skipped_each_message_its_own_tx(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    sent: list[Envelope] = []
    uow.observe(sent.extend)
    handled_before = request()
    async with uow.begin(cause=handled_before, consumer="counter"):
        ...  # nothing but the inbox row of the message
    first, second = request("site-a"), request("site-b")
    after: list[str] = []
    txids: set[int] = set()

    async def work(tx: Tx) -> None:
        await bump(tx)
        if is_pg(engine):  # one transaction for the whole batch
            txids.add(int((await tx.conn.execute(text("SELECT txid_current()"))).scalar_one()))
        assert tx.cause is not None
        cause_id = tx.cause.id
        tx.emit(checked(tx.cause.siteid or "?"))
        tx.after_commit(lambda: after.append(cause_id))

    await uow.run_batch([(first, work), (handled_before, work), (second, work), (first, work)],
                        consumer="counter")
    assert await value(engine) == 2  # the one handled before, and the repeat, had no effect
    assert after == [first.id, second.id]
    assert [(e.causationid, e.correlationid) for e in sent] == [
        (first.id, first.correlationid), (second.id, second.correlationid)]
    assert len(txids) <= 1
    await uow.run_batch([(first, work), (second, work)], consumer="counter")
    assert await value(engine) == 2, "a redelivered batch has no second effect"


def count_batches(uow: UnitOfWork) -> list[int]:
    """The size of every batch ``uow`` runs from now on, in order."""
    batches: list[int] = []
    real_run_batch = uow.run_batch

    async def counting_run_batch(deliveries: Any, *, consumer: str) -> None:
        batches.append(len(deliveries))
        await real_run_batch(deliveries, consumer=consumer)

    uow.run_batch = counting_run_batch  # type: ignore[method-assign]
    return batches


async def test_a_failing_message_rolls_its_batch_back_and_fails_alone(
        engine: AsyncEngine, uow: UnitOfWork, tmp_path: Path) -> None:
    subs = Subscriptions("counter", uow)
    subs.retry_base_s = 0.01
    batches = count_batches(uow)

    @subs.on(ReleaseCheckRequested)
    async def count(tx: Tx, message: ReleaseCheckRequested) -> None:
        await bump(tx)
        if message.site_id == "poison":
            raise RuntimeError("this message fails on its own")

    good = [request(f"site-{i}") for i in range(5)]
    poison = request("poison")
    results = await asyncio.gather(*(subs.handle(m) for m in [*good[:2], poison, *good[2:]]),
                                   return_exceptions=True)
    assert batches and batches[0] == 6, "the deliveries of one moment form one batch"
    assert [type(r).__name__ for r in results] == ["NoneType"] * 2 + ["RuntimeError"] + [
        "NoneType"] * 3
    assert await value(engine) == 5, "each good message applied once, the failing one not"
    await asyncio.gather(*(subs.handle(m) for m in good))
    assert await value(engine) == 5, "redelivered: no second effect"


async def test_gathered_values_are_written_once_per_key_by_the_first_message_of_a_batch(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    """A site's counter in a batch: every message gathers, ONE flush per key writes it, just
    before the commit, caused by the first message that gathered it; a redelivered batch
    gathers nothing (its messages are duplicates)."""
    sent: list[Envelope] = []
    uow.observe(sent.extend)
    flushes: list[tuple[str | None, list[Any]]] = []

    async def flush(tx: Tx, values: list[Any]) -> None:
        assert tx.cause is not None
        flushes.append((tx.cause.siteid, values))
        await tx.conn.execute(update(counters).values(value=counters.c.value + sum(values)))
        tx.emit(checked(tx.cause.siteid or "?"))

    async def work(tx: Tx) -> None:
        assert tx.cause is not None
        site = tx.cause.siteid or "?"
        tx.gather(("sum", site[-1] in "ab"), len(site), flush)

    batch = [request("site-a"), request("site-b"), request("site-zz"), request("site-a")]
    await uow.run_batch([(m, work) for m in batch], consumer="counter")
    assert flushes == [("site-a", [6, 6, 6]), ("site-zz", [7])]
    assert await value(engine) == 25
    assert [e.causationid for e in sent] == [batch[0].id, batch[2].id]
    await uow.run_batch([(m, work) for m in batch], consumer="counter")
    assert len(flushes) == 2 and await value(engine) == 25, "a redelivered batch: no effect"


async def test_a_failing_flush_commits_nothing_of_its_transaction(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    async def flush(tx: Tx, values: list[Any]) -> None:
        raise RuntimeError("the counter cannot be written")

    async def work(tx: Tx) -> None:
        await bump(tx)
        tx.gather("n", 1, flush)
        tx.emit(checked())

    with pytest.raises(RuntimeError):
        await uow.run(work, cause=request(), consumer="counter")
    assert await value(engine) == 0
    assert await outbox_ids(engine) == []


async def test_a_redelivered_half_applied_batch_applies_each_message_once(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    """A batch rolled back half-way (a crash, a lost connection) left nothing; its redelivery
    — mixed with a message applied alone meanwhile — applies each message exactly once."""
    batch = [request(f"site-{i}") for i in range(4)]
    seen: list[str] = []

    async def crash_on_third(tx: Tx) -> None:
        await bump(tx)
        assert tx.cause is not None
        seen.append(tx.cause.id)
        if len(seen) == 3:
            raise ConnectionResetError("the connection dropped mid-batch")

    with pytest.raises(ConnectionResetError):
        await uow.run_batch([(m, crash_on_third) for m in batch], consumer="counter")
    assert await value(engine) == 0, "nothing of a failed batch is committed"
    await uow.run(bump, cause=batch[1], consumer="counter")
    await uow.run_batch([(m, bump) for m in [*batch, batch[0]]], consumer="counter")
    assert await value(engine) == 4


async def test_a_delivery_is_done_only_once_its_batch_committed(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    """The bus acks a delivery when ``handle`` returns: not before its transaction committed
    (its effect is visible to another connection by then)."""
    subs = Subscriptions("counter", uow)
    proceed = asyncio.Event()
    started = asyncio.Event()

    @subs.on(ReleaseCheckRequested)
    async def count(tx: Tx, message: ReleaseCheckRequested) -> None:
        await bump(tx)
        started.set()
        await proceed.wait()

    handled = [asyncio.create_task(subs.handle(request(f"site-{i}"))) for i in range(3)]
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in handled), "acked before the commit"
    assert await value(reader(engine)) == 0
    proceed.set()
    await asyncio.wait_for(asyncio.gather(*handled), 10)
    assert await value(engine) == 3


async def test_deliveries_trickling_in_during_a_batch_form_the_next_batch(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    """One delivery at a time while a batch is being handled: they wait for it and go in ONE
    next batch, not each in a concurrent transaction of its own."""
    subs = Subscriptions("counter", uow)
    batches = count_batches(uow)
    release = asyncio.Event()

    @subs.on(ReleaseCheckRequested)
    async def count(tx: Tx, message: ReleaseCheckRequested) -> None:
        await bump(tx)
        if message.site_id == "first":
            await release.wait()

    first = asyncio.create_task(subs.handle(request("first")))
    await asyncio.sleep(0.05)
    trickle = []
    for i in range(4):
        trickle.append(asyncio.create_task(subs.handle(request(f"site-{i}"))))
        await asyncio.sleep(0.02)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *trickle), 20)
    assert batches == [4]
    assert await value(engine) == 5


async def test_reads_on_postgresql_run_each_statement_alone(engine: AsyncEngine) -> None:
    """The reader engine of PostgreSQL runs in autocommit: no BEGIN/ROLLBACK round trips (a
    transaction's now() stays the same; each autocommitted statement has its own)."""
    if not is_pg(engine):
        pytest.skip("SQLite readers begin deferred transactions (no write lock)")
    async with reader(engine).connect() as conn:
        first = (await conn.execute(text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.05)
        second = (await conn.execute(text("SELECT now()"))).scalar_one()
    assert second > first
    async with engine.connect() as conn:  # the engine itself still opens a transaction
        first = (await conn.execute(text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.05)
        assert (await conn.execute(text("SELECT now()"))).scalar_one() == first


def is_pg(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def test_a_driver_query_reads_the_same_rows_on_a_reader_and_in_a_transaction(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    query = DriverQuery(select(counters.c.name, counters.c.value)
                        .where(counters.c.name == bindparam("name"),
                               counters.c.value.not_in([1, 2]), counters.c.value != 3))
    async with uow.begin() as tx:
        await tx.conn.execute(insert(counters).values(name="m", value=7))
        # inside the transaction (SQLAlchemy's path): sees its own uncommitted row
        assert [tuple(r) for r in await query.all(tx.conn, name="m")] == [("m", 7)]
    async with reader(engine).connect() as conn:  # PostgreSQL: asyncpg itself
        assert tuple(await query.first(conn, name="m") or ()) == ("m", 7)
        assert await query.first(conn, name="nobody") is None


SET_COUNTER = DriverChange(update(counters).where(counters.c.name == bindparam("key_name"))
                           .values(value=bindparam("new_value")), outbox.table)


async def test_a_one_statement_change_writes_its_outbox_rows_only_when_it_hits_its_row(
        engine: AsyncEngine, uow: UnitOfWork) -> None:
    observed: list[Envelope] = []
    uow.observe(observed.extend)
    assert await uow.change(SET_COUNTER, {"key_name": "n", "new_value": 5},
                            checked("a"), checked("b"), correlation_id="c-1",
                            causation_id="cause-1")
    assert await value(engine) == 5
    assert [e.correlationid for e in observed] == ["c-1", "c-1"]
    assert [e.causationid for e in observed] == ["cause-1", "cause-1"]
    assert await outbox_ids(engine) == [e.id for e in observed], "both rows, in order"
    # no such row: nothing changed, nothing in the outbox, nothing observed
    assert not await uow.change(SET_COUNTER, {"key_name": "nobody", "new_value": 9},
                                checked("c"))
    assert len(observed) == 2 and len(await outbox_ids(engine)) == 2
    # a change that emits nothing
    assert await uow.change(SET_COUNTER, {"key_name": "n", "new_value": 6})
    assert await value(engine) == 6 and len(await outbox_ids(engine)) == 2
    async with engine.connect() as conn:  # what the relay publishes: the envelope itself
        body = (await conn.execute(select(outbox.table.c.body)
                                   .order_by(outbox.table.c.seq))).scalars().first()
    assert Envelope.model_validate_json(body) == observed[0]

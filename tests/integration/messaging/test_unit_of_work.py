"""The unit of work, the subscription registry and inbox retention on both databases (X3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
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
from lockstep_shared.db import ConcurrentUpdate, create_engine
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

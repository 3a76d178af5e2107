"""Outbox relay, inbox dedupe and the unit of work on both databases (X3): never publish before
commit, never lose a committed message, never apply a redelivered one twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from lockstep_shared import metrics
from lockstep_shared.bus import Outgoing
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import ReleaseCheckRequested, binding
from lockstep_shared.db import create_engine
from lockstep_shared.envelope import Envelope
from lockstep_shared.inbox import inbox_table
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import Outbox, OutboxRelay, outbox_table
from lockstep_shared.unit_of_work import Tx, UnitOfWork

pytestmark = pytest.mark.integration

factory = MessageFactory("outbox-test")
metadata = MetaData()
counters = Table("counters", metadata, Column("name", String(50), primary_key=True),
                 Column("value", Integer, nullable=False))
outbox = Outbox(outbox_table(metadata))
inbox = inbox_table(metadata)


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
    else:
        url = request.getfixturevalue("pg_database")
    engine = create_engine(url, schema="public")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(counters).values(name="checks", value=0))
    yield engine
    await engine.dispose()


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[InProcessBus]:
    bus = InProcessBus(tmp_path / "bus.db", backoff_base_s=0.01)
    await bus.start()
    yield bus
    await bus.close()


def request_check() -> Envelope:
    return factory.new(ReleaseCheckRequested(site_id="site-a", requested_by="test"))


async def outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return len((await conn.execute(select(outbox.table.c.seq))).all())


async def test_committed_messages_are_published_and_removed(
    engine: AsyncEngine, bus: InProcessBus
) -> None:
    received: list[str] = []

    async def collect(envelope: Envelope) -> None:
        received.append(envelope.id)

    await bus.subscribe("collector", [binding(ReleaseCheckRequested)], collect)
    messages = [request_check() for _ in range(3)]
    async with engine.begin() as conn:
        await outbox.add(conn, messages)
    relay = OutboxRelay(engine, outbox, bus, batch=2)
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0
    for _ in range(100):
        if len(received) == 3:
            break
        await asyncio.sleep(0.02)
    assert received == [m.id for m in messages]
    assert await outbox_rows(engine) == 0


async def test_the_relay_records_each_messages_commit_to_publish_lag(
    engine: AsyncEngine, bus: InProcessBus
) -> None:
    """``make bench`` reads the lag histogram: one observation per published row, measured from
    the row's transaction (a naive SQLite timestamp is UTC), never negative."""
    service = f"lag-test-{engine.dialect.name}"
    async with engine.begin() as conn:
        await outbox.add(conn, [request_check() for _ in range(3)])
    await asyncio.sleep(0.3)
    relay = OutboxRelay(engine, outbox, bus, service=service)
    assert await relay.publish_pending() == 3
    samples = {s.name: s for s in metrics.OUTBOX_PUBLISH_LAG_SECONDS.collect()[0].samples
               if s.labels["service"] == service}
    count = [s for n, s in samples.items() if n.endswith("_count")]
    total = [s for n, s in samples.items() if n.endswith("_sum")]
    assert count[0].value == 3
    assert 3 * 0.25 <= total[0].value < 3 * 30  # waited 0.3 s, not hours off by a time zone


async def test_a_rolled_back_transaction_publishes_nothing(
    engine: AsyncEngine, bus: InProcessBus
) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await outbox.add(conn, [request_check()])
            raise RuntimeError("handler failed after adding its message")
    assert await OutboxRelay(engine, outbox, bus).publish_pending() == 0


class BrokerDown(Exception):
    pass


class FailingBus(InProcessBus):
    async def publish(self, messages: object) -> None:  # type: ignore[override]
        raise BrokerDown("broker unreachable")


async def test_a_message_survives_a_failed_publish(
    engine: AsyncEngine, bus: InProcessBus, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await outbox.add(conn, [request_check()])
    down = FailingBus(tmp_path / "down.db")
    with pytest.raises(BrokerDown):
        await OutboxRelay(engine, outbox, down).publish_pending()
    assert await outbox_rows(engine) == 1
    assert await OutboxRelay(engine, outbox, bus).publish_pending() == 1


async def increment(tx: Tx, message: object) -> None:
    await tx.conn.execute(
        update(counters).where(counters.c.name == "checks").values(value=counters.c.value + 1)
    )


async def checks(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(counters.c.value))).scalar_one()


def counter_consumer(engine: AsyncEngine, queue: str = "counter") -> Subscriptions:
    subs = Subscriptions(queue, UnitOfWork(engine, outbox, factory, inbox=inbox))
    subs.add(ReleaseCheckRequested, increment)
    return subs


async def test_a_redelivered_message_has_its_effect_once(engine: AsyncEngine) -> None:
    handle = counter_consumer(engine).handle
    message = request_check()
    await handle(message)
    await handle(message)  # redelivery, e.g. the ack was lost
    await asyncio.gather(*(handle(message) for _ in range(5)))  # racing redeliveries
    assert await checks(engine) == 1
    await handle(request_check())
    assert await checks(engine) == 2


async def test_a_failed_effect_leaves_no_inbox_row_so_the_retry_applies_it(
    engine: AsyncEngine,
) -> None:
    failures = [RuntimeError("database hiccup")]

    async def flaky(tx: Tx, message: object) -> None:
        await increment(tx, message)
        if failures:
            raise failures.pop()

    subs = Subscriptions("flaky", UnitOfWork(engine, outbox, factory, inbox=inbox))
    subs.add(ReleaseCheckRequested, flaky)
    handle = subs.handle
    message = request_check()
    with pytest.raises(RuntimeError):
        await handle(message)
    assert await checks(engine) == 0
    await handle(message)
    assert await checks(engine) == 1


async def test_relay_and_inbox_end_to_end_over_the_bus_with_duplicates(
    engine: AsyncEngine, bus: InProcessBus
) -> None:
    """The relay may publish a row twice (crash between confirm and delete); effects stay single."""
    await counter_consumer(engine).attach(bus)
    message = request_check()
    async with engine.begin() as conn:
        await outbox.add(conn, [message])
    await bus.publish([Outgoing.of(message)])  # the copy a crashed relay already sent
    await OutboxRelay(engine, outbox, bus).publish_pending()
    for _ in range(100):
        if await checks(engine) == 1 and not await bus_has_pending(bus):
            break
        await asyncio.sleep(0.02)
    assert await checks(engine) == 1


async def bus_has_pending(bus: InProcessBus) -> bool:
    async with bus.db.execute("SELECT count(*) FROM deliveries WHERE dead = 0") as cursor:
        (count,) = await cursor.fetchone()  # type: ignore[misc]
    return bool(count)


async def test_an_idle_relay_polls_less_often_and_a_message_resets_it(
    engine: AsyncEngine, bus: InProcessBus
) -> None:
    """Between wake-ups the relay polls for rows of other processes: every 0.5 s, doubling
    after each empty round up to 2 s (an idle service is not a transaction every half
    second); a round that published polls at 0.5 s again."""
    relay = OutboxRelay(engine, outbox, bus, poll_interval_s=0.5, linger_s=0)
    waits = []
    for _ in range(4):
        await relay._round()
        waits.append(relay.loop.every_s)
    assert waits == [1.0, 2.0, 2.0, 2.0]
    uow = UnitOfWork(engine, outbox, factory, inbox=inbox)
    async with uow.begin() as tx:
        tx.emit(ReleaseCheckRequested(site_id="site-a", requested_by="test"))
    await relay._round()
    assert relay.loop.every_s == 0.5


async def test_an_outbox_row_is_stamped_when_written_not_when_its_transaction_began(
    engine: AsyncEngine
) -> None:
    """The relay's lag (lockstep_outbox_publish_lag_seconds) is commit→publish: a row's
    ``created_at`` is when the unit of work wrote it, just before the commit — not the start
    of a transaction that took long (PostgreSQL's now())."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stamps whole seconds at the statement anyway")
    from sqlalchemy import func

    uow = UnitOfWork(engine, outbox, factory, inbox=inbox)
    async with uow.begin() as tx:
        began = (await tx.conn.execute(select(func.now()))).scalar_one()
        await asyncio.sleep(0.3)
        tx.emit(ReleaseCheckRequested(site_id="site-a", requested_by="test"))
    async with engine.connect() as conn:
        written = (await conn.execute(select(outbox.table.c.created_at))).scalar_one()
    assert (written - began).total_seconds() >= 0.25

"""A database outage longer than a message's whole delivery budget loses nothing (issue 9 §2):
the consumer holds its deliveries until the database is back, says why on readiness, and the
message is then handled once — never dead-lettered for the infrastructure's fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from tcp_proxy import TcpProxy

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.bus.rabbit import RabbitBus
from lockstep_shared.bus.subscriptions import Subscriptions
from lockstep_shared.catalogue import ReleaseCheckRequested
from lockstep_shared.db import create_engine, is_unavailable
from lockstep_shared.inbox import inbox_table
from lockstep_shared.message_factory import MessageFactory
from lockstep_shared.outbox import Outbox, outbox_table
from lockstep_shared.unit_of_work import Tx, UnitOfWork

pytestmark = pytest.mark.integration

factory = MessageFactory("outage-test")
metadata = MetaData()
counters = Table("counters", metadata, Column("name", String(50), primary_key=True),
                 Column("value", Integer, nullable=False))
outbox = Outbox(outbox_table(metadata))
inbox = inbox_table(metadata)


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    proxy = await TcpProxy("127.0.0.1", 5432).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def engine(pg_database: str, proxy: TcpProxy) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(proxy.url(pg_database), schema="public", pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(insert(counters).values(name="n", value=0))
    yield engine
    await engine.dispose()


async def value(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(counters.c.value))).scalar_one())


async def test_a_database_outage_is_classified_as_unavailable(engine: AsyncEngine,
                                                               proxy: TcpProxy) -> None:
    proxy.cut()
    with pytest.raises(Exception) as raised:
        await value(engine)
    assert is_unavailable(raised.value)
    with pytest.raises(ZeroDivisionError) as bug:
        _ = 1 / 0
    assert not is_unavailable(bug.value)


async def test_an_outage_longer_than_the_delivery_budget_dead_letters_nothing(
    engine: AsyncEngine, proxy: TcpProxy, amqp_url: str, bus_namespace: str
) -> None:
    # 3 deliveries with 10 ms backoff: without holding, the message is dead within ~50 ms.
    bus = RabbitBus(amqp_url, bus_namespace, max_deliveries=3, backoff_base_s=0.01)
    await bus.start()
    subs = Subscriptions("counter", UnitOfWork(engine, outbox, factory, inbox=inbox))
    subs.retry_base_s = 0.05
    subs.retry_cap_s = 0.2

    @subs.on(ReleaseCheckRequested)
    async def count(tx: Tx, message: ReleaseCheckRequested) -> None:
        await tx.conn.execute(update(counters).values(value=counters.c.value + 1))

    try:
        await subs.attach(bus)
        proxy.cut()
        message = factory.new(ReleaseCheckRequested(site_id="site-a", requested_by="t"))
        await bus.publish([Outgoing.of(message)])
        for _ in range(100):
            if subs.problem:
                break
            await asyncio.sleep(0.02)
        assert subs.problem and "database unavailable" in subs.problem
        assert not await subs.ready()
        await asyncio.sleep(2.0)  # ~10 handler attempts: far past the delivery limit of 3
        proxy.restore()
        for _ in range(200):
            if subs.problem is None and await value(engine) == 1:
                break
            await asyncio.sleep(0.05)
        assert await value(engine) == 1
        assert await subs.ready()
        assert await bus.dead_letters("counter") == []
    finally:
        await bus.close()


async def test_a_message_that_fails_on_its_own_still_spends_its_budget(
    engine: AsyncEngine, amqp_url: str, bus_namespace: str
) -> None:
    bus = RabbitBus(amqp_url, bus_namespace, max_deliveries=3, backoff_base_s=0.01)
    await bus.start()
    subs = Subscriptions("broken", UnitOfWork(engine, outbox, factory, inbox=inbox))

    @subs.on(ReleaseCheckRequested)
    async def broken(tx: Tx, message: ReleaseCheckRequested) -> None:
        raise ValueError("a bug in the handler, not an outage")

    try:
        await subs.attach(bus)
        await bus.publish([Outgoing.of(factory.new(
            ReleaseCheckRequested(site_id="site-a", requested_by="t")))])
        for _ in range(200):
            if await bus.dead_letters("broken"):
                break
            await asyncio.sleep(0.05)
        assert len(await bus.dead_letters("broken")) == 1
        assert subs.problem is None
    finally:
        await bus.close()

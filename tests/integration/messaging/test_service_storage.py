"""``service_storage``: the database side every bootstrap sets up the same way. A message
emitted through its unit of work is published by its relay at once (the wake-up is wired, not
the poll), and the SQLite file is the one the service has always used."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData

from lockstep_shared.bus.port import Outgoing
from lockstep_shared.catalogue import ReleaseCheckRequested
from lockstep_shared.inbox import InboxRetention, inbox_table
from lockstep_shared.outbox import OutboxRelay, outbox_table
from lockstep_shared.settings import LockstepSettings
from lockstep_shared.storage import service_storage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class RecordingBus:
    """Only what the relay calls: ``publish``."""

    def __init__(self) -> None:
        self.published: list[Outgoing] = []

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        self.published.extend(messages)


async def test_an_emitted_message_is_published_on_commit_without_waiting_for_the_poll(
        tmp_path: Path) -> None:
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    bus = RecordingBus()
    storage = service_storage(
        LockstepSettings(var_dir=tmp_path), bus,  # type: ignore[arg-type]
        service="release-watcher", schema="release_watcher", database="release_watcher",
        outbox=outbox, inbox=inbox, clock=lambda: T0, ids=lambda: "m1",
        relay_poll_s=3600)  # only the commit's wake-up can publish within the test
    assert (tmp_path / "release_watcher.db").exists() is False  # nothing opened yet
    assert [type(loop) for loop in storage.loops] == [OutboxRelay, InboxRetention]
    async with storage.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    storage.relay.start()
    try:
        for _ in range(100):  # the relay's first round (at start) found nothing
            if storage.relay.loop.rounds:
                break
            await asyncio.sleep(0.01)
        async with storage.uow.begin() as tx:
            tx.emit(ReleaseCheckRequested(site_id="shop-1", requested_by="anna"))
        for _ in range(200):
            if bus.published:
                break
            await asyncio.sleep(0.01)
    finally:
        await storage.relay.stop()
        await storage.engine.dispose()
    [sent] = bus.published
    assert sent.routing_key == "lockstep.release.check-requested.shop-1"
    assert sent.message_id == "m1"
    assert b'"source":"/lockstep/release-watcher"' in sent.body.replace(b" ", b"")
    assert (tmp_path / "release_watcher.db").exists()  # the watcher's file, as before


async def test_the_relay_publishes_while_every_pooled_connection_is_busy(
        tmp_path: Path, pg_database: str) -> None:
    """The relay's rounds have a connection of their own on PostgreSQL: with the service's
    whole pool taken by its requests (as under load), a committed message still goes out at
    once instead of queuing behind them (the commit→publish lag was seconds)."""
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    bus = RecordingBus()
    storage = service_storage(
        LockstepSettings(var_dir=tmp_path, database_url=pg_database), bus,  # type: ignore[arg-type]
        service="release-watcher", schema="public", outbox=outbox, inbox=inbox,
        clock=lambda: T0, ids=lambda: "m1", pool_size=2, max_overflow=0)
    try:
        async with storage.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with storage.uow.begin() as tx:
            tx.emit(ReleaseCheckRequested(site_id="shop-1", requested_by="anna"))
        async with storage.engine.connect() as busy, storage.engine.connect() as busier:
            assert busy is not busier
            assert await asyncio.wait_for(storage.relay.publish_pending(), 5) == 1
    finally:
        await storage.relay.stop()
        await storage.engine.dispose()
    assert [m.message_id for m in bus.published] == ["m1"]


class SlowConfirmsBus(RecordingBus):
    """The broker's confirms of the first publish wait until ``confirm`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.confirm = asyncio.Event()
        self.calls = 0

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        self.calls += 1
        self.published.extend(messages)
        if self.calls == 1:
            await self.confirm.wait()


async def test_a_commit_is_published_while_the_round_before_awaits_its_confirms(
        tmp_path: Path, pg_database: str) -> None:
    """On PostgreSQL the relay's rounds overlap: a message committed while an earlier round
    waits for the broker's confirms goes out at once in a round of its own (the confirms of a
    busy broker were the lag's tail); the first round's rows are published once, and both
    rounds' rows leave the outbox."""
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    bus = SlowConfirmsBus()
    ids = iter(["m1", "m2"])
    storage = service_storage(
        LockstepSettings(var_dir=tmp_path, database_url=pg_database), bus,  # type: ignore[arg-type]
        service="release-watcher", schema="public", outbox=outbox, inbox=inbox,
        clock=lambda: T0, ids=lambda: next(ids), relay_poll_s=3600)
    try:
        async with storage.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        storage.relay.start()
        for message in ("m1", "m2"):
            async with storage.uow.begin() as tx:
                tx.emit(ReleaseCheckRequested(site_id="shop-1", requested_by="anna"))
            for _ in range(300):
                if message in [m.message_id for m in bus.published]:
                    break
                await asyncio.sleep(0.01)
        assert [m.message_id for m in bus.published] == ["m1", "m2"]
        assert not bus.confirm.is_set()
        bus.confirm.set()
        for _ in range(300):
            if await storage.relay.backlog() == 0:
                break
            await asyncio.sleep(0.01)
        assert await storage.relay.backlog() == 0
    finally:
        bus.confirm.set()
        await storage.relay.stop()
        await storage.engine.dispose()
    assert [m.message_id for m in bus.published] == ["m1", "m2"]

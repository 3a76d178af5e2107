"""Single-node: the in-process bus knows which service published each message and refuses a
type from the wrong one, as RabbitMQ's validated user_id does in distributed mode."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from lockstep_shared.bus.identity import PublisherCheck
from lockstep_shared.bus.memory import InProcessBus
from lockstep_shared.bus.port import Outgoing
from lockstep_shared.catalogue import PackageRef, ReleaseDownloaded, binding
from lockstep_shared.envelope import Envelope
from lockstep_shared.message_factory import MessageFactory

pytestmark = pytest.mark.integration


def downloaded() -> Outgoing:
    data = b"attacker's package"
    package = PackageRef(product="shop", version="9.9.9", sha256=hashlib.sha256(data).hexdigest(),
                         size=len(data), url="http://attacker.example/p")
    return Outgoing.of(MessageFactory("x").new(ReleaseDownloaded(
        site_id="site-a", product="shop", version="9.9.9", package=package)))


def refused() -> float:
    return REGISTRY.get_sample_value("lockstep_bus_publisher_refused_total", {
        "queue": "orchestrator", "type": "lockstep.release.downloaded"}) or 0.0


async def test_a_release_downloaded_from_the_gateway_is_dead_lettered_unhandled(
        tmp_path: Path) -> None:
    bus = InProcessBus(tmp_path / "bus.db", "lockstep", publishers=PublisherCheck("lockstep"))
    await bus.start()
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    before = refused()
    try:
        await bus.subscribe("orchestrator", [binding(ReleaseDownloaded)], handle)
        forged, anonymous, genuine = downloaded(), downloaded(), downloaded()
        await bus.as_service("device-gateway").publish([forged])
        await bus.publish([anonymous])  # no service named
        await bus.as_service("release-watcher").publish([genuine])
        for _ in range(100):
            if handled and refused() >= before + 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert [e.id for e in handled] == [genuine.message_id]
        assert refused() == before + 2
        dead = await bus.dead_letters("orchestrator")
        assert sorted(Envelope.from_json(d.body).id for d in dead) == sorted(
            [forged.message_id, anonymous.message_id])
        assert all("may be published only by release-watcher" in d.reason for d in dead)
    finally:
        await bus.close()


async def test_deliveries_queued_by_an_older_version_are_kept_not_refused(tmp_path: Path) -> None:
    """A single-node bus file from before publishers were recorded: what its services had
    queued is delivered after the upgrade, not dead-lettered as from an unknown publisher."""
    import aiosqlite

    path = tmp_path / "bus.db"
    async with aiosqlite.connect(path) as db:  # the schema as the previous version made it
        await db.executescript("""
            CREATE TABLE bindings (queue TEXT NOT NULL, pattern TEXT NOT NULL,
                                   PRIMARY KEY (queue, pattern));
            CREATE TABLE deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
                body BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                available_at REAL NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0,
                reason TEXT);""")
        queued = downloaded()
        await db.execute("INSERT INTO deliveries (queue, body) VALUES ('orchestrator', ?)",
                         (queued.body,))
        await db.commit()
    bus = InProcessBus(path, "lockstep", publishers=PublisherCheck("lockstep"))
    await bus.start()
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    try:
        await bus.subscribe("orchestrator", [binding(ReleaseDownloaded)], handle)
        for _ in range(100):
            if handled:
                break
            await asyncio.sleep(0.05)
        assert [e.id for e in handled] == [queued.message_id]
        assert await bus.dead_letters("orchestrator") == []
    finally:
        await bus.close()

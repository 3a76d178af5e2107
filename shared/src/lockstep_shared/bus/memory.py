"""The in-process bus for single-node mode, with the same guarantees as RabbitMQ (X4).

Queues are durable: bindings and undelivered messages live in a SQLite file, so a message
published (committed) before a crash is delivered after the restart. Routing is the topic
exchange's (``*`` one word, ``#`` zero or more). Each queue has one worker that hands up to
``prefetch`` messages at a time to its handler; a failed delivery is retried with backoff and
dead-lettered after ``max_deliveries``, or at once for a ``PermanentError``.

Each service publishes through its own view, ``bus.as_service(name)``, so every delivery records
the bus user of the service that published it (``identity.bus_user``); with a
``PublisherCheck`` a message of a type its publisher may not send is dead-lettered unhandled,
as on RabbitMQ.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiosqlite

from lockstep_shared import metrics
from lockstep_shared.bus.dead_letters import DELIVERY_LIMIT, REJECTED, dead_letter
from lockstep_shared.bus.identity import PUBLISHER_OF, PublisherCheck, bus_user
from lockstep_shared.bus.port import Bus, DeadLetter, Handler, Outgoing, PermanentError
from lockstep_shared.bus.retry import DEFAULT_MAX_DELIVERIES, backoff_s
from lockstep_shared.catalogue import Service
from lockstep_shared.envelope import Envelope, InvalidEnvelope
from lockstep_shared.logs import envelope_context

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bindings (queue TEXT NOT NULL, pattern TEXT NOT NULL,
                                     PRIMARY KEY (queue, pattern));
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    publisher TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (queue, dead, available_at, seq);
"""


class TopicPattern:
    """AMQP topic matching: words split by '.', '*' = exactly one word, '#' = zero or more."""

    __slots__ = ("pattern", "words")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.words = tuple(pattern.split("."))

    def match(self, routing_key: str) -> bool:
        return _match(self.words, tuple(routing_key.split(".")))


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], key: tuple[str, ...]) -> bool:
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return (head == "*" or head == key[0]) and _match(rest, key[1:])


class InProcessBus:
    def __init__(
        self,
        path: Path | str,
        namespace: str = "lockstep",
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        backoff_base_s: float = 0.05,
        publishers: PublisherCheck | None = None,
    ) -> None:
        self.path = str(path)
        self.publishers = publishers
        self.namespace = namespace
        self.max_deliveries = max_deliveries
        self.backoff_base_s = backoff_base_s
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._bindings: dict[str, list[tuple[str, TopicPattern]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._broadcast: list[tuple[list[TopicPattern], Handler]] = []
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._db is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, isolation_level=None)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.executescript(_SCHEMA)
        async with self._db.execute("PRAGMA table_info(deliveries)") as cursor:
            columns = {row[1] for row in await cursor.fetchall()}
        if "publisher" not in columns:  # a bus file from before publishers were recorded
            await self._db.execute("ALTER TABLE deliveries ADD COLUMN publisher TEXT")
            await self._adopt_unrecorded_publishers()
        async with self._db.execute("SELECT queue, pattern FROM bindings") as cursor:
            async for queue, pattern in cursor:
                self._bindings.setdefault(queue, []).append((pattern, TopicPattern(pattern)))

    async def _adopt_unrecorded_publishers(self) -> None:
        """Deliveries queued before publishers were recorded came from this node's own
        services: they are kept as published by their type's publisher, not dead-lettered."""
        async with self.db.execute("SELECT seq, body FROM deliveries WHERE dead = 0") as cursor:
            rows = list(await cursor.fetchall())
        for seq, body in rows:
            try:
                head = json.loads(body)
                user = bus_user(PUBLISHER_OF[head["type"]], self.namespace, head["siteid"])
            except (ValueError, KeyError, TypeError):
                continue  # not a valid envelope: it is dead-lettered when delivered anyway
            await self.db.execute("UPDATE deliveries SET publisher = ? WHERE seq = ?",
                                  (user, seq))

    async def close(self) -> None:
        tasks = [*self._workers.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the bus is not started")
        return self._db

    async def ready(self) -> bool:
        async with self._lock:
            await self.db.execute("SELECT 1")
        return True

    # --- publishing -------------------------------------------------------------------------

    def _queues_for(self, routing_key: str) -> list[str]:
        return [
            queue
            for queue, patterns in self._bindings.items()
            if any(regex.match(routing_key) for _, regex in patterns)
        ]

    def as_service(self, service: Service) -> Bus:
        """This bus as ``service`` uses it: what it publishes is recorded as published by it."""
        return ServiceBus(self, service)

    def _user(self, publisher: Service | None, routing_key: str) -> str | None:
        if publisher is None:
            return None
        return bus_user(publisher, self.namespace, routing_key.rsplit(".", 1)[-1])

    async def publish(
        self, messages: Sequence[Outgoing], *, publisher: Service | None = None
    ) -> None:
        rows = [
            (queue, message.body, self._user(publisher, message.routing_key))
            for message in messages
            for queue in self._queues_for(message.routing_key)
        ]
        if rows:
            async with self._lock:
                await self.db.execute("BEGIN IMMEDIATE")
                try:
                    await self.db.executemany(
                        "INSERT INTO deliveries (queue, body, publisher) VALUES (?, ?, ?)", rows
                    )
                    await self.db.execute("COMMIT")
                except BaseException:
                    await self.db.execute("ROLLBACK")
                    raise
            for queue in {queue for queue, _, _ in rows}:
                wake = self._wake.get(queue)  # a durable queue may have no consumer yet
                if wake is not None:
                    wake.set()
        for message in messages:
            for patterns, handler in self._broadcast:
                if any(p.match(message.routing_key) for p in patterns):
                    user = self._user(publisher, message.routing_key)
                    self._spawn(self._deliver_broadcast(handler, message.body, user))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_broadcast(self, handler: Handler, body: bytes, user: str | None) -> None:
        try:
            envelope = Envelope.from_json(body)
            if self.publishers is not None and self.publishers.refused(
                    "broadcast", envelope, user):
                return
            await handler(envelope)
        except Exception:
            log.exception("broadcast handler failed (wake-ups are best effort)")

    # --- consuming --------------------------------------------------------------------------

    async def subscribe(
        self,
        queue: str,
        bindings: Sequence[str],
        handler: Handler,
        *,
        prefetch: int = 100,
    ) -> None:
        if queue in self._workers:
            raise ValueError(f"queue {queue!r} already has a consumer in this process")
        async with self._lock:
            await self.db.executemany(
                "INSERT OR IGNORE INTO bindings (queue, pattern) VALUES (?, ?)",
                [(queue, pattern) for pattern in bindings],
            )
        known = {p for p, _ in self._bindings.get(queue, [])}
        self._bindings.setdefault(queue, []).extend(
            (p, TopicPattern(p)) for p in bindings if p not in known
        )
        self._wake[queue] = asyncio.Event()
        self._wake[queue].set()
        self._workers[queue] = asyncio.create_task(
            self._work(queue, handler, prefetch), name=f"bus-queue-{queue}"
        )

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None:
        self._broadcast.append(([TopicPattern(p) for p in bindings], handler))

    async def _work(self, queue: str, handler: Handler, prefetch: int) -> None:
        wake = self._wake[queue]
        in_flight: set[int] = set()
        slots = asyncio.Semaphore(prefetch)
        while True:
            wake.clear()
            now = time.time()
            async with self._lock:
                async with self.db.execute(
                    "SELECT seq, body, attempts, available_at, publisher FROM deliveries "
                    "WHERE queue = ? AND dead = 0 ORDER BY seq LIMIT ?",
                    (queue, prefetch + len(in_flight)),
                ) as cursor:
                    rows = list(await cursor.fetchall())
            next_due: float | None = None
            for seq, body, attempts, available_at, user in rows:
                if seq in in_flight:
                    continue
                if available_at > now:
                    next_due = available_at if next_due is None else min(next_due, available_at)
                    continue
                await slots.acquire()
                in_flight.add(seq)
                self._spawn(self._deliver(queue, handler, seq, body, user, attempts, in_flight,
                                          slots))
            timeout = None if next_due is None else max(0.0, next_due - now)
            if len(rows) >= prefetch and next_due is None:
                timeout = 0.05
            try:
                await asyncio.wait_for(wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _deliver(
        self,
        queue: str,
        handler: Handler,
        seq: int,
        body: bytes,
        user: str | None,
        attempts: int,
        in_flight: set[int],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            try:
                envelope = Envelope.from_json(body)
                if self.publishers is not None and self.publishers.refused(queue, envelope, user):
                    metrics.DEAD_LETTERED.labels(queue).inc()
                    reason = self.publishers.refusal(envelope, user)
                    await self._settle(seq, dead=True, reason=reason)
                    return
                with envelope_context(envelope):
                    await handler(envelope)
            except (PermanentError, InvalidEnvelope) as exc:
                log.error("dead-lettering message on %s: %s", queue, exc)
                metrics.DEAD_LETTERED.labels(queue).inc()
                await self._settle(seq, dead=True, reason=f"{REJECTED}: {exc}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempts += 1
                if attempts >= self.max_deliveries:
                    log.error("dead-lettering message on %s after %d deliveries: %s",
                              queue, attempts, exc)
                    metrics.DEAD_LETTERED.labels(queue).inc()
                    await self._settle(seq, dead=True, reason=f"{DELIVERY_LIMIT}: "
                                       f"{type(exc).__name__}: {exc}")
                else:
                    log.warning("handler on %s failed (delivery %d), retrying: %s",
                                queue, attempts, exc)
                    metrics.REDELIVERIES.labels(queue).inc()
                    due = time.time() + backoff_s(attempts, base=self.backoff_base_s)
                    async with self._lock:
                        await self.db.execute(
                            "UPDATE deliveries SET attempts = ?, available_at = ? WHERE seq = ?",
                            (attempts, due, seq),
                        )
            else:
                await self._settle(seq)
                metrics.MESSAGES_HANDLED.labels(queue).inc()
        finally:
            in_flight.discard(seq)
            slots.release()
            wake = self._wake.get(queue)
            if wake is not None:
                wake.set()

    async def _settle(self, seq: int, *, dead: bool = False, reason: str | None = None) -> None:
        async with self._lock:
            if dead:
                await self.db.execute(  # available_at: when it died (never scheduled again)
                    "UPDATE deliveries SET dead = 1, reason = ?, available_at = ? WHERE seq = ?",
                    (reason, time.time(), seq),
                )
            else:
                await self.db.execute("DELETE FROM deliveries WHERE seq = ?", (seq,))

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        return [letter for _, letter in await self._dead(queue)]

    async def _dead(self, queue: str) -> list[tuple[int, DeadLetter]]:
        async with self._lock:
            async with self.db.execute(
                "SELECT seq, body, reason, available_at FROM deliveries "
                "WHERE queue = ? AND dead = 1 ORDER BY seq",
                (queue,),
            ) as cursor:
                rows = await cursor.fetchall()
        return [(seq, dead_letter(queue, bytes(body), reason or "", fallback_id=f"in-process-{seq}",
                                  died_at=datetime.fromtimestamp(died, UTC) if died else None))
                for seq, body, reason, died in rows]

    async def replay_dead_letter(self, queue: str, message_id: str) -> bool:
        seqs = [seq for seq, letter in await self._dead(queue) if letter.message_id == message_id]
        if not seqs:
            return False
        async with self._lock:
            await self.db.executemany(
                "UPDATE deliveries SET dead = 0, attempts = 0, available_at = 0, reason = NULL "
                "WHERE seq = ? AND dead = 1", [(seq,) for seq in seqs])
        wake = self._wake.get(queue)
        if wake is not None:
            wake.set()
        log.warning("dead letter %s replayed to %s", message_id, queue)
        return True


class ServiceBus:
    """One service's view of the shared in-process bus: it publishes as that service."""

    def __init__(self, bus: InProcessBus, service: Service) -> None:
        self.bus = bus
        self.service = service

    async def start(self) -> None:
        await self.bus.start()

    async def close(self) -> None:
        await self.bus.close()

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        await self.bus.publish(messages, publisher=self.service)

    async def subscribe(
        self, queue: str, bindings: Sequence[str], handler: Handler, *, prefetch: int = 100
    ) -> None:
        await self.bus.subscribe(queue, bindings, handler, prefetch=prefetch)

    async def subscribe_broadcast(self, bindings: Sequence[str], handler: Handler) -> None:
        await self.bus.subscribe_broadcast(bindings, handler)

    async def dead_letters(self, queue: str) -> list[DeadLetter]:
        return await self.bus.dead_letters(queue)

    async def replay_dead_letter(self, queue: str, message_id: str) -> bool:
        return await self.bus.replay_dead_letter(queue, message_id)

    async def ready(self) -> bool:
        return await self.bus.ready()

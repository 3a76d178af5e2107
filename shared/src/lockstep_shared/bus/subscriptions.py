"""One registry of what a service consumes (X3): handlers by message type, bindings derived.

    subs = Subscriptions("orchestrator", uow)

    @subs.on(DeviceBlocked)
    async def on_blocked(tx: Tx, event: DeviceBlocked) -> None: ...

    await subs.attach(bus, prefetch=100)

Each handler runs in a consumer's unit of work (inbox row, effects and emitted messages in one
transaction; a duplicate is skipped; a lost optimistic race runs it again). The queue is bound to
exactly the registered types (for one site when ``site_id`` is given: S3), so a handled type is
always bound and a bound type always handled; a message of any other type is dead-lettered.

While the database cannot be reached (``db.is_unavailable``), a delivery is held, not failed:
its handler is tried again with backoff for as long as the outage lasts, so an outage never
spends a message's delivery budget and never dead-letters it; the held deliveries fill the
prefetch window, so the consumer takes no new messages meanwhile, and ``problem`` says why for
``/readyz``. The delivery limit is for messages that fail on their own.

Deliveries arriving together are handled together (up to ``batch_max``, 25): the bus hands
each delivery to ``handle`` concurrently (up to the prefetch), the deliveries of one moment —
and those arriving while the batch before is being committed — go into ONE transaction
(``UnitOfWork.run_batch``: one inbox insert, each handler in delivery order, one commit), and
each ``handle`` returns (the bus acks) only once that transaction committed. Up to
``batches_at_once`` (4) batches run at once, each on its own connection, when more deliveries
wait than the running batches take next: a batch's statements are round trips one after the
other, and a busy database must not make them the only ones.
If anything in a batch fails, nothing of it is committed and its messages are handled again
one by one, each in its own unit of work as above: a message failing on its own fails alone,
and an outage holds them as it holds one.

``on_broadcast`` handlers get every process's own copy of a message, outside any transaction:
for wake-ups only (port.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lockstep_shared import metrics
from lockstep_shared.bus.port import Bus, PermanentError
from lockstep_shared.db import is_unavailable
from lockstep_shared.envelope import Envelope
from lockstep_shared.logs import envelope_context
from lockstep_shared.unit_of_work import Tx, UnitOfWork, Work

log = logging.getLogger(__name__)

M = TypeVar("M")
MessageHandler = Callable[[Tx, Any], Awaitable[None]]
BroadcastHandler = Callable[[Envelope], Awaitable[None]]


class Subscriptions:
    def __init__(self, queue: str, uow: UnitOfWork, *, site_id: str | None = None) -> None:
        self.queue = queue
        self.uow = uow
        self.site_id = site_id
        self._handlers: dict[str, MessageHandler] = {}
        self._broadcast: dict[str, BroadcastHandler] = {}
        self.unavailable_since: float | None = None
        self.problem: str | None = None
        self.retry_base_s = 0.5
        self.retry_cap_s = 5.0
        self.batch_max = 25
        self.batches_at_once = 4
        self._waiting: list[_Delivery] = []
        self._batchers: set[asyncio.Task[None]] = set()

    def on(self, *types: type[Any]) -> Callable[[MessageHandler], MessageHandler]:
        """Register ``handler(tx, message)`` for these message types (one handler a type)."""

        def register(handler: MessageHandler) -> MessageHandler:
            for message_type in types:
                self.add(message_type, handler)
            return handler

        return register

    def add(self, message_type: type[Any], handler: MessageHandler) -> None:
        name = _type_name(message_type)
        if name in self._handlers:
            raise ValueError(f"{self.queue}: {name} already has a handler")
        self._handlers[name] = handler

    def on_broadcast(self, *types: type[Any]) -> Callable[[BroadcastHandler], BroadcastHandler]:
        def register(handler: BroadcastHandler) -> BroadcastHandler:
            for message_type in types:
                self._broadcast[_type_name(message_type)] = handler
            return handler

        return register

    @property
    def types(self) -> list[str]:
        return list(self._handlers)

    def bindings(self) -> list[str]:
        return [f"{name}.{self.site_id or '*'}" for name in self._handlers]

    async def handle(self, envelope: Envelope) -> None:
        """Handle one delivery: the bus acks when this returns, retries when it raises."""
        handler = self._handlers.get(envelope.type)
        if handler is None:
            raise PermanentError(f"{self.queue} does not consume {envelope.type}")
        work = _work(handler, envelope)
        if self.batch_max <= 1:
            await self._handle_alone(envelope, work)
            return
        delivery = _Delivery(envelope, work, asyncio.get_running_loop().create_future())
        self._waiting.append(delivery)
        running = len(self._batchers)
        if running == 0 or (running < self.batches_at_once
                            and len(self._waiting) > running * self.batch_max):
            batcher = asyncio.create_task(self._batches(), name=f"{self.queue}-batches")
            self._batchers.add(batcher)
        await asyncio.shield(delivery.done)

    async def _batches(self) -> None:
        """Handle the waiting deliveries in batches until none wait. Another batcher starts
        only when more wait than the running ones take next: deliveries trickling in join
        the next batch of the running one (arriving while it commits) instead of each
        becoming a transaction of its own."""
        try:
            while self._waiting:
                await asyncio.sleep(0)  # the deliveries of this moment join the batch
                batch = self._waiting[:self.batch_max]
                del self._waiting[:self.batch_max]
                try:
                    await self._handle_batch(batch)
                finally:
                    for delivery in batch:  # cancelled midway: redelivered (inbox dedupes)
                        if not delivery.done.done():
                            delivery.done.cancel()
        finally:  # at once, not in a done callback: a delivery arriving now starts another
            task = asyncio.current_task()
            if task is not None:
                self._batchers.discard(task)

    async def _handle_batch(self, batch: list[_Delivery]) -> None:
        if len(batch) > 1:
            try:
                await self.uow.run_batch([(d.envelope, d.work) for d in batch],
                                         consumer=self.queue)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("%s: a batch of %d failed (%s: %s); handling them one by one",
                          self.queue, len(batch), type(exc).__name__, exc)
            else:
                self._available()
                for delivery in batch:
                    delivery.done.set_result(None)
                return
        for delivery in batch:
            try:
                await self._handle_alone(delivery.envelope, delivery.work)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delivery.done.set_exception(exc)
            else:
                delivery.done.set_result(None)

    async def _handle_alone(self, envelope: Envelope, work: Work) -> None:
        """One delivery in its own unit of work: a lost race runs it again, an outage holds
        it until the database is back."""
        waits = 0
        while True:
            try:
                await self.uow.run(work, cause=envelope, consumer=self.queue)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                waits += 1
                self._unavailable(exc)
                await asyncio.sleep(min(self.retry_cap_s, self.retry_base_s * 2 ** (waits - 1)))
                continue
            self._available()
            return

    def _unavailable(self, exc: BaseException) -> None:
        if self.unavailable_since is None:
            self.unavailable_since = time.monotonic()
            log.warning("%s: the database is unavailable (%s: %s); holding deliveries until it "
                        "is back", self.queue, type(exc).__name__, exc)
            metrics.CONSUMER_HELD.labels(self.queue).set(1)
        self.problem = f"database unavailable: {type(exc).__name__}: {exc}"[:300]

    def _available(self) -> None:
        if self.unavailable_since is not None:
            log.warning("%s: the database is back after %.1f s; deliveries resume", self.queue,
                        time.monotonic() - self.unavailable_since)
            metrics.CONSUMER_HELD.labels(self.queue).set(0)
        self.unavailable_since = None
        self.problem = None

    async def ready(self) -> bool:
        """False while deliveries are held for a database outage (``problem`` says why)."""
        return self.problem is None

    async def _handle_broadcast(self, envelope: Envelope) -> None:
        handler = self._broadcast.get(envelope.type)
        if handler is not None:
            await handler(envelope)

    async def attach(self, bus: Bus, *, prefetch: int = 100) -> None:
        if self._handlers:
            await bus.subscribe(self.queue, self.bindings(), self.handle, prefetch=prefetch)
        if self._broadcast:
            await bus.subscribe_broadcast(
                [f"{name}.{self.site_id or '*'}" for name in self._broadcast],
                self._handle_broadcast)


@dataclass(slots=True)
class _Delivery:
    envelope: Envelope
    work: Work
    done: asyncio.Future[None]


def _work(handler: MessageHandler, envelope: Envelope) -> Work:
    data = envelope.data

    async def work(tx: Tx) -> None:
        with envelope_context(envelope):  # in a batch too, its log lines name its message
            await handler(tx, data)

    return work


def _type_name(message_type: type[Any]) -> str:
    return str(message_type.model_fields["type"].default)


def handled_types(subscriptions: Sequence[Subscriptions]) -> set[str]:
    return {name for s in subscriptions for name in s.types}
